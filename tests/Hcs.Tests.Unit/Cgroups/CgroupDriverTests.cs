using Hcs.Linux.Cgroups;

namespace Hcs.Tests.Unit.Cgroups;

public sealed class CgroupDriverTests : IDisposable
{
    private readonly CgroupTree _t = new();

    public void Dispose() => _t.Dispose();

    [Fact]
    public void Hybrid_host_uses_v1_controllers_and_the_v2_only_ones()
    {
        _t.File("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
        var d = _t.Driver(CgroupTree.HybridMountInfo, CgroupTree.HybridSelfCgroup);

        Assert.Equal(CgroupMode.Hybrid, d.Mode);
        Assert.Equal(["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb"],
            d.Controllers.OrderBy(c => c switch
            {
                "cpu" => 0, "cpuacct" => 1, "cpuset" => 2, "memory" => 3, "devices" => 4,
                "freezer" => 5, "blkio" => 6, "pids" => 7, _ => 8,
            }));
        Assert.Equal(["hugetlb"], d.UnifiedControllers);
        Assert.Equal(_t.Path("sys/fs/cgroup/unified"), d.UnifiedMountPoint);
        Assert.DoesNotContain(d.V1Hierarchies, h => h.Controllers.Any(c => c.Contains("systemd")));

        var cg = Assert.IsType<CgroupHybrid>(d.Open("/hcs/ctr1", "ctr1"));
        Assert.Equal(_t.Path("sys/fs/cgroup/memory/hcs/ctr1"), cg.Paths["memory"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/cpuacct/hcs/ctr1"), cg.Paths["cpuacct"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/unified/hcs/ctr1"), cg.Paths[""]);
        Assert.Equal(9, cg.Paths.Count); // 8 v1 controllers + the v2 directory; no name=systemd
    }

    [Fact]
    public void Relative_paths_are_under_our_own_cgroup_in_each_hierarchy()
    {
        _t.File("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
        var d = _t.Driver(CgroupTree.HybridMountInfo, CgroupTree.HybridSelfCgroup);

        var cg = d.Open("sub/ctr", "ctr");
        // This process sits in /process_api/db93 in the memory hierarchy only.
        Assert.Equal(_t.Path("sys/fs/cgroup/memory/process_api/db93/sub/ctr"), cg.Paths["memory"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/cpu/sub/ctr"), cg.Paths["cpu"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/unified/sub/ctr"), cg.Paths[""]);
    }

    [Fact]
    public void V1_host_with_co_mounted_controllers()
    {
        var d = _t.Driver(CgroupTree.V1MountInfo, CgroupTree.V1SelfCgroup);

        Assert.Equal(CgroupMode.V1, d.Mode);
        Assert.Null(d.UnifiedMountPoint);
        Assert.Contains("net_prio", d.Controllers);
        Assert.DoesNotContain(d.Controllers, c => c.StartsWith("name=", StringComparison.Ordinal));
        var cpu = Assert.Single(d.V1Hierarchies, h => h.Controllers.Contains("cpu"));
        Assert.Equal(["cpu", "cpuacct"], cpu.Controllers);

        var cg = Assert.IsType<CgroupV1>(d.Open(null, "ctr"));
        Assert.Equal(_t.Path("sys/fs/cgroup/cpu,cpuacct/ctr"), cg.Paths["cpu"]);
        Assert.Equal(cg.Paths["cpu"], cg.Paths["cpuacct"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/net_cls,net_prio/ctr"), cg.Paths["net_cls"]);
        Assert.False(cg.Paths.ContainsKey(""));

        var rel = d.Open("c", "ctr");
        Assert.Equal(_t.Path("sys/fs/cgroup/memory/user.slice/user-1000.slice/c"), rel.Paths["memory"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/cpu,cpuacct/user.slice/c"), rel.Paths["cpuacct"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/freezer/c"), rel.Paths["freezer"]);
    }

    [Fact]
    public void V1_systemd_style_path()
    {
        var d = _t.Driver(CgroupTree.V1MountInfo, CgroupTree.V1SelfCgroup);
        var cg = d.Open("user.slice:docker:abc", "abc", systemdStyle: true);
        Assert.Equal(_t.Path("sys/fs/cgroup/memory/user.slice/docker-abc.scope"), cg.Paths["memory"]);
    }

    [Fact]
    public void Pure_v2_host()
    {
        _t.File("sys/fs/cgroup/cgroup.controllers", CgroupTree.V2Controllers + "\n");
        var d = _t.Driver(CgroupTree.V2MountInfo, CgroupTree.V2SelfCgroup);

        Assert.Equal(CgroupMode.V2, d.Mode);
        Assert.Empty(d.V1Hierarchies);
        Assert.Equal(CgroupTree.V2Controllers.Split(' '), d.Controllers);

        var cg = Assert.IsType<CgroupV2>(d.Open(null, "ctr"));
        Assert.Equal(_t.Path("sys/fs/cgroup/ctr"), cg.Paths[""]);
        Assert.Single(cg.Paths);
        Assert.Equal(_t.Path("sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/c1"), d.Open("c1", "x").Paths[""]);
        Assert.Equal(_t.Path("sys/fs/cgroup/system.slice/runhcs-ctr.scope"), d.Open(null, "ctr", systemdStyle: true).Paths[""]);
    }

    [Fact]
    public void Named_v1_hierarchies_do_not_make_a_v2_host_hybrid()
    {
        _t.File("sys/fs/cgroup/cgroup.controllers", CgroupTree.V2Controllers);
        string[] mounts = [.. CgroupTree.V2MountInfo, "40 31 0:37 / /run/systemd-legacy rw,relatime - cgroup cgroup rw,name=systemd"];
        var d = _t.Driver(mounts, ["1:name=systemd:/", "0::/"]);
        Assert.Equal(CgroupMode.V2, d.Mode);
    }

    [Fact]
    public void Mount_showing_a_sub_cgroup_resolves_relative_paths_through_it()
    {
        // As inside a container: the hierarchy's /docker/abc is what is mounted at /sys/fs/cgroup.
        _t.File("sys/fs/cgroup/cgroup.controllers", "memory pids");
        var d = _t.Driver(
            ["30 23 0:26 /docker/abc /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw"],
            ["0::/docker/abc/init"]);
        Assert.Equal(_t.Path("sys/fs/cgroup/init/c1"), d.Open("c1", "x").Paths[""]);
        Assert.Equal(_t.Path("sys/fs/cgroup/c1"), d.Open("/c1", "x").Paths[""]);
    }

    [Fact]
    public void Escaped_mount_points_are_decoded()
    {
        _t.File("cg root/cgroup.controllers", "pids");
        var d = _t.Driver(["30 23 0:26 / /cg\\040root rw - cgroup2 cgroup2 rw"], ["0::/"]);
        Assert.Equal(_t.Path("cg root"), d.UnifiedMountPoint);
    }

    [Fact]
    public void No_cgroup_mount_is_an_error()
    {
        var e = Assert.Throws<CgroupException>(() =>
            _t.Driver(["22 28 0:21 / /proc rw - proc proc rw"], ["0::/"]));
        Assert.Contains("no cgroup", e.Message);
    }

    [Fact]
    public void Load_reopens_the_same_cgroup_from_its_paths()
    {
        _t.File("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
        var d = _t.Driver(CgroupTree.HybridMountInfo, CgroupTree.HybridSelfCgroup);
        var cg = d.Open("/hcs/ctr1", "ctr1");

        var again = d.Load(new Dictionary<string, string>(cg.Paths));
        Assert.IsType<CgroupHybrid>(again);
        Assert.Equal(cg.Paths.OrderBy(p => p.Key), again.Paths.OrderBy(p => p.Key));
    }

    [Fact]
    public void Load_refuses_paths_outside_their_hierarchy()
    {
        var d = _t.Driver(CgroupTree.V1MountInfo, CgroupTree.V1SelfCgroup);
        string memory = _t.Path("sys/fs/cgroup/memory");
        Assert.Throws<CgroupException>(() => d.Load(new Dictionary<string, string> { ["memory"] = "/etc" }));
        Assert.Throws<CgroupException>(() => d.Load(new Dictionary<string, string> { ["memory"] = memory + "/../pids/x" }));
        Assert.Throws<CgroupException>(() => d.Load(new Dictionary<string, string> { ["memory"] = memory }));
        Assert.Throws<CgroupException>(() => d.Load(new Dictionary<string, string> { ["hugetlb"] = memory + "/x" }));
        Assert.Throws<CgroupException>(() => d.Load(new Dictionary<string, string> { [""] = memory + "/x" }));
        Assert.IsType<CgroupV1>(d.Load(new Dictionary<string, string> { ["memory"] = memory + "/x" }));
    }

    [Fact]
    public void Load_finds_a_co_mounted_hierarchy_by_any_of_its_controllers()
    {
        var d = _t.Driver(CgroupTree.V1MountInfo, CgroupTree.V1SelfCgroup);
        string dir = _t.Path("sys/fs/cgroup/cpu,cpuacct/x");
        var cg = d.Load(new Dictionary<string, string> { ["cpuacct"] = dir });
        Assert.Equal(dir, cg.Paths["cpu"]);
        Assert.Equal(dir, cg.Paths["cpuacct"]);
    }
}
