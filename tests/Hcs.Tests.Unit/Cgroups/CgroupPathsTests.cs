using Hcs.Linux.Cgroups;

namespace Hcs.Tests.Unit.Cgroups;

public sealed class CgroupPathsTests
{
    [Theory]
    [InlineData(null, "/ctr")]
    [InlineData("", "/ctr")]
    [InlineData("/machine/ctr1", "/machine/ctr1")]
    [InlineData("//machine///./ctr1/", "/machine/ctr1")]
    [InlineData("pods/ctr1", "pods/ctr1")]
    [InlineData("./pods//ctr1", "pods/ctr1")]
    [InlineData("/a:b:c", "/a:b:c")] // colons are just characters for the cgroupfs driver
    public void Cgroupfs_paths_resolve_like_runc(string? cgroupsPath, string expected) =>
        Assert.Equal(expected, CgroupPaths.Resolve(cgroupsPath, "ctr"));

    [Theory]
    [InlineData("/a/../b")]
    [InlineData("..")]
    [InlineData("a/..")]
    [InlineData("/")]
    [InlineData("/./")]
    [InlineData(".")]
    [InlineData("/a\0b")]
    public void Invalid_paths_are_refused_naming_the_field(string cgroupsPath)
    {
        var e = Assert.Throws<CgroupException>(() => CgroupPaths.Resolve(cgroupsPath, "ctr"));
        Assert.Contains("linux.cgroupsPath", e.Message);
    }

    [Fact]
    public void Container_id_with_dotdot_is_refused_too()
    {
        var e = Assert.Throws<CgroupException>(() => CgroupPaths.Resolve(null, ".."));
        Assert.Contains("linux.cgroupsPath", e.Message);
    }

    [Theory]
    [InlineData("system.slice:docker:abc", "/system.slice/docker-abc.scope")]
    [InlineData(":runhcs:abc", "/system.slice/runhcs-abc.scope")]
    [InlineData("a-b-c.slice:crio:x1", "/a.slice/a-b.slice/a-b-c.slice/crio-x1.scope")]
    [InlineData("-.slice:p:n", "/p-n.scope")]
    [InlineData("user.slice::n", "/user.slice/n.scope")]
    [InlineData("kubepods.slice:cri:kubepods-pod1.slice", "/kubepods.slice/kubepods-pod1.slice")]
    public void Systemd_style_maps_to_the_unit_path(string cgroupsPath, string expected) =>
        Assert.Equal(expected, CgroupPaths.Resolve(cgroupsPath, "ctr", systemdStyle: true));

    [Fact]
    public void Systemd_style_default_is_a_scope_in_system_slice() =>
        Assert.Equal("/system.slice/runhcs-ctr.scope", CgroupPaths.Resolve(null, "ctr", systemdStyle: true));

    [Theory]
    [InlineData("/a/b")]             // not slice:prefix:name
    [InlineData("a:b")]
    [InlineData("a:b:c:d")]
    [InlineData("nope:p:n")]         // slice must end with .slice
    [InlineData("a--b.slice:p:n")]   // empty part
    [InlineData("-a.slice:p:n")]
    [InlineData("a/b.slice:p:n")]
    [InlineData("system.slice:p:")]  // empty name
    [InlineData("system.slice:p:..")]
    [InlineData("system.slice:p:a/b")]
    [InlineData("system.slice:x/y:n")]
    public void Invalid_systemd_paths_are_refused(string cgroupsPath)
    {
        var e = Assert.Throws<CgroupException>(() => CgroupPaths.Resolve(cgroupsPath, "ctr", systemdStyle: true));
        Assert.Contains("linux.cgroupsPath", e.Message);
    }

    [Theory]
    [InlineData("system.slice", "/system.slice")]
    [InlineData("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice")]
    [InlineData("-.slice", "/")]
    public void Slices_expand_to_their_nesting(string slice, string expected) =>
        Assert.Equal(expected, CgroupPaths.ExpandSlice(slice));
}
