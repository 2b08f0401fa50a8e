using Hcs.Linux.Containers;
using Hcs.Linux.Rootfs;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Tests.Unit.Planning;

/// <summary>ContainerPlanner: the spawn request for create (namespaces, maps, rootfs, process,
/// hooks) and for exec (join everything of the container's init).</summary>
public sealed class ContainerPlannerTests
{
    private const ulong CLONE_NEWNS = 0x00020000, CLONE_NEWUTS = 0x04000000, CLONE_NEWIPC = 0x08000000,
        CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000, CLONE_NEWCGROUP = 0x02000000;

    private readonly FakeHost _host = new();

    private static readonly ContainerPlanner.CreateInputs Inputs =
        new("ctr1", "/bundle", "/bundle/rootfs", NoPivot: false, NoNewKeyring: false, PreserveFds: 0, Terminal: false);

    private static Spec Base(params string[] namespaces) => new()
    {
        OciVersion = "1.2.0",
        Root = new Root { Path = "rootfs" },
        Process = new Process { Args = ["sh", "-c", "true"], Env = ["A=1"], Cwd = "/work" },
        Linux = new OciLinux { Namespaces = [.. namespaces.Select(n => new Namespace { Type = n })] },
    };

    private SpawnRequest Create(Spec spec, ContainerPlanner.CreateInputs? input = null) =>
        ContainerPlanner.PlanCreate(spec, input ?? Inputs, _host);

    [Fact]
    public void Namespace_kinds_have_the_kernels_clone_flags_and_proc_names()
    {
        Assert.Equal((CLONE_NEWNS, "mnt"), LinuxNames.Namespaces["mount"]);
        Assert.Equal((CLONE_NEWUTS, "uts"), LinuxNames.Namespaces["uts"]);
        Assert.Equal((CLONE_NEWIPC, "ipc"), LinuxNames.Namespaces["ipc"]);
        Assert.Equal((CLONE_NEWUSER, "user"), LinuxNames.Namespaces["user"]);
        Assert.Equal((CLONE_NEWPID, "pid"), LinuxNames.Namespaces["pid"]);
        Assert.Equal((CLONE_NEWNET, "net"), LinuxNames.Namespaces["network"]);
        Assert.Equal((CLONE_NEWCGROUP, "cgroup"), LinuxNames.Namespaces["cgroup"]);
        Assert.Equal((0x80ul, "time"), LinuxNames.Namespaces["time"]);
    }

    [Theory]
    [InlineData("mount", CLONE_NEWNS)]
    [InlineData("uts", CLONE_NEWNS | CLONE_NEWUTS)]
    [InlineData("ipc", CLONE_NEWNS | CLONE_NEWIPC)]
    [InlineData("pid", CLONE_NEWNS | CLONE_NEWPID)]
    [InlineData("network", CLONE_NEWNS | CLONE_NEWNET)]
    [InlineData("cgroup", CLONE_NEWNS | CLONE_NEWCGROUP)]
    public void Each_new_namespace_adds_its_clone_flag(string ns, ulong flags)
    {
        var r = Create(ns == "mount" ? Base("mount") : Base("mount", ns));
        Assert.Equal(flags, r.CloneFlags);
        Assert.Empty(r.Joins);
        Assert.Null(r.TimeOffsets);
        Assert.Null(r.UidMap);
    }

    [Fact]
    public void All_namespaces_new()
    {
        var spec = Base("pid", "network", "ipc", "uts", "mount", "cgroup", "user");
        spec.Linux!.UidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
        spec.Linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = 200000, Size = 65536 }, new IdMapping { ContainerId = 65536, HostId = 5, Size = 1 }];
        var r = Create(spec);
        Assert.Equal(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUSER, r.CloneFlags);
        Assert.Equal("0 100000 65536\n", r.UidMap);
        Assert.Equal("0 200000 65536\n65536 5 1\n", r.GidMap);
    }

    [Fact]
    public void Mounts_before_the_cgroup_mount_may_be_made_before_the_child_is_in_its_cgroup()
    {
        _host.CgroupView = FakeHost.V1;
        var spec = Base("pid", "network", "mount", "cgroup");
        spec.Mounts =
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/tmp", Type = "tmpfs", Source = "tmpfs" },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup" },
            new Mount { Destination = "/run", Type = "tmpfs", Source = "tmpfs" },
        ];
        var r = Create(spec);
        int early = r.EarlySteps;
        // everything but the cgroup mount, which waits for the cgroup: /run too, though it
        // comes after it in the spec (nothing ties the two), and /dev's nodes
        Assert.True(early > 0);
        Assert.All(r.Steps.Take(early), s => Assert.Equal(CgroupStage.None, s.Needs));
        Assert.All(r.Steps.Skip(early), s => Assert.Equal(CgroupStage.Made, s.Needs));
        Assert.Equal("/sys/fs/cgroup", r.Steps[early].Target);
        // the cgroup mount is binds of the container's directories: all of it waits only for
        // those, none for the join
        Assert.Equal(r.Steps.Count, r.MadeSteps);
        Assert.Contains(r.Steps.Take(early), s => s.Target == "/run");
        Assert.True(r.Steps.FindIndex(s => s.Target == "/proc") < r.Steps.FindIndex(s => s.Target == "/run"));

        // no cgroup mount: every step may go early
        spec.Mounts.RemoveAt(2);
        Assert.Equal(Create(spec).Steps.Count, Create(spec).EarlySteps);

        // a user namespace (the child must be root in it first) or a joined namespace: none early
        var userns = Base("mount", "user");
        userns.Mounts = spec.Mounts;
        userns.Linux!.UidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
        userns.Linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
        Assert.Equal(0, Create(userns).EarlySteps);
        Assert.Equal(0, Create(userns).MadeSteps);
        var joined = Base("mount");
        joined.Mounts = spec.Mounts;
        joined.Linux!.Namespaces!.Add(new Namespace { Type = "network", Path = "/var/run/netns/a" });
        Assert.Equal(0, Create(joined).EarlySteps);
        Assert.Equal(0, Create(joined).MadeSteps);
    }

    [Fact]
    public void The_cgroup_binds_come_before_the_steps_that_need_the_child_in_its_cgroup()
    {
        _host.CgroupView = FakeHost.V1;
        var spec = Base("pid", "network", "mount", "cgroup");
        spec.Mounts =
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup" },
        ];
        spec.Linux!.Devices = [new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229 }];
        var r = Create(spec);
        Assert.All(r.Steps.Take(r.EarlySteps), s => Assert.Equal(CgroupStage.None, s.Needs));
        Assert.All(r.Steps.Skip(r.EarlySteps).Take(r.MadeSteps - r.EarlySteps), s => Assert.Equal(CgroupStage.Made, s.Needs));
        Assert.Equal(["/dev/fuse"], r.Steps.Skip(r.MadeSteps).Select(s => s.Target));
        Assert.True(r.MadeSteps > r.EarlySteps);
    }

    [Fact]
    public void A_cgroup2_mount_and_the_specs_devices_wait_for_the_cgroup()
    {
        // a cgroup2 mount shows the root of the cgroup namespace: made before the child's
        // unshare it would show the host's whole tree
        var spec = Base("pid", "mount", "cgroup");
        spec.Mounts =
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup2", Source = "cgroup2" },
        ];
        spec.Linux!.Devices = [new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229 }];
        var r = Create(spec);
        var late = r.Steps.Skip(r.EarlySteps).ToList();
        Assert.Contains(late, s => s.FsType == "cgroup2" && s.Target == "/sys/fs/cgroup");
        Assert.Contains(late, s => s.Target == "/dev/fuse");
        Assert.DoesNotContain(r.Steps.Take(r.EarlySteps), s => s.FsType == "cgroup2" || s.Target == "/dev/fuse");
        Assert.Contains(r.Steps.Take(r.EarlySteps), s => s.Target == "/proc");
    }

    [Fact]
    public void Masked_and_read_only_paths_go_early_only_when_nothing_later_meets_them()
    {
        _host.CgroupView = FakeHost.V1;
        Spec Make()
        {
            var spec = Base("pid", "network", "mount", "cgroup");
            spec.Mounts =
            [
                new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
                new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup" },
            ];
            spec.Linux!.MaskedPaths = ["/proc/kcore", "/sys/firmware"];
            spec.Linux.ReadonlyPaths = ["/proc/sys"];
            spec.Process!.Cwd = "/work";
            return spec;
        }
        Assert.True(Create(Make()).EarlyPaths);

        var sysctl = Make(); // written through /proc/sys after pivot_root: before it turns read-only
        sysctl.Linux!.Sysctl = new() { ["kernel.shmmax"] = "1" };
        Assert.False(Create(sysctl).EarlyPaths);

        var cwdInside = Make(); // the cwd is made after them: it must not be inside one
        cwdInside.Process!.Cwd = "/proc/sys/x";
        Assert.False(Create(cwdInside).EarlyPaths);

        var underCgroup = Make(); // a path under a mount made later (the cgroup one)
        underCgroup.Linux!.MaskedPaths = ["/sys/fs/cgroup/memory"];
        Assert.False(Create(underCgroup).EarlyPaths);

        var mountedLater = Make(); // a later mount (the cgroup one) inside a read-only path
        mountedLater.Linux!.ReadonlyPaths = ["/sys"];
        Assert.False(Create(mountedLater).EarlyPaths);

        var mountedEarly = Make(); // a mount the spec lists later, but made early: before them
        mountedEarly.Mounts!.Add(new Mount { Destination = "/proc/sys/fs/binfmt_misc", Type = "tmpfs", Source = "tmpfs" });
        Assert.True(Create(mountedEarly).EarlyPaths);

        var terminal = Make(); // its /dev/console is bound after pivot_root
        Assert.False(ContainerPlanner.PlanCreate(terminal, Inputs with { Terminal = true }, _host).EarlyPaths);

        var unclean = Make(); // compared cleaned: "/sys//fs/cgroup/x/" is under the late cgroup mount
        unclean.Linux!.MaskedPaths = ["/sys//fs/cgroup/x/"];
        Assert.False(Create(unclean).EarlyPaths);

        var userns = Make(); // no early steps at all
        userns.Linux!.Namespaces!.Add(new Namespace { Type = "user" });
        userns.Linux.UidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
        userns.Linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
        Assert.False(Create(userns).EarlyPaths);
    }

    [Fact]
    public void A_time_namespace_has_no_clone_flag_but_offsets_text()
    {
        var spec = Base("mount", "time");
        spec.Linux!.TimeOffsets = new()
        {
            ["monotonic"] = new TimeOffset { Secs = -3600, Nanosecs = 5 },
            ["boottime"] = new TimeOffset { Secs = 86400, Nanosecs = 0 },
        };
        var r = Create(spec);
        Assert.Equal(CLONE_NEWNS, r.CloneFlags);
        Assert.Equal("monotonic -3600 5\nboottime 86400 0\n", r.TimeOffsets);

        spec.Linux.TimeOffsets = null;
        Assert.Equal("", Create(spec).TimeOffsets); // a time namespace without offsets
    }

    [Fact]
    public void Namespaces_with_a_path_are_joined_user_first_mount_last()
    {
        var spec = Base();
        spec.Linux!.Namespaces =
        [
            new Namespace { Type = "mount" },
            new Namespace { Type = "network", Path = "/var/run/netns/a" },
            new Namespace { Type = "time", Path = "/proc/9/ns/time" },
            new Namespace { Type = "pid", Path = "/proc/9/ns/pid" },
            new Namespace { Type = "user", Path = "/proc/9/ns/user" },
            new Namespace { Type = "cgroup", Path = "/proc/9/ns/cgroup" },
            new Namespace { Type = "uts", Path = "/proc/9/ns/uts" },
            new Namespace { Type = "ipc", Path = "/proc/9/ns/ipc" },
        ];
        var r = Create(spec);
        Assert.Equal(["user", "ipc", "uts", "network", "pid", "cgroup", "time"], r.Joins.Select(j => j.Type));
        Assert.Equal("/var/run/netns/a", r.Joins.Single(j => j.Type == "network").Path);
        Assert.Equal(CLONE_NEWNS, r.CloneFlags); // joined ones are not created
        Assert.Null(r.UidMap); // a joined user namespace already has its maps
        Assert.Null(r.TimeOffsets);
    }

    [Fact]
    public void JoinOrder_is_user_first_and_mount_last() =>
        Assert.Equal(["user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"], LinuxNames.JoinOrder);

    [Fact]
    public void Without_a_new_mount_namespace_planning_fails()
    {
        var e = Assert.Throws<DocumentException>(() => Create(Base("pid")));
        var err = Assert.Single(e.Errors);
        Assert.Equal("$.linux.namespaces", err.Path);
        Assert.Equal("a new mount namespace is required (runhcs builds the root filesystem in it)", err.Message);

        var joined = Base(); joined.Linux!.Namespaces = [new Namespace { Type = "mount", Path = "/proc/1/ns/mnt" }];
        Assert.Equal("$.linux.namespaces", Assert.Single(Assert.Throws<DocumentException>(() => Create(joined)).Errors).Path);
    }

    [Fact]
    public void Mount_errors_are_reported_with_the_namespace_error()
    {
        var spec = Base("pid");
        spec.Mounts = [new Mount { Destination = "/x", Type = "bind", Source = "/missing" }];
        var e = Assert.Throws<DocumentException>(() => Create(spec));
        Assert.Equal(["$.linux.namespaces", "$.mounts[0].source"], e.Errors.Select(x => x.Path));
        Assert.Equal("config.json", e.DocumentName);
    }

    [Fact]
    public void Rootfs_inputs_and_defaults()
    {
        var spec = Base("mount");
        spec.Root!.Readonly = true;
        spec.Hostname = "";
        var r = Create(spec, Inputs with { NoPivot = true, PreserveFds = 3 });
        Assert.True(r.SetupRootfs);
        Assert.True(r.NoPivot);
        Assert.True(r.RootReadonly);
        Assert.Equal("/bundle/rootfs", r.Rootfs);
        Assert.Equal(3, r.PreserveFds);
        Assert.Equal("_ses.ctr1", r.KeyringName);
        Assert.Null(r.Hostname);
        Assert.Null(r.Domainname);
        Assert.False(r.IsExec);
        Assert.Null(Create(spec, Inputs with { NoNewKeyring = true }).KeyringName);
    }

    [Fact]
    public void Hostname_and_domainname_are_passed_on()
    {
        var spec = Base("mount", "uts");
        spec.Hostname = "box";
        spec.Domainname = "example.org";
        var r = Create(spec);
        Assert.Equal("box", r.Hostname);
        Assert.Equal("example.org", r.Domainname);
    }

    [Fact]
    public void Root_propagation_defaults_to_rslave()
    {
        var r = Create(Base("mount"));
        Assert.Equal(MountPlanner.MS_SLAVE | MountPlanner.MS_REC, r.RootPropagation);
        Assert.Equal(0ul, r.RootfsPropagation);
        Assert.Null(r.RootfsParentMount);
    }

    [Theory]
    [InlineData("private", MountPlanner.MS_PRIVATE)]
    [InlineData("rprivate", MountPlanner.MS_PRIVATE | MountPlanner.MS_REC)]
    [InlineData("slave", MountPlanner.MS_SLAVE)]
    [InlineData("rslave", MountPlanner.MS_SLAVE | MountPlanner.MS_REC)]
    public void Rootfs_propagation_flags(string name, ulong flags)
    {
        Assert.Equal(flags, ContainerPlanner.PropagationFlags(name));
        var spec = Base("mount"); spec.Linux!.RootfsPropagation = name;
        var r = Create(spec);
        Assert.Equal(flags, r.RootPropagation);
        Assert.Equal(0ul, r.RootfsPropagation); // shared and unbindable need the post-pivot step
        Assert.Null(r.RootfsParentMount);
    }

    /// <summary>An unbindable "/" could not be bound onto itself: the rootfs is prepared under the
    /// default (rslave) and the unbindable propagation is applied after pivot_root.</summary>
    [Theory]
    [InlineData("unbindable", MountPlanner.MS_UNBINDABLE)]
    [InlineData("runbindable", MountPlanner.MS_UNBINDABLE | MountPlanner.MS_REC)]
    public void Unbindable_propagation_is_applied_after_pivot(string name, ulong flags)
    {
        Assert.Equal(flags, ContainerPlanner.PropagationFlags(name));
        var spec = Base("mount"); spec.Linux!.RootfsPropagation = name;
        var r = Create(spec);
        Assert.Equal(MountPlanner.MS_SLAVE | MountPlanner.MS_REC, r.RootPropagation);
        Assert.Equal(flags, r.RootfsPropagation);
        Assert.Null(r.RootfsParentMount);
    }

    [Theory]
    [InlineData("shared", MountPlanner.MS_SHARED)]
    [InlineData("rshared", MountPlanner.MS_SHARED | MountPlanner.MS_REC)]
    public void Shared_rootfs_propagation_names_the_parent_mount(string name, ulong flags)
    {
        _host.MountPoints.Add("/bundle");
        _host.MountPoints.Add("/bundle/rootfs/proc");
        var spec = Base("mount"); spec.Linux!.RootfsPropagation = name;
        var r = Create(spec);
        Assert.Equal(flags, r.RootPropagation);
        Assert.Equal(flags, r.RootfsPropagation);
        Assert.Equal("/bundle", r.RootfsParentMount); // the mount holding /bundle, rootfs's parent
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("bogus")]
    public void Unknown_or_missing_propagation_is_zero(string? name) => Assert.Equal(0ul, ContainerPlanner.PropagationFlags(name));

    [Fact]
    public void Capability_masks_have_one_bit_per_capability_number()
    {
        Assert.Equal(1ul, ContainerPlanner.Mask(["CAP_CHOWN"]));
        Assert.Equal(1ul << 21, ContainerPlanner.Mask(["CAP_SYS_ADMIN"]));
        Assert.Equal(1ul << 40, ContainerPlanner.Mask(["CAP_CHECKPOINT_RESTORE"]));
        Assert.Equal((1ul << 5) | (1ul << 10) | (1ul << 29), ContainerPlanner.Mask(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]));
        Assert.Equal(1ul << 5, ContainerPlanner.Mask(["CAP_KILL", "CAP_KILL"]));
        Assert.Equal(0ul, ContainerPlanner.Mask(null));
        Assert.Equal(0ul, ContainerPlanner.Mask([]));
        Assert.Equal((1ul << 41) - 1, ContainerPlanner.Mask([.. LinuxNames.Capabilities.Keys]));
    }

    [Theory]
    [InlineData("CAP_CHOWN", 0)]
    [InlineData("CAP_DAC_OVERRIDE", 1)]
    [InlineData("CAP_KILL", 5)]
    [InlineData("CAP_SETPCAP", 8)]
    [InlineData("CAP_NET_ADMIN", 12)]
    [InlineData("CAP_NET_RAW", 13)]
    [InlineData("CAP_SYS_CHROOT", 18)]
    [InlineData("CAP_SYS_PTRACE", 19)]
    [InlineData("CAP_SYS_ADMIN", 21)]
    [InlineData("CAP_MKNOD", 27)]
    [InlineData("CAP_AUDIT_WRITE", 29)]
    [InlineData("CAP_SETFCAP", 31)]
    [InlineData("CAP_MAC_ADMIN", 33)]
    [InlineData("CAP_SYSLOG", 34)]
    [InlineData("CAP_AUDIT_READ", 37)]
    [InlineData("CAP_PERFMON", 38)]
    [InlineData("CAP_BPF", 39)]
    [InlineData("CAP_CHECKPOINT_RESTORE", 40)]
    public void Capability_numbers_follow_linux_capability_h(string name, int number) =>
        Assert.Equal(number, LinuxNames.Capabilities[name]);

    [Fact]
    public void Capability_numbers_are_0_to_40_without_gaps() =>
        Assert.Equal(Enumerable.Range(0, 41), LinuxNames.Capabilities.Values.Order());

    [Fact]
    public void Process_settings()
    {
        var spec = Base("mount");
        spec.Process = new Process
        {
            Args = ["/bin/app", "--x"],
            Env = ["PATH=/bin", "HOME=/root"],
            Cwd = "/srv",
            User = new User { Uid = 1000, Gid = 1001, Umask = 0x12, AdditionalGids = [5, 6] },
            Rlimits =
            [
                new Rlimit { Type = "RLIMIT_NOFILE", Soft = 1024, Hard = 4096 },
                new Rlimit { Type = "RLIMIT_CORE", Soft = 0, Hard = ulong.MaxValue },
                new Rlimit { Type = "RLIMIT_RTTIME", Soft = 1, Hard = 2 },
            ],
            Capabilities = new Capabilities
            {
                Bounding = ["CAP_CHOWN", "CAP_SYS_ADMIN"], Effective = ["CAP_KILL"], Permitted = ["CAP_KILL", "CAP_NET_RAW"],
                Inheritable = ["CAP_SETUID"], Ambient = ["CAP_NET_BIND_SERVICE"],
            },
            NoNewPrivileges = true,
            Terminal = true,
            ConsoleSize = new Box { Height = 50, Width = 70000 },
        };
        var r = Create(spec, Inputs with { Terminal = true });
        Assert.Equal(["/bin/app", "--x"], r.Args);
        Assert.Equal(["PATH=/bin", "HOME=/root"], r.Env);
        Assert.Equal("/srv", r.Cwd);
        Assert.Equal(1000u, r.Uid);
        Assert.Equal(1001u, r.Gid);
        Assert.Equal(0x12u, r.Umask);
        Assert.Equal([5u, 6u], r.AdditionalGids);
        Assert.Equal([(7, 1024ul, 4096ul), (4, 0ul, ulong.MaxValue), (15, 1ul, 2ul)], r.Rlimits);
        Assert.Equal(new CapabilitySets(
            Bounding: 1ul | 1ul << 21, Effective: 1ul << 5, Permitted: 1ul << 5 | 1ul << 13,
            Inheritable: 1ul << 7, Ambient: 1ul << 10), r.Capabilities);
        Assert.True(r.NoNewPrivileges);
        Assert.True(r.Terminal);
        Assert.True(r.ConsoleMount);
        Assert.Equal(50, r.ConsoleRows);
        Assert.Equal(ushort.MaxValue, r.ConsoleCols); // clamped
    }

    [Fact]
    public void Process_defaults()
    {
        var spec = Base("mount");
        spec.Process = new Process { Args = ["sh"] };
        var r = Create(spec);
        Assert.Equal("/", r.Cwd);
        Assert.Empty(r.Env);
        Assert.Equal(0u, r.Uid);
        Assert.Null(r.Umask);
        Assert.Null(r.Capabilities); // keep what we have
        Assert.Empty(r.Rlimits);
        Assert.False(r.Terminal);
        Assert.False(r.ConsoleMount);
        Assert.Equal(0, r.ConsoleRows);
    }

    [Theory]
    [InlineData("RLIMIT_CPU", 0)]
    [InlineData("RLIMIT_FSIZE", 1)]
    [InlineData("RLIMIT_DATA", 2)]
    [InlineData("RLIMIT_STACK", 3)]
    [InlineData("RLIMIT_CORE", 4)]
    [InlineData("RLIMIT_RSS", 5)]
    [InlineData("RLIMIT_NPROC", 6)]
    [InlineData("RLIMIT_NOFILE", 7)]
    [InlineData("RLIMIT_MEMLOCK", 8)]
    [InlineData("RLIMIT_AS", 9)]
    [InlineData("RLIMIT_LOCKS", 10)]
    [InlineData("RLIMIT_SIGPENDING", 11)]
    [InlineData("RLIMIT_MSGQUEUE", 12)]
    [InlineData("RLIMIT_NICE", 13)]
    [InlineData("RLIMIT_RTPRIO", 14)]
    [InlineData("RLIMIT_RTTIME", 15)]
    public void Rlimit_numbers_follow_asm_generic_resource_h(string name, int number) =>
        Assert.Equal(number, LinuxNames.Rlimits[name]);

    [Fact]
    public void The_console_is_mounted_only_with_a_terminal()
    {
        var r = Create(Base("mount"), Inputs with { Terminal = true });
        Assert.True(r.ConsoleMount);
        Assert.False(Create(Base("mount"), Inputs with { Terminal = false }).ConsoleMount);
    }

    [Fact]
    public void Hooks_are_split_between_the_child_and_the_runtime()
    {
        var spec = Base("mount");
        Hook H(string p) => new() { Path = p };
        spec.Hooks = new Hooks
        {
            CreateContainer = [H("/cc1"), H("/cc2")],
            StartContainer = [H("/sc")],
            Poststart = [H("/ps")],
            Poststop = [H("/pst")],
        };
        var r = Create(spec);
        Assert.Equal(["/cc1", "/cc2"], r.CreateContainerHooks.Select(h => h.Path));
        Assert.Equal(["/sc"], r.StartContainerHooks.Select(h => h.Path));
        Assert.False(r.HookSync); // no prestart/createRuntime: the child need not stop for the runtime

        spec.Hooks.Prestart = [H("/pre")];
        Assert.True(Create(spec).HookSync);
        spec.Hooks.Prestart = [];
        Assert.False(Create(spec).HookSync);
        spec.Hooks.CreateRuntime = [H("/cr")];
        Assert.True(Create(spec).HookSync);
        spec.Hooks = null;
        var none = Create(spec);
        Assert.False(none.HookSync);
        Assert.Empty(none.CreateContainerHooks);
    }

    [Fact]
    public void Masked_readonly_paths_sysctls_and_personality()
    {
        var spec = Base("mount", "network", "ipc");
        spec.Linux!.MaskedPaths = ["/proc/kcore", "/proc/keys"];
        spec.Linux.ReadonlyPaths = ["/proc/sys"];
        spec.Linux.Sysctl = new() { ["net.ipv4.ip_forward"] = "1", ["kernel.shmmax"] = "100", ["net/core/somaxconn"] = "10" };
        spec.Linux.Personality = new Personality { Domain = "LINUX32" };
        var r = Create(spec);
        Assert.Equal(["/proc/kcore", "/proc/keys"], r.MaskedPaths);
        Assert.Equal(["/proc/sys"], r.ReadonlyPaths);
        Assert.Equal(
        [
            new("net/ipv4/ip_forward", "1"), new("kernel/shmmax", "100"), new("net/core/somaxconn", "10"),
        ], r.Sysctls);
        Assert.Equal(8, r.Personality);
        spec.Linux.Personality.Domain = "LINUX";
        Assert.Equal(0, Create(spec).Personality);
        spec.Linux.Personality = null;
        Assert.Null(Create(spec).Personality);
    }

    [Fact]
    public void Mount_steps_are_planned_with_user_and_cgroup_namespace_facts()
    {
        _host.CgroupView = FakeHost.V2;
        var spec = Base("mount", "user", "cgroup");
        spec.Linux!.UidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }];
        spec.Linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }];
        spec.Mounts = [new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup" }];
        var r = Create(spec);
        var cgroupBind = new MountStep
        {
            Kind = MountStepKind.Bind, Source = "/sys/fs/cgroup/hcs/ctr", Target = "/sys/fs/cgroup",
            Propagation = MountPlanner.MS_PRIVATE, Recursive = true, Needs = CgroupStage.Made,
            ConfigPath = "$.mounts[0]",
        };
        // the container's own directory, with or without a cgroup namespace (which shows it as
        // "/"), and in a user namespace too, where no cgroupfs could be mounted on v1
        Assert.Equal(cgroupBind, r.Steps.Single(s => s.Target == "/sys/fs/cgroup"));
        Assert.DoesNotContain(r.Steps, s => s.Kind == MountStepKind.Mknod); // userns: binds
        Assert.Contains(r.Steps, s => s.Kind == MountStepKind.Bind && s.Target == "/dev/null");

        spec = Base("mount");
        spec.Mounts = [new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup" }];
        r = Create(spec);
        Assert.Equal(cgroupBind, r.Steps.Single(s => s.Target == "/sys/fs/cgroup"));
        Assert.Contains(r.Steps, s => s.Kind == MountStepKind.Mknod && s.Target == "/dev/null");
    }

    // ---- exec ----------------------------------------------------------------------------------

    [Fact]
    public void Exec_joins_every_namespace_of_the_init_in_join_order()
    {
        var spec = Base("mount", "pid", "network", "ipc", "uts", "cgroup", "user", "time");
        spec.Linux!.Namespaces![2] = new Namespace { Type = "network", Path = "/var/run/netns/x" };
        var process = new Process { Args = ["ls", "-la"], Cwd = "/tmp", Env = ["X=1"], User = new User { Uid = 7 } };
        var r = ContainerPlanner.PlanExec(spec, 4242, process, terminal: true, preserveFds: 2);
        Assert.True(r.IsExec);
        Assert.Equal(
        [
            new NamespaceJoin("user", "/proc/4242/ns/user"),
            new NamespaceJoin("ipc", "/proc/4242/ns/ipc"),
            new NamespaceJoin("uts", "/proc/4242/ns/uts"),
            new NamespaceJoin("network", "/proc/4242/ns/net"),
            new NamespaceJoin("pid", "/proc/4242/ns/pid"),
            new NamespaceJoin("cgroup", "/proc/4242/ns/cgroup"),
            new NamespaceJoin("time", "/proc/4242/ns/time"),
            new NamespaceJoin("mount", "/proc/4242/ns/mnt"),
        ], r.Joins);
        Assert.Equal(0ul, r.CloneFlags);
        Assert.False(r.SetupRootfs);
        Assert.Empty(r.Steps);
        Assert.Equal(["ls", "-la"], r.Args);
        Assert.Equal("/tmp", r.Cwd);
        Assert.Equal(7u, r.Uid);
        Assert.True(r.Terminal);
        Assert.Equal(2, r.PreserveFds);
        Assert.Null(r.KeyringName);
    }

    [Fact]
    public void Exec_into_a_container_without_namespaces_joins_nothing()
    {
        var spec = Base(); spec.Linux = null;
        var r = ContainerPlanner.PlanExec(spec, 1, new Process { Args = ["true"] }, terminal: false, preserveFds: 0);
        Assert.Empty(r.Joins);
    }
}
