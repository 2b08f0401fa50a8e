using Hcs.Linux.Containers;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Tests.Unit.Planning;

/// <summary>ContainerEngine.EffectiveResources (the device rules a container really gets) and
/// ResourceMerge (what `update` leaves in the stored config).</summary>
public sealed class ResourcesTests
{
    private static string Rule(DeviceCgroup d) =>
        $"{(d.Allow ? "allow" : "deny")} {d.Type ?? "a"} {(d.Major is { } ma ? ma.ToString() : "*")}:{(d.Minor is { } mi ? mi.ToString() : "*")} {d.Access}";

    [Fact]
    public void Device_rules_are_the_specs_then_the_defaults_then_linux_devices()
    {
        var spec = new Spec
        {
            Linux = new OciLinux
            {
                Resources = new Resources
                {
                    Devices =
                    [
                        new DeviceCgroup { Allow = false, Access = "rwm" },
                        new DeviceCgroup { Allow = true, Type = "c", Major = 10, Minor = 200, Access = "rw" },
                    ],
                },
                Devices =
                [
                    new Device { Type = "b", Path = "/dev/sda", Major = 8, Minor = 0 },
                    new Device { Type = "u", Path = "/dev/u", Major = 4, Minor = 1 },
                    new Device { Type = "p", Path = "/dev/p", Major = 0, Minor = 0 },
                ],
            },
        };
        var r = ContainerEngine.EffectiveResources(spec);
        Assert.Equal(
        [
            "deny a *:* rwm",
            "allow c 10:200 rw",
            "allow c *:* m",
            "allow b *:* m",
            "allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 1:7 rwm", "allow c 1:8 rwm", "allow c 1:9 rwm", "allow c 5:0 rwm",
            "allow c 5:1 rwm",
            "allow c 5:2 rwm",
            "allow c 136:* rwm",
            "allow b 8:0 rwm",
            "allow c 4:1 rwm",
            "allow c 0:0 rwm",
        ], r.Devices!.Select(Rule));
        // the spec's own list is not modified
        Assert.Equal(2, spec.Linux.Resources.Devices.Count);
    }

    [Fact]
    public void Other_resources_are_passed_through()
    {
        var src = new Resources
        {
            Memory = new Memory { Limit = 5 }, Cpu = new Cpu { Shares = 3 }, Pids = new Pids { Limit = 4 },
            BlockIO = new BlockIo { Weight = 100 }, HugepageLimits = [new HugepageLimit { PageSize = "2MB" }],
            Network = new Network { ClassId = 1 }, Rdma = new() { ["x"] = new RdmaLimit() }, Unified = new() { ["a"] = "b" },
        };
        var r = ContainerEngine.EffectiveResources(new Spec { Linux = new OciLinux { Resources = src } });
        Assert.Same(src.Memory, r.Memory);
        Assert.Same(src.Cpu, r.Cpu);
        Assert.Same(src.Pids, r.Pids);
        Assert.Same(src.BlockIO, r.BlockIO);
        Assert.Same(src.HugepageLimits, r.HugepageLimits);
        Assert.Same(src.Network, r.Network);
        Assert.Same(src.Rdma, r.Rdma);
        Assert.Same(src.Unified, r.Unified);
    }

    [Fact]
    public void A_spec_without_linux_gets_only_the_default_rules()
    {
        var r = ContainerEngine.EffectiveResources(new Spec());
        Assert.Equal(11, r.Devices!.Count);
        Assert.All(r.Devices, d => Assert.True(d.Allow));
        Assert.Null(r.Memory);
    }

    // ---- ResourceMerge ----------------------------------------------------------------------------

    [Fact]
    public void Merge_changes_only_the_fields_the_update_names()
    {
        var current = new Resources
        {
            Memory = new Memory { Limit = 100, Swap = 200, Reservation = 50, Swappiness = 10 },
            Cpu = new Cpu { Shares = 1024, Quota = 50000, Period = 100000, Cpus = "0-1" },
            Pids = new Pids { Limit = 10 },
            BlockIO = new BlockIo { Weight = 500, LeafWeight = 300 },
        };
        var r = ResourceMerge.Merge(current, new Resources
        {
            Memory = new Memory { Limit = 150 },
            Cpu = new Cpu { Quota = -1, Mems = "0" },
            BlockIO = new BlockIo { Weight = 20 },
        });
        Assert.Equal(150, r.Memory!.Limit);
        Assert.Equal(200, r.Memory.Swap);
        Assert.Equal(50, r.Memory.Reservation);
        Assert.Equal(10ul, r.Memory.Swappiness);
        Assert.Equal(1024ul, r.Cpu!.Shares);
        Assert.Equal(-1, r.Cpu.Quota);
        Assert.Equal(100000ul, r.Cpu.Period);
        Assert.Equal("0-1", r.Cpu.Cpus);
        Assert.Equal("0", r.Cpu.Mems);
        Assert.Equal(10, r.Pids!.Limit);
        Assert.Equal((ushort)20, r.BlockIO!.Weight);
        Assert.Equal((ushort)300, r.BlockIO.LeafWeight);
    }

    [Fact]
    public void Merge_into_nothing_creates_what_the_update_names()
    {
        var r = ResourceMerge.Merge(null, new Resources { Pids = new Pids { Limit = 7 }, Memory = new Memory { Swap = -1 } });
        Assert.Equal(7, r.Pids!.Limit);
        Assert.Equal(-1, r.Memory!.Swap);
        Assert.Null(r.Memory.Limit);
        Assert.Null(r.Cpu);
        Assert.Null(r.BlockIO);
    }

    [Fact]
    public void Merge_of_every_memory_and_cpu_field()
    {
        var update = FullSpecResources();
        var r = ResourceMerge.Merge(new Resources(), update);
        Assert.Equal(update.Memory!.Limit, r.Memory!.Limit);
        Assert.Equal(update.Memory.Reservation, r.Memory.Reservation);
        Assert.Equal(update.Memory.Swap, r.Memory.Swap);
        Assert.Equal(update.Memory.Kernel, r.Memory.Kernel);
        Assert.Equal(update.Memory.KernelTcp, r.Memory.KernelTcp);
        Assert.Equal(update.Memory.Swappiness, r.Memory.Swappiness);
        Assert.Equal(update.Memory.DisableOomKiller, r.Memory.DisableOomKiller);
        Assert.Equal(update.Cpu!.Shares, r.Cpu!.Shares);
        Assert.Equal(update.Cpu.Quota, r.Cpu.Quota);
        Assert.Equal(update.Cpu.Burst, r.Cpu.Burst);
        Assert.Equal(update.Cpu.Period, r.Cpu.Period);
        Assert.Equal(update.Cpu.RealtimeRuntime, r.Cpu.RealtimeRuntime);
        Assert.Equal(update.Cpu.RealtimePeriod, r.Cpu.RealtimePeriod);
        Assert.Equal(update.Cpu.Cpus, r.Cpu.Cpus);
        Assert.Equal(update.Cpu.Mems, r.Cpu.Mems);
        Assert.Equal(update.Cpu.Idle, r.Cpu.Idle);
        Assert.Same(update.BlockIO!.ThrottleWriteIopsDevice, r.BlockIO!.ThrottleWriteIopsDevice);
        Assert.Same(update.HugepageLimits, r.HugepageLimits);
    }

    [Fact]
    public void Merge_replaces_lists_and_pids_and_merges_unified_keys()
    {
        var current = new Resources
        {
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 1 }],
            BlockIO = new BlockIo { ThrottleReadBpsDevice = [new ThrottleDevice { Major = 8, Rate = 1 }] },
            Unified = new() { ["memory.high"] = "100", ["io.weight"] = "50" },
        };
        var r = ResourceMerge.Merge(current, new Resources
        {
            HugepageLimits = [new HugepageLimit { PageSize = "1GB", Limit = 2 }],
            BlockIO = new BlockIo { Weight = 10 },
            Unified = new() { ["memory.high"] = "max", ["pids.max"] = "5" },
        });
        Assert.Equal("1GB", Assert.Single(r.HugepageLimits!).PageSize);
        Assert.Equal(1ul, Assert.Single(r.BlockIO!.ThrottleReadBpsDevice!).Rate); // not named: kept
        Assert.Equal(new Dictionary<string, string> { ["memory.high"] = "max", ["io.weight"] = "50", ["pids.max"] = "5" }, r.Unified);
    }

    [Fact]
    public void An_empty_update_changes_nothing()
    {
        var current = new Resources { Memory = new Memory { Limit = 1 }, Pids = new Pids { Limit = 2 } };
        var r = ResourceMerge.Merge(current, new Resources());
        Assert.Equal(1, r.Memory!.Limit);
        Assert.Equal(2, r.Pids!.Limit);
    }

    private static Resources FullSpecResources() => Schema.FullSpec.BuildResources();
}
