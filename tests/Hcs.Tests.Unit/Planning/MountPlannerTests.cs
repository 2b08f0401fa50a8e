using Hcs.Linux.Containers;
using Hcs.Linux.Rootfs;
using Hcs.Schema;
using Hcs.Schema.Oci;
using static Hcs.Linux.Rootfs.MountPlanner;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Tests.Unit.Planning;

/// <summary>MountPlanner.Plan against a fake host: binds, cgroup mounts on v1/v2/hybrid hosts,
/// /dev, device nodes, and the order of the steps.</summary>
public sealed class MountPlannerTests
{
    private const uint S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000;

    private readonly FakeHost _host = new();

    private (List<MountStep> Steps, IReadOnlyList<DocumentError> Errors) Plan(
        Spec spec, bool newUserns = false, string bundle = "/bundle")
    {
        var steps = new List<MountStep>();
        var errors = new DocumentErrors();
        new MountPlanner(_host).Plan(spec, bundle, newUserns, steps, errors);
        // the steps' config paths are checked on their own (Steps_name_the_config_value_they_come_from)
        return (steps.ConvertAll(x => x with { ConfigPath = null }), errors.All);
    }

    [Fact]
    public void Steps_name_the_config_value_they_come_from()
    {
        _host.With("/srv/data", HostPathKind.Directory);
        var spec = WithMounts(
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind"] },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["ro"] });
        spec.Linux = new OciLinux { Devices = [new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229 }] };
        var steps = new List<MountStep>();
        new MountPlanner(_host).Plan(spec, "/bundle", false, steps, new DocumentErrors());
        Assert.Equal("$.mounts[0]", steps.Single(x => x.Target == "/proc").ConfigPath);
        Assert.Equal("$.mounts[1]", steps.Single(x => x.Target == "/data").ConfigPath);
        Assert.All(steps.Where(x => x.Target.StartsWith("/sys/fs/cgroup")), x => Assert.Equal("$.mounts[2]", x.ConfigPath));
        Assert.Equal("$.linux.devices[0]", steps.Single(x => x.Target == "/dev/fuse").ConfigPath);
        Assert.Null(steps.Single(x => x.Target == "/dev/null").ConfigPath); // a default device: no config value
    }

    private static Spec WithMounts(params Mount[] mounts) => new() { Mounts = [.. mounts] };

    /// <summary>Steps other than the /dev ones (devices and their symlinks).</summary>
    private static List<MountStep> NonDev(List<MountStep> steps) =>
        steps.Where(s => !(s.Target.StartsWith("/dev/", StringComparison.Ordinal) && s.Kind is MountStepKind.Mknod or MountStepKind.Symlink)).ToList();

    // ---- binds ------------------------------------------------------------------------------

    [Fact]
    public void Bind_of_a_directory()
    {
        _host.With("/srv/data", HostPathKind.Directory);
        var (steps, errors) = Plan(WithMounts(new Mount { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind", "ro", "nosuid", "rprivate"] }));
        Assert.Empty(errors);
        Assert.Equal(new MountStep
        {
            Kind = MountStepKind.Bind, Source = "/srv/data", Target = "/data", TargetIsFile = false,
            AttrSet = ATTR_RDONLY | ATTR_NOSUID, Propagation = MS_PRIVATE, Recursive = true,
        }, steps[0]);
    }

    [Fact]
    public void Bind_of_a_file_creates_a_file_target()
    {
        _host.With("/etc/resolv.conf", HostPathKind.File);
        var (steps, errors) = Plan(WithMounts(new Mount { Destination = "/etc/resolv.conf", Source = "/etc/resolv.conf", Options = ["bind"] }));
        Assert.Empty(errors);
        Assert.Equal(MountStepKind.Bind, steps[0].Kind);
        Assert.True(steps[0].TargetIsFile);
        Assert.False(steps[0].Recursive);
    }

    [Fact]
    public void Bind_by_type_alone_is_not_recursive()
    {
        _host.With("/a", HostPathKind.Directory);
        var (steps, _) = Plan(WithMounts(new Mount { Destination = "/a", Type = "bind", Source = "/a" }));
        Assert.Equal(MountStepKind.Bind, steps[0].Kind);
        Assert.False(steps[0].Recursive);
        Assert.Null(steps[0].FsType);
    }

    [Fact]
    public void Missing_bind_source_is_an_error_at_its_path_and_the_rest_is_still_planned()
    {
        _host.With("/ok", HostPathKind.Directory);
        var (steps, errors) = Plan(WithMounts(
            new Mount { Destination = "/tmp", Type = "tmpfs" },
            new Mount { Destination = "/gone", Type = "bind", Source = "/nope" },
            new Mount { Destination = "/ok", Type = "bind", Source = "/ok" }));
        var e = Assert.Single(errors);
        Assert.Equal("$.mounts[1].source", e.Path);
        Assert.Equal("bind source \"/nope\" does not exist", e.Message);
        Assert.Equal(["/tmp", "/ok"], NonDev(steps).Select(s => s.Target));
    }

    [Fact]
    public void Relative_bind_source_is_resolved_against_the_bundle()
    {
        _host.With("/bundle/volumes/data", HostPathKind.Directory);
        var (steps, errors) = Plan(WithMounts(new Mount { Destination = "/data", Type = "bind", Source = "volumes/data" }));
        Assert.Empty(errors);
        Assert.Equal("/bundle/volumes/data", steps[0].Source);
        Assert.Contains("/bundle/volumes/data", _host.Asked);

        (_, errors) = Plan(WithMounts(new Mount { Destination = "/x", Type = "bind", Source = "missing" }));
        Assert.Equal("bind source \"missing\" does not exist", Assert.Single(errors).Message);
        Assert.Contains("/bundle/missing", _host.Asked);
    }

    [Fact]
    public void Recursive_attributes_of_a_bind_join_its_attributes()
    {
        _host.With("/v", HostPathKind.Directory);
        var (steps, _) = Plan(WithMounts(new Mount { Destination = "/v", Type = "bind", Source = "/v", Options = ["rbind", "rro", "rnoatime", "nodev"] }));
        Assert.Equal(ATTR_RDONLY | ATTR_NOATIME | ATTR_NODEV, steps[0].AttrSet);
        Assert.Equal(ATTR__ATIME, steps[0].AttrClear);
        Assert.DoesNotContain(steps, s => s.Kind == MountStepKind.SetAttr); // applied on the bind itself
    }

    [Fact]
    public void Idmapped_bind_uses_the_mounts_own_mappings()
    {
        _host.With("/v", HostPathKind.Directory);
        var (steps, _) = Plan(WithMounts(new Mount
        {
            Destination = "/v", Type = "bind", Source = "/v",
            UidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }],
            GidMappings = [new IdMapping { ContainerId = 0, HostId = 200000, Size = 1 }, new IdMapping { ContainerId = 1, HostId = 300000, Size = 10 }],
        }));
        Assert.Equal(("0 100000 65536\n", "0 200000 1\n1 300000 10\n"), steps[0].IdMap);
    }

    [Fact]
    public void Idmap_option_uses_the_containers_mappings()
    {
        _host.With("/v", HostPathKind.Directory);
        var spec = WithMounts(new Mount { Destination = "/v", Type = "bind", Source = "/v", Options = ["idmap"] });
        spec.Linux = new OciLinux
        {
            UidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }],
            GidMappings = [new IdMapping { ContainerId = 0, HostId = 1001, Size = 1 }],
        };
        Assert.Equal(("0 1000 1\n", "0 1001 1\n"), Plan(spec).Steps[0].IdMap);
        spec.Linux = null;
        Assert.Null(Plan(spec).Steps[0].IdMap);
    }

    [Fact]
    public void Plain_bind_has_no_idmap() =>
        Assert.Null(Plan(WithMounts(new Mount { Destination = "/v", Type = "bind", Source = "/proc/kcore" })).Steps[0].IdMap);

    // ---- other filesystems -------------------------------------------------------------------

    [Fact]
    public void A_filesystem_mount_carries_flags_data_and_propagation()
    {
        var (steps, errors) = Plan(WithMounts(
            new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", "rslave"] }));
        Assert.Empty(errors);
        Assert.Equal(new MountStep
        {
            Kind = MountStepKind.Mount, Source = "devpts", Target = "/dev/pts", FsType = "devpts",
            Flags = MS_NOSUID | MS_NOEXEC, Data = "newinstance,ptmxmode=0666,mode=0620,gid=5",
            Propagation = MS_SLAVE, Recursive = true,
        }, steps[0]);
    }

    [Fact]
    public void Source_defaults_to_the_type_and_no_data_is_null()
    {
        var (steps, _) = Plan(WithMounts(new Mount { Destination = "proc", Type = "proc" }));
        Assert.Equal("proc", steps[0].Source);
        Assert.Equal("/proc", steps[0].Target);
        Assert.Null(steps[0].Data);
        Assert.Equal(-1, steps[0].Uid);
        Assert.Equal(-1, steps[0].Gid);
    }

    [Fact]
    public void Recursive_attributes_of_a_filesystem_become_a_final_setattr()
    {
        var (steps, _) = Plan(WithMounts(
            new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["rro", "rnosuid"] },
            new Mount { Destination = "/tmp", Type = "tmpfs" }));
        Assert.Equal(new MountStep { Kind = MountStepKind.SetAttr, Target = "/sys", AttrSet = ATTR_RDONLY | ATTR_NOSUID, Recursive = true }, steps[^1]);
        Assert.Equal(0ul, steps[0].Flags);
        // after every other step, the /dev ones included
        Assert.True(steps.FindIndex(s => s.Target == "/dev/stderr") < steps.Count - 1);
    }

    // ---- cgroup ----------------------------------------------------------------------------------

    private static Mount Cgroup(params string[] options) =>
        new() { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = [.. options] };

    [Fact]
    public void Cgroup_on_a_v2_host_binds_the_containers_own_directory()
    {
        _host.CgroupView = FakeHost.V2;
        var (steps, _) = Plan(WithMounts(Cgroup("nosuid", "noexec", "nodev", "relatime", "ro")));
        Assert.Equal(new MountStep
        {
            Kind = MountStepKind.Bind, Source = "/sys/fs/cgroup/hcs/ctr", Target = "/sys/fs/cgroup",
            AttrSet = ATTR_RDONLY | ATTR_NOSUID | ATTR_NOEXEC | ATTR_NODEV | ATTR_RELATIME, AttrClear = ATTR__ATIME, Propagation = MS_PRIVATE,
            Recursive = true, Needs = CgroupStage.Made,
        }, Assert.Single(NonDev(steps)));
    }

    [Fact]
    public void Cgroup_on_a_v1_host_is_a_tmpfs_with_a_bind_of_the_containers_directory_per_hierarchy()
    {
        _host.CgroupView = FakeHost.V1;
        var (steps, errors) = Plan(WithMounts(Cgroup("nosuid", "noexec", "nodev", "relatime", "ro")));
        Assert.Empty(errors);
        const ulong flags = MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME;
        const ulong attrs = ATTR_RDONLY | ATTR_NOSUID | ATTR_NOEXEC | ATTR_NODEV | ATTR_RELATIME;
        MountStep Link(string name, string to) => new() { Kind = MountStepKind.Symlink, Target = "/sys/fs/cgroup/" + name, Source = to, Needs = CgroupStage.Made };
        MountStep Bind(string name) => new()
        {
            Kind = MountStepKind.Bind, Source = $"/sys/fs/cgroup/{name}/hcs/ctr", Target = "/sys/fs/cgroup/" + name,
            AttrSet = attrs, AttrClear = ATTR__ATIME, Propagation = MS_PRIVATE, Recursive = true, Needs = CgroupStage.Made,
        };
        Assert.Equal(
        [
            new MountStep { Kind = MountStepKind.Mount, Source = "tmpfs", FsType = "tmpfs", Target = "/sys/fs/cgroup", Flags = flags, Data = "mode=755", Needs = CgroupStage.Made },
            Bind("cpu,cpuacct"),
            Link("cpu", "cpu,cpuacct"),
            Link("cpuacct", "cpu,cpuacct"),
            Bind("memory"),
            Bind("net_cls,net_prio"),
            Link("net_cls", "net_cls,net_prio"),
            Link("net_prio", "net_cls,net_prio"),
        ], steps.Take(8));
        // the tmpfs is made read-only after its sub-mounts, as the very last step
        Assert.Equal(new MountStep { Kind = MountStepKind.SetAttr, Target = "/sys/fs/cgroup", AttrSet = ATTR_RDONLY, Needs = CgroupStage.Made }, steps[^1]);
        Assert.Single(steps, s => s.Kind == MountStepKind.SetAttr);
    }

    [Fact]
    public void Cgroup_tmpfs_is_always_nosuid_nodev_noexec()
    {
        _host.CgroupView = FakeHost.V1;
        var (steps, _) = Plan(WithMounts(Cgroup()));
        Assert.Equal(MS_NOSUID | MS_NODEV | MS_NOEXEC, steps[0].Flags);
        Assert.DoesNotContain(steps, s => s.Kind == MountStepKind.SetAttr); // not read-only: nothing to do last
    }

    [Fact]
    public void Cgroup_on_a_hybrid_host_adds_the_unified_hierarchy()
    {
        _host.CgroupView = FakeHost.Hybrid;
        var (steps, _) = Plan(WithMounts(Cgroup()));
        Assert.Equal(
        [
            ("tmpfs", "/sys/fs/cgroup"), ("/sys/fs/cgroup/memory/hcs/ctr", "/sys/fs/cgroup/memory"),
            ("/sys/fs/cgroup/unified/hcs/ctr", "/sys/fs/cgroup/unified"),
        ], NonDev(steps).Select(s => (s.Source!, s.Target)));
        Assert.Equal(new MountStep
        {
            Kind = MountStepKind.Bind, Source = "/sys/fs/cgroup/unified/hcs/ctr", Target = "/sys/fs/cgroup/unified",
            Propagation = MS_PRIVATE, Recursive = true, Needs = CgroupStage.Made,
        }, NonDev(steps)[2]);
    }

    [Fact]
    public void A_cgroup2_mount_waits_for_the_cgroup_namespace()
    {
        var (steps, _) = Plan(WithMounts(new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup2", Source = "cgroup2" }));
        Assert.Equal(CgroupStage.Joined, NonDev(steps).Single().Needs);
    }

    [Fact]
    public void Steps_are_ordered_by_cgroup_stage_with_whatever_is_nested_with_them_and_the_rest_keeps_its_order()
    {
        MountStep M(string target, CgroupStage needs = CgroupStage.None, MountStepKind kind = MountStepKind.Mount) =>
            new() { Kind = kind, Target = target, Needs = needs };
        var steps = new List<MountStep>
        {
            M("/proc"),
            M("/sys/fs/cgroup", CgroupStage.Made),
            M("/sys/fs/cgroup/cpu", CgroupStage.Made),
            M("/data"),
            M("/sys/fs/cgroup/extra"),           // inside the cgroup tmpfs: after it
            M("/sys"),                           // above it: would cover it if moved before
            M("/dev/sda", CgroupStage.Joined, MountStepKind.Mknod),
            M("/dev/null", kind: MountStepKind.Mknod),
            M("/dev/sda/x"),                     // below a joined step: after it
            M("/sys/fs/cgroup/v2", CgroupStage.Joined),
            M("/sys/fs/cgroup", CgroupStage.Made, MountStepKind.SetAttr), // above a joined step: after it
        };
        MountPlanner.OrderByCgroupStage(steps);
        Assert.Equal(["/proc", "/data", "/dev/null",
                      "/sys/fs/cgroup", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/extra", "/sys",
                      "/dev/sda", "/dev/sda/x", "/sys/fs/cgroup/v2", "/sys/fs/cgroup"],
            steps.Select(s => s.Target));
        Assert.Equal(MountStepKind.SetAttr, steps[^1].Kind);

        var none = new List<MountStep> { M("/proc"), M("/dev") };
        MountPlanner.OrderByCgroupStage(none);
        Assert.Equal(["/proc", "/dev"], none.Select(s => s.Target));
    }

    [Fact]
    public void A_bind_of_a_cgroup_directory_is_an_ordinary_bind()
    {
        _host.With("/sys/fs/cgroup", HostPathKind.Directory);
        var (steps, _) = Plan(WithMounts(new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "/sys/fs/cgroup", Options = ["rbind"] }));
        Assert.Equal(MountStepKind.Bind, steps[0].Kind);
        Assert.Equal(0, _host.CgroupCalls);
    }

    // ---- /dev ------------------------------------------------------------------------------------

    private static readonly string[] DevSymlinks = ["/dev/ptmx", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/core"];

    [Fact]
    public void Default_devices_and_dev_symlinks_are_added()
    {
        var (steps, _) = Plan(WithMounts(new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs" }));
        Assert.Equal("/dev", steps[0].Target);
        var nodes = steps.Where(s => s.Kind == MountStepKind.Mknod).ToList();
        Assert.Equal(
        [
            ("/dev/null", 0x103ul), ("/dev/zero", 0x105ul), ("/dev/full", 0x107ul),
            ("/dev/random", 0x108ul), ("/dev/urandom", 0x109ul), ("/dev/tty", 0x500ul),
        ], nodes.Select(n => (n.Target, n.Device)));
        Assert.All(nodes, n =>
        {
            Assert.Equal(S_IFCHR | 0x1b6, n.Mode); // crw-rw-rw-
            Assert.Equal(0, n.Uid);
            Assert.Equal(0, n.Gid);
        });
        var links = steps.Where(s => s.Kind == MountStepKind.Symlink).ToList();
        Assert.Equal(DevSymlinks, links.Select(l => l.Target));
        Assert.Equal(["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "/proc/kcore"], links.Select(l => l.Source!));
        Assert.Equal(1 + 6 + 6, steps.Count);
    }

    [Fact]
    public void No_dev_core_link_where_the_host_has_no_kcore()
    {
        _host.Paths.Remove("/proc/kcore");
        var (steps, _) = Plan(new Spec());
        Assert.DoesNotContain(steps, s => s.Target == "/dev/core");
        Assert.Contains(steps, s => s.Target == "/dev/stderr");
    }

    [Theory]
    [InlineData("/dev")]
    [InlineData("dev")]
    [InlineData("/dev/")] // BUG: not normalised, so the host's /dev gets the default nodes and symlinks
    public void A_bind_mounted_dev_gets_no_devices_or_symlinks(string destination)
    {
        _host.With("/dev", HostPathKind.Directory);
        var (steps, _) = Plan(WithMounts(new Mount { Destination = destination, Type = "bind", Source = "/dev", Options = ["rbind"] }));
        Assert.Equal(MountStepKind.Bind, Assert.Single(steps).Kind);
    }

    [Fact]
    public void Spec_devices_come_first_with_their_type_mode_and_owner()
    {
        var spec = new Spec
        {
            Linux = new OciLinux
            {
                Devices =
                [
                    new Device { Type = "b", Path = "/dev/sda", Major = 8, Minor = 1, FileMode = 0x1b0 /* 0660 */, Uid = 5, Gid = 6 },
                    new Device { Type = "p", Path = "dev/fifo", FileMode = 0x1000 | 0x180 /* S_IFIFO|0600 */ },
                    new Device { Type = "u", Path = "/dev/null", Major = 1, Minor = 3 },
                    new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229 },
                ],
            },
        };
        var nodes = Plan(spec).Steps.Where(s => s.Kind == MountStepKind.Mknod).ToList();
        // the spec's devices are made in the container's devices cgroup, as runc makes them
        Assert.Equal(new MountStep { Kind = MountStepKind.Mknod, Target = "/dev/sda", Mode = S_IFBLK | 0x1b0, Device = 0x801, Uid = 5, Gid = 6, Needs = CgroupStage.Joined }, nodes[0]);
        Assert.Equal(new MountStep { Kind = MountStepKind.Mknod, Target = "/dev/fifo", Mode = S_IFIFO | 0x180, Device = 0, Uid = 0, Gid = 0, Needs = CgroupStage.Joined }, nodes[1]);
        Assert.All(nodes.Skip(4), n => Assert.Equal(CgroupStage.None, n.Needs)); // the defaults are not
        Assert.Equal(S_IFCHR | 0x1b6, nodes[2].Mode); // "u" is a character device; default mode 0666
        Assert.Equal(S_IFCHR | 0x1b6, nodes[3].Mode);
        Assert.Equal(10ul << 8 | 229, nodes[3].Device);
        // /dev/null was given by the spec, so it is not added again
        Assert.Equal(["/dev/sda", "/dev/fifo", "/dev/null", "/dev/fuse", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"],
            nodes.Select(n => n.Target));
    }

    [Fact]
    public void In_a_new_user_namespace_device_nodes_become_binds_of_the_hosts_nodes()
    {
        var spec = new Spec { Linux = new OciLinux { Devices = [new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229 }] } };
        var (steps, _) = Plan(spec, newUserns: true);
        Assert.DoesNotContain(steps, s => s.Kind == MountStepKind.Mknod);
        var binds = steps.Where(s => s.Kind == MountStepKind.Bind).ToList();
        Assert.Equal(["/dev/fuse", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"], binds.Select(b => b.Target));
        Assert.All(binds, b =>
        {
            Assert.Equal(b.Target, b.Source);
            Assert.True(b.TargetIsFile);
        });
        Assert.Equal(DevSymlinks, steps.Where(s => s.Kind == MountStepKind.Symlink).Select(l => l.Target));
    }

    [Fact]
    public void Steps_follow_the_spec_order_then_dev_then_final_steps()
    {
        _host.CgroupView = FakeHost.V1;
        var (steps, _) = Plan(WithMounts(
            new Mount { Destination = "/proc", Type = "proc" },
            Cgroup("ro"),
            new Mount { Destination = "/sys", Type = "sysfs", Options = ["rro"] },
            new Mount { Destination = "/dev", Type = "tmpfs" }));
        int cgroupTmpfs = steps.FindIndex(s => s.FsType == "tmpfs" && s.Target == "/sys/fs/cgroup");
        int sys = steps.FindIndex(s => s.FsType == "sysfs");
        int dev = steps.FindIndex(s => s.Target == "/dev" && s.Kind == MountStepKind.Mount);
        int firstNode = steps.FindIndex(s => s.Kind == MountStepKind.Mknod);
        Assert.True(0 == steps.FindIndex(s => s.Target == "/proc") && cgroupTmpfs < sys && sys < dev && dev < firstNode);
        // final steps in the order their mounts were planned: the cgroup tmpfs, then /sys
        Assert.Equal(["/sys/fs/cgroup", "/sys"], steps.Where(s => s.Kind == MountStepKind.SetAttr).Select(s => s.Target));
        Assert.Equal(MountStepKind.SetAttr, steps[^2].Kind);
    }

    // ---- helpers -----------------------------------------------------------------------------------

    [Theory]
    [InlineData(1ul, 3ul, 0x103ul)]
    [InlineData(136ul, 0ul, 0x8800ul)]
    [InlineData(136ul, 5ul, 0x8805ul)]
    [InlineData(4095ul, 255ul, 0xffffful)]
    [InlineData(4096ul, 256ul, 0x100000100000ul)]
    [InlineData(259ul, 65536ul, 0x10010300ul)]
    [InlineData(0x12345ul, 0x6789aul, 0x120006783459aul)]
    [InlineData(0xffffful, 0xffffful, 0xff000fffffffful)]
    [InlineData(0xfffffffful, 0xfffffffful, 0xfffffffffffffffful)]
    public void MakeDev_matches_glibc(ulong major, ulong minor, ulong dev) => // values printed by glibc's makedev()
        Assert.Equal(dev, MakeDev(major, minor));

    [Fact]
    public void MapText_is_one_line_per_mapping()
    {
        Assert.Equal("0 1000 1\n1 100000 65536\n", MapText(
        [
            new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 },
            new IdMapping { ContainerId = 1, HostId = 100000, Size = 65536 },
        ]));
        Assert.Equal("", MapText([]));
        Assert.Equal("4294967295 0 1\n", MapText([new IdMapping { ContainerId = uint.MaxValue, HostId = 0, Size = 1 }]));
    }

    [Theory]
    [InlineData("/tmp", "/tmp")]
    [InlineData("tmp", "/tmp")]
    [InlineData("a/b", "/a/b")]
    [InlineData("", "/")]
    public void Normalize_makes_destinations_absolute(string input, string expected) =>
        Assert.Equal(expected, Normalize(input));

    [Fact]
    public void Default_devices_are_runcs_six()
    {
        Assert.Equal(
        [
            ("/dev/null", 1L, 3L), ("/dev/zero", 1L, 5L), ("/dev/full", 1L, 7L),
            ("/dev/random", 1L, 8L), ("/dev/urandom", 1L, 9L), ("/dev/tty", 5L, 0L),
        ], DefaultDevices);
    }
}
