using System.Text.Json;
using Hcs.Linux.Cgroups;
using Hcs.Schema.Oci;

namespace Hcs.Tests.Unit.Cgroups;

/// <summary>CgroupV2 against a pure-v2 host whose cgroupfs is a temp directory.</summary>
public sealed class CgroupV2Tests : IDisposable
{
    private const string Cg = "sys/fs/cgroup/pods/ctr";
    private readonly CgroupTree _t = new();
    private readonly CgroupDriver _driver;
    private readonly ICgroup _cg;
    private readonly List<(string File, string Value)> _writes;

    public CgroupV2Tests()
    {
        _t.File("sys/fs/cgroup/cgroup.controllers", CgroupTree.V2Controllers + "\n");
        _t.File("sys/fs/cgroup/cgroup.subtree_control");
        _t.File("sys/fs/cgroup/pods/cgroup.controllers", "cpu io memory pids\n"); // parent delegates less
        _t.File("sys/fs/cgroup/pods/cgroup.subtree_control");
        _t.Files(Cg, "cgroup.procs", "cgroup.freeze", "cgroup.kill", "memory.max", "memory.swap.max", "memory.low",
            "memory.high", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems",
            "pids.max", "io.weight", "io.max", "hugetlb.2MB.max", "hugetlb.1GB.max");
        _t.File(Cg + "/cpu.max", "max 100000\n");
        _driver = _t.Driver(CgroupTree.V2MountInfo, CgroupTree.V2SelfCgroup);
        _cg = _driver.Open("/pods/ctr", "ctr");
        _writes = _t.Record(_cg);
    }

    public void Dispose() => _t.Dispose();

    private string Read(string file) => _t.Read(Cg + "/" + file);

    [Fact]
    public void Create_enables_available_controllers_in_every_ancestor_but_not_the_leaf()
    {
        _cg.Create();
        Assert.Equal(
            [
                ("sys/fs/cgroup/cgroup.subtree_control", "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"),
                ("sys/fs/cgroup/pods/cgroup.subtree_control", "+cpu +io +memory +pids"),
            ],
            _writes);
        Assert.True(Directory.Exists(_t.Path(Cg)));
    }

    [Fact]
    public void Create_makes_missing_levels()
    {
        var cg = _driver.Open("/a/b/c", "c");
        cg.Create();
        Assert.True(Directory.Exists(_t.Path("sys/fs/cgroup/a/b/c")));
    }

    [Fact]
    public void Memory_swap_is_memory_plus_swap_so_swap_max_is_the_difference()
    {
        _cg.Apply(new Resources { Memory = new Memory { Limit = 100 << 20, Swap = 300 << 20, Reservation = 50 << 20 } });
        Assert.Equal("104857600", Read("memory.max"));
        Assert.Equal("209715200", Read("memory.swap.max"));
        Assert.Equal("52428800", Read("memory.low"));
    }

    [Fact]
    public void Unlimited_memory_without_swap_means_both_unlimited()
    {
        _cg.Apply(new Resources { Memory = new Memory { Limit = -1 } });
        Assert.Equal("max", Read("memory.max"));
        Assert.Equal("max", Read("memory.swap.max"));
    }

    [Fact]
    public void Swap_equal_to_limit_disables_swap()
    {
        _cg.Apply(new Resources { Memory = new Memory { Limit = 1 << 30, Swap = 1 << 30 } });
        Assert.Equal("0", Read("memory.swap.max"));
    }

    [Fact]
    public void Swap_unlimited_with_a_limit()
    {
        _cg.Apply(new Resources { Memory = new Memory { Limit = 1 << 30, Swap = -1 } });
        Assert.Equal("1073741824", Read("memory.max"));
        Assert.Equal("max", Read("memory.swap.max"));
    }

    [Theory]
    [InlineData(200L, 100L)] // swap below limit
    [InlineData(null, 100L)] // swap without limit
    public void Impossible_swap_is_refused(long? limit, long swap)
    {
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources { Memory = new Memory { Limit = limit, Swap = swap } }));
        Assert.Contains("swap", e.Message);
        Assert.Empty(_writes);
    }

    [Fact]
    public void Missing_swap_file_is_fine_for_unlimited_swap_only()
    {
        File.Delete(_t.Path(Cg + "/memory.swap.max"));
        _cg.Apply(new Resources { Memory = new Memory { Limit = 1 << 30, Swap = -1 } });
        Assert.Equal("1073741824", Read("memory.max"));
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources { Memory = new Memory { Limit = 1 << 30, Swap = 2L << 30 } }));
        Assert.Contains("memory.swap.max: writing 1073741824: No such file or directory", e.Message);
    }

    [Theory]
    [InlineData(2UL, "1")]
    [InlineData(1024UL, "39")]
    [InlineData(512UL, "20")]
    [InlineData(262144UL, "10000")]
    [InlineData(1000000UL, "10000")] // clamped like the kernel clamps shares
    public void Cpu_weight_is_converted_from_shares(ulong shares, string weight)
    {
        _cg.Apply(new Resources { Cpu = new Cpu { Shares = shares } });
        Assert.Equal(weight, Read("cpu.weight"));
        Assert.Equal("max 100000\n", Read("cpu.max")); // untouched
    }

    [Theory]
    [InlineData(50000L, 100000UL, "50000 100000")]
    [InlineData(-1L, 100000UL, "max 100000")]
    [InlineData(30000L, null, "30000")]         // period kept by the kernel
    [InlineData(null, 250000UL, "max 250000")]  // quota kept: the current one is "max"
    public void Cpu_max_holds_quota_and_period(long? quota, ulong? period, string expected)
    {
        _cg.Apply(new Resources { Cpu = new Cpu { Quota = quota, Period = period } });
        Assert.Equal(expected, Read("cpu.max"));
    }

    [Fact]
    public void Period_update_keeps_the_current_quota()
    {
        _t.File(Cg + "/cpu.max", "20000 50000\n");
        _cg.Apply(new Resources { Cpu = new Cpu { Period = 100000 } });
        Assert.Equal("20000 100000", Read("cpu.max"));
    }

    [Fact]
    public void Cpu_idle_burst_and_cpuset()
    {
        _cg.Apply(new Resources { Cpu = new Cpu { Idle = 1, Shares = 1024, Burst = 1000, Cpus = "0-1", Mems = "0" } });
        Assert.Equal("1", Read("cpu.idle"));
        Assert.Equal("", Read("cpu.weight")); // an idle cgroup has no weight
        Assert.Equal("1000", Read("cpu.max.burst"));
        Assert.Equal("0-1", Read("cpuset.cpus"));
        Assert.Equal("0", Read("cpuset.mems"));
    }

    [Fact]
    public void Realtime_cpu_is_refused_on_v2()
    {
        var e = Assert.Throws<CgroupException>(() => _cg.Apply(new Resources { Cpu = new Cpu { RealtimeRuntime = 1000 } }));
        Assert.Contains("realtime", e.Message);
    }

    [Theory]
    [InlineData(0L, "max")]
    [InlineData(-1L, "max")]
    [InlineData(100L, "100")]
    public void Pids_max(long limit, string expected)
    {
        _cg.Apply(new Resources { Pids = new Pids { Limit = limit } });
        Assert.Equal(expected, Read("pids.max"));
    }

    [Fact]
    public void Io_weight_is_converted_and_io_max_gets_one_line_per_device()
    {
        _cg.Apply(new Resources
        {
            BlockIO = new BlockIo
            {
                Weight = 500,
                ThrottleReadBpsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 1048576 }],
                ThrottleWriteBpsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 2097152 }],
                ThrottleReadIopsDevice = [new ThrottleDevice { Major = 8, Minor = 16, Rate = 100 }],
                ThrottleWriteIopsDevice = [new ThrottleDevice { Major = 8, Minor = 16, Rate = 0 }],
            },
        });
        Assert.Equal(
            [
                (Cg + "/io.weight", "4950"),
                (Cg + "/io.max", "8:0 rbps=1048576 wbps=2097152"),
                (Cg + "/io.max", "8:16 riops=100 wiops=max"),
            ],
            _writes);
    }

    [Fact]
    public void Io_uses_bfq_weight_when_the_scheduler_offers_it()
    {
        _t.File(Cg + "/io.bfq.weight");
        _cg.Apply(new Resources
        {
            BlockIO = new BlockIo { Weight = 500, WeightDevice = [new WeightDevice { Major = 8, Minor = 0, Weight = 300 }] },
        });
        Assert.Equal([(Cg + "/io.bfq.weight", "500"), (Cg + "/io.bfq.weight", "8:0 300")], _writes);
    }

    [Fact]
    public void Hugetlb_limits_go_to_size_max()
    {
        _cg.Apply(new Resources { HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 4 << 20 }] });
        Assert.Equal("4194304", Read("hugetlb.2MB.max"));
    }

    [Fact]
    public void Bad_page_size_is_refused()
    {
        var e = Assert.Throws<CgroupException>(() =>
            _cg.Apply(new Resources { HugepageLimits = [new HugepageLimit { PageSize = "../2MB", Limit = 1 }] }));
        Assert.Contains("pageSize", e.Message);
    }

    [Fact]
    public void Unified_keys_are_written_as_files_last()
    {
        _cg.Apply(new Resources
        {
            Pids = new Pids { Limit = 10 },
            Unified = new Dictionary<string, string> { ["memory.high"] = "50M", ["pids.max"] = "7" },
        });
        Assert.Equal("50M", Read("memory.high"));
        Assert.Equal("7", Read("pids.max"));
    }

    [Theory]
    [InlineData("../memory.max")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    public void Unified_keys_that_are_not_file_names_are_refused(string key)
    {
        var e = Assert.Throws<CgroupException>(() =>
            _cg.Apply(new Resources { Unified = new Dictionary<string, string> { [key] = "1" } }));
        Assert.Contains("linux.resources.unified", e.Message);
    }

    [Fact]
    public void Unified_key_without_file_names_the_controller()
    {
        var e = Assert.Throws<CgroupException>(() =>
            _cg.Apply(new Resources { Unified = new Dictionary<string, string> { ["rdma.max"] = "x" } }));
        Assert.Contains("rdma", e.Message);
        Assert.Contains("enabled", e.Message);
    }

    [Fact]
    public void Refused_write_names_file_value_and_errno()
    {
        File.Delete(_t.Path(Cg + "/cpu.max"));
        var e = Assert.Throws<CgroupException>(() =>
            _cg.Apply(new Resources { Cpu = new Cpu { Quota = 50000, Period = 100000 } }));
        Assert.Equal(_t.Path(Cg + "/cpu.max") + ": writing 50000 100000: No such file or directory", e.Message);
        Assert.Equal(2, e.Errno);
    }

    [Fact]
    public void Null_fields_are_left_untouched()
    {
        _cg.Apply(new Resources { Memory = new Memory(), Cpu = new Cpu(), BlockIO = new BlockIo() });
        Assert.Empty(_writes);
    }

    [Fact]
    public void Network_limits_are_ignored_on_v2()
    {
        _cg.Apply(new Resources { Network = new Network { ClassId = 7 } });
        Assert.Empty(_writes);
    }

    [Fact]
    public void Processes_freeze_kill_and_oom_count()
    {
        _cg.AddProcess(42);
        Assert.Equal("42", Read("cgroup.procs"));

        // The kernel would update cgroup.events; the file already says frozen.
        _t.File(Cg + "/cgroup.events", "populated 1\nfrozen 1\n");
        _cg.Freeze();
        Assert.Equal("1", Read("cgroup.freeze"));
        Assert.True(_cg.IsFrozen());
        _cg.Thaw();
        Assert.Equal("0", Read("cgroup.freeze"));

        _cg.KillAll();
        Assert.Equal("1", Read("cgroup.kill"));

        _t.File(Cg + "/memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n");
        Assert.Equal(2UL, _cg.OomKillCount());
    }

    [Fact]
    public void GetPids_walks_sub_cgroups()
    {
        _t.File(Cg + "/cgroup.procs", "10\n11\n");
        _t.File(Cg + "/inner/cgroup.procs", "12\n");
        _t.File(Cg + "/inner/deeper/cgroup.procs", "13\n10\n");
        Assert.Equal([10, 11], _cg.GetPids(recursive: false));
        Assert.Equal([10, 11, 12, 13], _cg.GetPids().Order());
    }

    [Fact]
    public void Destroy_removes_sub_cgroups_deepest_first()
    {
        var cg = _driver.Open("/gone", "gone");
        _t.Dir("sys/fs/cgroup/gone/a/b");
        _t.Dir("sys/fs/cgroup/gone/c");
        Assert.True(cg.Destroy());
        Assert.False(Directory.Exists(_t.Path("sys/fs/cgroup/gone")));
        Assert.True(cg.Destroy()); // already gone: fine
    }

    [Fact]
    public void Stats_are_read_and_serialize_like_runc()
    {
        _t.File(Cg + "/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 30\n");
        _t.File(Cg + "/memory.stat", "anon 4096\nfile 8192\n");
        _t.File(Cg + "/memory.current", "12288\n");
        _t.File(Cg + "/memory.max", "max\n");
        _t.File(Cg + "/memory.events", "max 4\noom_kill 0\n");
        _t.File(Cg + "/pids.current", "3\n");
        _t.File(Cg + "/pids.max", "max\n");
        _t.File(Cg + "/io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
        _t.File(Cg + "/hugetlb.2MB.current", "2097152\n");
        _t.File(Cg + "/hugetlb.2MB.events", "max 1\n");

        var s = _cg.GetStats();
        Assert.Equal(1_500_000UL, s.Cpu.Usage.Total);
        Assert.Equal(500_000UL, s.Cpu.Usage.Kernel);
        Assert.Equal(30_000UL, s.Cpu.Throttling.ThrottledTime);
        Assert.Equal(8192UL, s.Memory.Cache);
        Assert.Equal(ulong.MaxValue, s.Memory.Usage.Limit);
        Assert.Equal(4UL, s.Memory.Usage.Failcnt);
        Assert.Equal(0UL, s.Pids.Limit);
        Assert.Equal(2097152UL, s.Hugetlb["2MB"].Usage);

        string json = CgroupStatsJson.ToJson(s);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(1_500_000UL, root.GetProperty("cpu").GetProperty("usage").GetProperty("total").GetUInt64());
        Assert.Equal(2UL, root.GetProperty("cpu").GetProperty("throttling").GetProperty("throttledPeriods").GetUInt64());
        Assert.Equal(4096UL, root.GetProperty("memory").GetProperty("raw").GetProperty("anon").GetUInt64());
        Assert.Equal(0UL, root.GetProperty("memory").GetProperty("kernelTCP").GetProperty("failcnt").GetUInt64());
        Assert.Equal(3UL, root.GetProperty("pids").GetProperty("current").GetUInt64());
        Assert.False(root.GetProperty("pids").TryGetProperty("limit", out _)); // omitted when 0, as runc
        var read = root.GetProperty("blkio").GetProperty("ioServiceBytesRecursive")[0];
        Assert.Equal(8UL, read.GetProperty("major").GetUInt64());
        Assert.Equal("Read", read.GetProperty("op").GetString());
        Assert.Equal(1UL, root.GetProperty("hugetlb").GetProperty("2MB").GetProperty("failcnt").GetUInt64());
    }
}
