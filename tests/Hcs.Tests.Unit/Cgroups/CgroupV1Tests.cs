using System.Text.Json;
using Hcs.Linux.Cgroups;
using Hcs.Schema.Oci;

namespace Hcs.Tests.Unit.Cgroups;

/// <summary>CgroupV1 against a legacy v1 host (co-mounted cpu,cpuacct) whose cgroupfs is a temp directory.</summary>
public sealed class CgroupV1Tests : IDisposable
{
    private const string Fs = "sys/fs/cgroup";
    private readonly CgroupTree _t = new();
    private readonly CgroupDriver _driver;
    private readonly ICgroup _cg;
    private readonly List<(string File, string Value)> _writes;

    public CgroupV1Tests()
    {
        // Every hierarchy's root, then the container's directory "/ctr" in each.
        _t.File($"{Fs}/cpuset/cpuset.cpus", "0-3\n");
        _t.File($"{Fs}/cpuset/cpuset.mems", "0\n");
        _t.Files($"{Fs}/cpuset/ctr", "cpuset.cpus", "cpuset.mems", "cgroup.procs");
        _t.Files($"{Fs}/cpu,cpuacct/ctr", "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us",
            "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle", "cgroup.procs");
        _t.Files($"{Fs}/memory/ctr", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
            "memory.swappiness", "memory.oom_control", "memory.kmem.tcp.limit_in_bytes", "cgroup.procs");
        _t.File($"{Fs}/memory/ctr/memory.limit_in_bytes", "9223372036854771712\n");
        _t.Files($"{Fs}/pids/ctr", "pids.max", "cgroup.procs");
        _t.Files($"{Fs}/devices/ctr", "devices.allow", "devices.deny", "cgroup.procs");
        _t.Files($"{Fs}/freezer/ctr", "freezer.state", "cgroup.procs");
        _t.Files($"{Fs}/blkio/ctr", "blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device", "cgroup.procs");
        _t.Files($"{Fs}/net_cls,net_prio/ctr", "net_cls.classid", "net_prio.ifpriomap", "cgroup.procs");
        _driver = _t.Driver(CgroupTree.V1MountInfo, CgroupTree.V1SelfCgroup);
        _cg = _driver.Open("/ctr", "ctr");
        _writes = _t.Record(_cg);
    }

    public void Dispose() => _t.Dispose();

    private string Read(string hierarchy, string file) => _t.Read($"{Fs}/{hierarchy}/ctr/{file}");

    [Fact]
    public void Create_copies_cpuset_down_from_the_parent()
    {
        _cg.Create();
        Assert.Equal("0-3", Read("cpuset", "cpuset.cpus"));
        Assert.Equal("0", Read("cpuset", "cpuset.mems"));
        Assert.True(Directory.Exists(_t.Path($"{Fs}/pids/ctr")));
        Assert.False(Directory.Exists(_t.Path($"{Fs}/systemd/ctr"))); // named hierarchy skipped
    }

    [Fact]
    public void Create_fills_every_new_cpuset_level_top_down()
    {
        // What the kernel would show after mkdir: empty cpuset files.
        _t.Files($"{Fs}/cpuset/a", "cpuset.cpus", "cpuset.mems");
        _t.Files($"{Fs}/cpuset/a/b", "cpuset.cpus", "cpuset.mems");
        var cg = _driver.Open("/a/b", "b");
        var writes = _t.Record(cg);
        cg.Create();
        Assert.Equal(
            [
                ($"{Fs}/cpuset/a/cpuset.cpus", "0-3"),
                ($"{Fs}/cpuset/a/cpuset.mems", "0"),
                ($"{Fs}/cpuset/a/b/cpuset.cpus", "0-3"),
                ($"{Fs}/cpuset/a/b/cpuset.mems", "0"),
            ],
            writes);
        Assert.True(Directory.Exists(_t.Path($"{Fs}/memory/a/b")));
        Assert.True(Directory.Exists(_t.Path($"{Fs}/cpu,cpuacct/a/b")));
    }

    [Fact]
    public void Create_leaves_a_set_cpuset_alone()
    {
        _t.File($"{Fs}/cpuset/ctr/cpuset.cpus", "2\n");
        _cg.Create();
        Assert.Equal("2\n", Read("cpuset", "cpuset.cpus"));
    }

    [Fact]
    public void Raising_memory_writes_memsw_before_the_limit()
    {
        _t.File($"{Fs}/memory/ctr/memory.limit_in_bytes", "104857600\n"); // currently 100 MiB
        _cg.Apply(new Resources { Memory = new Memory { Limit = 200 << 20, Swap = 400 << 20 } });
        Assert.Equal(
            [
                ($"{Fs}/memory/ctr/memory.memsw.limit_in_bytes", "419430400"),
                ($"{Fs}/memory/ctr/memory.limit_in_bytes", "209715200"),
            ],
            _writes);
    }

    [Fact]
    public void Lowering_memory_writes_the_limit_before_memsw()
    {
        _t.File($"{Fs}/memory/ctr/memory.limit_in_bytes", "209715200\n"); // currently 200 MiB
        _cg.Apply(new Resources { Memory = new Memory { Limit = 50 << 20, Swap = 100 << 20 } });
        Assert.Equal(
            [
                ($"{Fs}/memory/ctr/memory.limit_in_bytes", "52428800"),
                ($"{Fs}/memory/ctr/memory.memsw.limit_in_bytes", "104857600"),
            ],
            _writes);
        Assert.Equal("52428800", Read("memory", "memory.limit_in_bytes"));
        Assert.Equal("104857600", Read("memory", "memory.memsw.limit_in_bytes"));
    }

    [Fact]
    public void Unlimited_memory_makes_memsw_unlimited_first()
    {
        _cg.Apply(new Resources { Memory = new Memory { Limit = -1 } });
        Assert.Equal(
            [($"{Fs}/memory/ctr/memory.memsw.limit_in_bytes", "-1"), ($"{Fs}/memory/ctr/memory.limit_in_bytes", "-1")],
            _writes);
    }

    [Fact]
    public void Other_memory_settings()
    {
        _cg.Apply(new Resources
        {
            Memory = new Memory { Reservation = 1 << 20, Swappiness = 10, DisableOomKiller = true, KernelTcp = 1 << 22, Kernel = 1 << 20 },
        });
        Assert.Equal("1048576", Read("memory", "memory.soft_limit_in_bytes"));
        Assert.Equal("10", Read("memory", "memory.swappiness"));
        Assert.Equal("1", Read("memory", "memory.oom_control"));
        Assert.Equal("4194304", Read("memory", "memory.kmem.tcp.limit_in_bytes"));
        Assert.DoesNotContain(_writes, w => w.File.EndsWith("memory.kmem.limit_in_bytes", StringComparison.Ordinal));
    }

    [Fact]
    public void Swappiness_out_of_range_is_refused()
    {
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources { Memory = new Memory { Swappiness = 101 } }));
        Assert.Contains("swappiness", e.Message);
    }

    [Fact]
    public void Swap_without_swap_accounting()
    {
        File.Delete(_t.Path($"{Fs}/memory/ctr/memory.memsw.limit_in_bytes"));
        _cg.Apply(new Resources { Memory = new Memory { Limit = 1 << 30, Swap = -1 } }); // nothing to enforce
        Assert.Equal("1073741824", Read("memory", "memory.limit_in_bytes"));
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources { Memory = new Memory { Limit = 1 << 30, Swap = 2L << 30 } }));
        Assert.Contains("swap accounting", e.Message);
    }

    [Fact]
    public void Cpu_shares_quota_period_and_realtime()
    {
        _cg.Apply(new Resources
        {
            Cpu = new Cpu { Shares = 512, Quota = 50000, Period = 100000, Burst = 1000, RealtimePeriod = 1000000, RealtimeRuntime = 950000, Cpus = "1", Mems = "0" },
        });
        Assert.Equal("512", Read("cpu,cpuacct", "cpu.shares"));
        Assert.Equal("50000", Read("cpu,cpuacct", "cpu.cfs_quota_us"));
        Assert.Equal("100000", Read("cpu,cpuacct", "cpu.cfs_period_us"));
        Assert.Equal("1000", Read("cpu,cpuacct", "cpu.cfs_burst_us"));
        Assert.Equal("1000000", Read("cpu,cpuacct", "cpu.rt_period_us"));
        Assert.Equal("950000", Read("cpu,cpuacct", "cpu.rt_runtime_us"));
        Assert.Equal("1", Read("cpuset", "cpuset.cpus"));
        Assert.Equal("0", Read("cpuset", "cpuset.mems"));
        Assert.Equal(8, _writes.Count);
    }

    [Fact]
    public void Unlimited_quota_is_minus_one()
    {
        _cg.Apply(new Resources { Cpu = new Cpu { Quota = -1 } });
        Assert.Equal([($"{Fs}/cpu,cpuacct/ctr/cpu.cfs_quota_us", "-1")], _writes);
    }

    [Theory]
    [InlineData(0L, "max")]
    [InlineData(50L, "50")]
    public void Pids_max(long limit, string expected)
    {
        _cg.Apply(new Resources { Pids = new Pids { Limit = limit } });
        Assert.Equal(expected, Read("pids", "pids.max"));
    }

    [Fact]
    public void Device_rules_are_written_in_order()
    {
        _cg.Apply(new Resources
        {
            Devices =
            [
                new DeviceCgroup { Allow = false, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Access = "m" },
                new DeviceCgroup { Allow = false, Type = "b", Major = 8, Access = "r" },
            ],
        });
        string d = $"{Fs}/devices/ctr/";
        Assert.Equal(
            [
                (d + "devices.deny", "a *:* rwm"),
                (d + "devices.allow", "c 1:3 rwm"),
                (d + "devices.allow", "c *:* m"),
                (d + "devices.deny", "b 8:* r"),
            ],
            _writes);
    }

    [Theory]
    [InlineData("x", "rwm")]
    [InlineData("c", "rwx")]
    public void Bad_device_rules_are_refused_with_their_index(string type, string access)
    {
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources
        {
            Devices = [new DeviceCgroup { Allow = false }, new DeviceCgroup { Type = type, Access = access }],
        }));
        Assert.Contains("linux.resources.devices[1]", e.Message);
    }

    [Fact]
    public void Blkio_falls_back_to_bfq_weight_and_throttles_per_device()
    {
        _cg.Apply(new Resources
        {
            BlockIO = new BlockIo
            {
                Weight = 300,
                WeightDevice = [new WeightDevice { Major = 8, Minor = 0, Weight = 200 }],
                ThrottleReadBpsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 1000 }, new ThrottleDevice { Major = 8, Minor = 16, Rate = 2000 }],
                ThrottleWriteIopsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 10 }],
            },
        });
        string d = $"{Fs}/blkio/ctr/";
        Assert.Equal(
            [
                (d + "blkio.bfq.weight", "300"),
                (d + "blkio.bfq.weight_device", "8:0 200"),
                (d + "blkio.throttle.read_bps_device", "8:0 1000"),
                (d + "blkio.throttle.read_bps_device", "8:16 2000"),
                (d + "blkio.throttle.write_iops_device", "8:0 10"),
            ],
            _writes);
    }

    [Fact]
    public void Blkio_uses_cfq_weight_when_present()
    {
        _t.File($"{Fs}/blkio/ctr/blkio.weight");
        _cg.Apply(new Resources { BlockIO = new BlockIo { Weight = 300 } });
        Assert.Equal("300", Read("blkio", "blkio.weight"));
    }

    [Fact]
    public void Network_classid_and_priorities()
    {
        _cg.Apply(new Resources
        {
            Network = new Network { ClassId = 0x100001, Priorities = [new InterfacePriority { Name = "eth0", Priority = 5 }] },
        });
        Assert.Equal("1048577", Read("net_cls,net_prio", "net_cls.classid"));
        Assert.Equal("eth0 5", Read("net_cls,net_prio", "net_prio.ifpriomap"));
    }

    [Fact]
    public void Unified_is_refused_on_v1()
    {
        var e = Assert.Throws<CgroupException>(() =>
            _cg.Apply(new Resources { Unified = new Dictionary<string, string> { ["memory.high"] = "1" } }));
        Assert.Contains("linux.resources.unified", e.Message);
        Assert.Contains("v2", e.Message);
    }

    [Fact]
    public void Limits_for_an_unmounted_controller_are_refused_before_writing_anything()
    {
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources
        {
            Pids = new Pids { Limit = 5 },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 1 }],
        }));
        Assert.Contains("hugetlb", e.Message);
        Assert.Empty(_writes);
    }

    [Fact]
    public void Refused_write_names_file_value_and_errno()
    {
        File.Delete(_t.Path($"{Fs}/pids/ctr/pids.max"));
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources { Pids = new Pids { Limit = 5 } }));
        Assert.Equal(_t.Path($"{Fs}/pids/ctr/pids.max") + ": writing 5: No such file or directory", e.Message);
    }

    [Fact]
    public void Processes_join_every_hierarchy_once()
    {
        _cg.AddProcess(77);
        // 8 hierarchies; cpu,cpuacct and net_cls,net_prio are one directory each.
        Assert.Equal(8, _writes.Count);
        Assert.All(_writes, w => Assert.Equal(("cgroup.procs", "77"), (Path.GetFileName(w.File), w.Value)));
    }

    [Fact]
    public void Freeze_thaw_and_oom_count()
    {
        _cg.Freeze(); // an ordinary file reads back FROZEN at once
        Assert.Equal("FROZEN", Read("freezer", "freezer.state"));
        Assert.True(_cg.IsFrozen());
        _cg.Thaw();
        Assert.False(_cg.IsFrozen());

        _t.File($"{Fs}/memory/ctr/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n");
        Assert.Equal(5UL, _cg.OomKillCount());
    }

    [Fact]
    public void Stats_from_v1_files()
    {
        string ca = $"{Fs}/cpu,cpuacct/ctr/";
        _t.File(ca + "cpuacct.usage", "3000\n");
        _t.File(ca + "cpuacct.usage_percpu", "1000 2000 \n");
        _t.File(ca + "cpuacct.stat", "user 2\nsystem 1\n");
        _t.File(ca + "cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 777\n");
        string m = $"{Fs}/memory/ctr/";
        _t.File(m + "memory.stat", "cache 100\nrss 200\ntotal_cache 150\n");
        _t.File(m + "memory.usage_in_bytes", "4096\n");
        _t.File(m + "memory.limit_in_bytes", "9223372036854771712\n");
        _t.File(m + "memory.failcnt", "2\n");
        _t.File($"{Fs}/pids/ctr/pids.current", "2\n");
        _t.File($"{Fs}/pids/ctr/pids.max", "50\n");
        _t.File($"{Fs}/blkio/ctr/blkio.throttle.io_service_bytes_recursive", "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n");

        var s = _cg.GetStats();
        Assert.Equal(3000UL, s.Cpu.Usage.Total);
        Assert.Equal([1000UL, 2000UL], s.Cpu.Usage.Percpu!);
        Assert.Equal(20_000_000UL, s.Cpu.Usage.User);   // ticks of 10 ms
        Assert.Equal(10_000_000UL, s.Cpu.Usage.Kernel);
        Assert.Equal(777UL, s.Cpu.Throttling.ThrottledTime);
        Assert.Equal(150UL, s.Memory.Cache);
        Assert.Equal(4096UL, s.Memory.Usage.Usage);
        Assert.Equal(2UL, s.Memory.Usage.Failcnt);
        Assert.Equal(50UL, s.Pids.Limit);
        Assert.Equal(2, s.Blkio.IoServiceBytesRecursive!.Count); // "Total" skipped
        Assert.Equal("Write", s.Blkio.IoServiceBytesRecursive[1].Op);

        using var doc = JsonDocument.Parse(CgroupStatsJson.ToJson(s));
        var usage = doc.RootElement.GetProperty("cpu").GetProperty("usage");
        Assert.Equal(2, usage.GetProperty("percpu").GetArrayLength());
        Assert.Equal(20_000_000UL, usage.GetProperty("user").GetUInt64());
        Assert.Equal(200UL, doc.RootElement.GetProperty("memory").GetProperty("raw").GetProperty("rss").GetUInt64());
    }
}

/// <summary>The hybrid composition: each resource lands in the hierarchy owning its controller.</summary>
public sealed class CgroupHybridTests : IDisposable
{
    private readonly CgroupTree _t = new();

    public void Dispose() => _t.Dispose();

    [Fact]
    public void Hugetlb_goes_to_v2_memory_to_v1()
    {
        _t.File("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
        _t.File("sys/fs/cgroup/unified/cgroup.subtree_control");
        _t.Files("sys/fs/cgroup/unified/ctr", "hugetlb.2MB.max", "cgroup.procs", "cgroup.kill");
        _t.Files("sys/fs/cgroup/memory/ctr", "memory.limit_in_bytes", "cgroup.procs");
        var d = _t.Driver(CgroupTree.HybridMountInfo, CgroupTree.HybridSelfCgroup);
        var cg = d.Open("/ctr", "ctr");
        var writes = _t.Record(cg);

        cg.Apply(new Resources
        {
            Memory = new Memory { Limit = 1 << 20 },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 2 << 20 }],
            Unified = new Dictionary<string, string> { ["hugetlb.2MB.max"] = "6291456" },
        });
        Assert.Equal(
            [
                ("sys/fs/cgroup/memory/ctr/memory.limit_in_bytes", "1048576"),
                ("sys/fs/cgroup/unified/ctr/hugetlb.2MB.max", "2097152"),
                ("sys/fs/cgroup/unified/ctr/hugetlb.2MB.max", "6291456"),
            ],
            writes);

        // A unified key for a controller v1 holds would silently do nothing: refused.
        var e = Assert.Throws<CgroupException>(() =>
            cg.Apply(new Resources { Unified = new Dictionary<string, string> { ["memory.high"] = "1" } }));
        Assert.Contains("v1", e.Message);
    }
}
