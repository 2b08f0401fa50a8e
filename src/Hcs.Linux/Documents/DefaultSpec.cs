using System.Runtime.InteropServices;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;
using OciSeccomp = Hcs.Schema.Oci.Seccomp;
using OciSpec = Hcs.Schema.Oci.Spec;

namespace Hcs.Linux.Documents;

/// <summary>
/// The spec a Container document without an OciSpecification runs: what `docker run` gives
/// (namespaces, mounts, the 14 default capabilities, masked and read-only /proc paths, a
/// seccomp profile), with hcs's pause process as the init. docs/design/0005-default-container.md
/// says where each value comes from and why.
/// </summary>
public static class DefaultSpec
{
    public const string PathVariable = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>The pause init's path as the spec names it; the monitor sees the
    /// <see cref="ContainerSpecBuilder.InitAnnotation"/> and runs the host's pause binary instead.</summary>
    public const string PauseArg = "/hcs-pause";

    /// <summary>docker's default capability set (moby oci/caps/defaults.go).</summary>
    public static readonly IReadOnlyList<string> Capabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    public static readonly IReadOnlyList<string> MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    public static readonly IReadOnlyList<string> ReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>Syscalls the default profile answers with EPERM (grouped as in 0005).</summary>
    public static readonly IReadOnlyList<string> DeniedSyscalls =
    [
        // the kernel itself: modules, kexec, reboot, swap, accounting, the kernel log
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
        "query_module", "get_kernel_syms", "reboot", "swapon", "swapoff", "acct", "syslog",
        // host-wide clocks
        "settimeofday", "clock_settime", "clock_adjtime", "stime",
        // kernel interfaces that are not namespaced or are a large attack surface
        "bpf", "perf_event_open", "userfaultfd", "add_key", "keyctl", "request_key", "lookup_dcookie",
        "quotactl", "quotactl_fd", "io_uring_setup", "io_uring_enter", "io_uring_register",
        // file handles bypass the mount namespace (the "shocker" escape)
        "open_by_handle_at", "name_to_handle_at",
        // mounts and namespaces (the container's view must stay the one the runtime built)
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "fsopen", "fsconfig", "fsmount",
        "fspick", "open_tree", "move_mount", "mount_setattr",
        // NUMA placement of other processes' memory
        "mbind", "set_mempolicy", "get_mempolicy", "move_pages",
        // obsolete or hardware-level interfaces
        "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "vm86", "vm86old", "ioperm", "iopl", "vhangup",
    ];

    /// <summary>CLONE_NEWUSER: the one namespace flag clone(2) accepts without CAP_SYS_ADMIN.</summary>
    public const ulong CloneNewUser = 0x1000_0000;

    /// <summary>ENOSYS, which makes libc fall back from clone3 to clone, whose flags the filter can see.</summary>
    public const uint Enosys = 38;

    public static OciSpec Create(string id) =>
        new()
        {
            OciVersion = SpecVersion.Current,
            Process = PauseProcess(),
            Annotations = new() { [ContainerSpecBuilder.InitAnnotation] = ContainerSpecBuilder.PauseInit },
            Root = new Root(),
            Hostname = ContainerSpecBuilder.DefaultHostname(id),
            Mounts =
            [
                new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
                new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
                new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            ],
            Linux = new OciLinux
            {
                Namespaces = [new() { Type = "pid" }, new() { Type = "ipc" }, new() { Type = "uts" }, new() { Type = "mount" },
                              new() { Type = "network" }, new() { Type = "cgroup" }],
                // Deny every device; the engine adds the standard ones (null, zero, tty, ...).
                Resources = new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }] },
                MaskedPaths = [.. MaskedPaths],
                ReadonlyPaths = [.. ReadonlyPaths],
                Seccomp = Seccomp(),
            },
        };

    /// <summary>The init when the document names none: it only waits for signals. Its
    /// settings are also what processes started later inherit.</summary>
    public static Process PauseProcess()
    {
        List<string> caps = [.. Capabilities];
        return new Process
        {
            Terminal = false,
            User = new User { Uid = 0, Gid = 0 },
            Args = [PauseArg],
            Env = [PathVariable],
            Cwd = "/",
            Capabilities = new Capabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] },
            // No rlimits: the monitor's are inherited, as docker's containers inherit dockerd's.
            // A fixed hard limit above the monitor's would need CAP_SYS_RESOURCE, which a
            // monitor running in a restricted environment may not have.
            NoNewPrivileges = false,
        };
    }

    /// <summary>A deny-list: everything is allowed except <see cref="DeniedSyscalls"/> (EPERM),
    /// clone with CLONE_NEWUSER (EPERM) and clone3 (ENOSYS). The compat architectures are
    /// listed so 32-bit syscalls go through the same rules instead of being killed.</summary>
    public static OciSeccomp Seccomp()
    {
        // clone's flags are its first argument, except on s390 where the stack comes first.
        uint cloneFlagsArg = RuntimeInformation.ProcessArchitecture == Architecture.S390x ? 1u : 0u;
        return new OciSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Architectures = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                Architecture.Arm64 => ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                _ => [],
            },
            Syscalls =
            [
                new SyscallRule { Names = [.. DeniedSyscalls], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1 },
                new SyscallRule
                {
                    Names = ["clone"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1,
                    Args = [new SyscallArg { Index = cloneFlagsArg, Op = "SCMP_CMP_MASKED_EQ", Value = CloneNewUser, ValueTwo = CloneNewUser }],
                },
                new SyscallRule { Names = ["clone3"], Action = "SCMP_ACT_ERRNO", ErrnoRet = Enosys },
            ],
        };
    }
}
