using Hcs.Linux.Rootfs;

namespace Hcs.Tests.Unit.Planning;

/// <summary>The real IHostView over a mountinfo file written by the test: what a "cgroup" mount
/// must reproduce on v1, v2 and hybrid hosts, and which mount holds a path.</summary>
public sealed class HostViewTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("hcs-hostview-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string MountInfo(string text)
    {
        var path = Path.Combine(_dir.FullName, "mountinfo");
        File.WriteAllText(path, text);
        return path;
    }

    private const string V1 = """
        22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
        25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
        27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
        28 25 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
        29 25 0:26 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset,clone_children,noprefix
        30 25 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
        31 25 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:15 - cgroup2 cgroup2 rw,nsdelegate
        40 22 0:40 / /run/a\040b rw - tmpfs tmpfs rw
        41 22 0:41 / /var/lib/data rw shared:30 master:2 - xfs /dev/sdb rw
        """;

    [Fact]
    public void V1_host_one_entry_per_used_hierarchy_with_its_controllers()
    {
        var host = new HostView(new Dictionary<string, string>
        {
            ["cpu"] = "/sys/fs/cgroup/cpu,cpuacct/hcs/c",
            ["cpuacct"] = "/sys/fs/cgroup/cpu,cpuacct/hcs/c",
            ["memory"] = "/sys/fs/cgroup/memory/hcs/c",
            ["cpuset"] = "/sys/fs/cgroup/cpuset/hcs/c",
        }, MountInfo(V1));
        var view = host.Cgroups();
        Assert.Equal(
        [
            new CgroupHierarchyMount("cpu,cpuacct", "cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/hcs/c"),
            new CgroupHierarchyMount("memory", "memory", "/sys/fs/cgroup/memory/hcs/c"),
            new CgroupHierarchyMount("cpuset", "cpuset", "/sys/fs/cgroup/cpuset/hcs/c"),
        ], view.V1);
        Assert.Null(view.Unified); // no v2 directory for this container
    }

    [Fact]
    public void Hybrid_host_adds_the_containers_v2_directory()
    {
        var host = new HostView(new Dictionary<string, string>
        {
            ["memory"] = "/sys/fs/cgroup/memory/hcs/c",
            ["name=systemd"] = "/sys/fs/cgroup/systemd/hcs/c",
            [""] = "/sys/fs/cgroup/unified/hcs/c",
        }, MountInfo(V1));
        var view = host.Cgroups();
        Assert.Equal("/sys/fs/cgroup/unified/hcs/c", view.Unified);
        Assert.Equal(["systemd", "memory"], view.V1.Select(h => h.Name));
        Assert.Equal("name=systemd", view.V1[0].Options); // xattr and release_agent are not hierarchy options
    }

    [Fact]
    public void V2_host_has_only_the_unified_directory()
    {
        var host = new HostView(new Dictionary<string, string> { [""] = "/sys/fs/cgroup/hcs/c" }, MountInfo("""
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
            """));
        var view = host.Cgroups();
        Assert.Empty(view.V1);
        Assert.Equal("/sys/fs/cgroup/hcs/c", view.Unified);
    }

    [Theory]
    [InlineData("/var/lib/data/x/y", "/var/lib/data")]
    [InlineData("/var/lib/data", "/var/lib/data")]
    [InlineData("/var/lib/database", "/")]
    [InlineData("/run/a b/c", "/run/a b")]
    [InlineData("/sys/fs/cgroup/memory/hcs", "/sys/fs/cgroup/memory")]
    [InlineData("/etc", "/")]
    public void MountPointOf_finds_the_longest_mount_holding_a_path(string path, string mount)
    {
        var host = new HostView(new Dictionary<string, string>(), MountInfo(V1));
        Assert.Equal(mount, host.MountPointOf(path));
    }

    [Fact]
    public void Mountinfo_lines_are_split_and_unescaped()
    {
        var lines = MountInfoLine.ReadAll(MountInfo(V1 + "\nnot a mountinfo line\n"));
        Assert.Equal(10, lines.Count);
        Assert.Equal(new MountInfoLine("/", "/run/a b", "tmpfs", "tmpfs", "rw"), lines[8]);
        Assert.Equal(new MountInfoLine("/", "/var/lib/data", "xfs", "/dev/sdb", "rw"), lines[9]); // two optional fields
    }

    [Theory]
    [InlineData(@"plain", "plain")]
    [InlineData(@"a\040b", "a b")]
    [InlineData(@"tab\011x", "tab\tx")]
    [InlineData(@"nl\012", "nl\n")]
    [InlineData(@"back\134slash", @"back\slash")]
    [InlineData(@"\040\040", "  ")]
    [InlineData(@"bad\09x", @"bad\09x")]
    [InlineData(@"short\04", @"short\04")]
    public void Unescape_octal(string raw, string expected) => Assert.Equal(expected, MountInfoLine.Unescape(raw));

    [Fact]
    public void Kind_follows_symlinks()
    {
        var dir = Path.Combine(_dir.FullName, "d");
        var file = Path.Combine(_dir.FullName, "f");
        Directory.CreateDirectory(dir);
        File.WriteAllText(file, "x");
        File.CreateSymbolicLink(Path.Combine(_dir.FullName, "ld"), dir);
        File.CreateSymbolicLink(Path.Combine(_dir.FullName, "lf"), file);
        File.CreateSymbolicLink(Path.Combine(_dir.FullName, "dangling"), Path.Combine(_dir.FullName, "nothing"));
        var host = new HostView(new Dictionary<string, string>(), MountInfo(V1));
        Assert.Equal(HostPathKind.Directory, host.Kind(dir));
        Assert.Equal(HostPathKind.File, host.Kind(file));
        Assert.Equal(HostPathKind.Directory, host.Kind(Path.Combine(_dir.FullName, "ld")));
        Assert.Equal(HostPathKind.File, host.Kind(Path.Combine(_dir.FullName, "lf")));
        Assert.Equal(HostPathKind.Missing, host.Kind(Path.Combine(_dir.FullName, "nothing")));
        Assert.Equal(HostPathKind.File, host.Kind("/dev/null")); // a device node binds like a file
        // stat, not lstat: a symlink to nothing is a missing bind source, reported by the planner
        // with its path instead of failing later in the child
        Assert.Equal(HostPathKind.Missing, host.Kind(Path.Combine(_dir.FullName, "dangling")));
    }
}
