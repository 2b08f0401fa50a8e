
namespace Hcs.Linux.Seccomp;

/// <summary>The names an OCI <c>linux.seccomp</c> section uses, mapped to kernel and libseccomp
/// numbers. One table per kind, so validation ("unknown action"), compilation and a
/// <c>features</c> report can never disagree. None of these needs libseccomp loaded: the
/// values are ABI constants from linux/seccomp.h, linux/audit.h and seccomp.h (2.5.4).</summary>
public static class SeccompNames
{
    // Return values of a filter (SECCOMP_RET_*), which are also libseccomp's SCMP_ACT_* values.
    // The low 16 bits of ERRNO and TRACE carry the errno or the tracer's message.
    internal const uint ActKillProcess = 0x8000_0000;
    internal const uint ActKillThread = 0x0000_0000;
    internal const uint ActTrap = 0x0003_0000;
    internal const uint ActErrno = 0x0005_0000;
    internal const uint ActNotify = 0x7fc0_0000;
    internal const uint ActTrace = 0x7ff0_0000;
    internal const uint ActLog = 0x7ffc_0000;
    internal const uint ActAllow = 0x7fff_0000;

    /// <summary>OCI action name → SCMP_ACT_* base value (ERRNO and TRACE get their data added).
    /// SCMP_ACT_KILL is the historical name of KILL_THREAD, as in libseccomp and runc.</summary>
    public static readonly IReadOnlyDictionary<string, uint> Actions = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        ["SCMP_ACT_KILL"] = ActKillThread,
        ["SCMP_ACT_KILL_THREAD"] = ActKillThread,
        ["SCMP_ACT_KILL_PROCESS"] = ActKillProcess,
        ["SCMP_ACT_TRAP"] = ActTrap,
        ["SCMP_ACT_ERRNO"] = ActErrno,
        ["SCMP_ACT_TRACE"] = ActTrace,
        ["SCMP_ACT_ALLOW"] = ActAllow,
        ["SCMP_ACT_LOG"] = ActLog,
        ["SCMP_ACT_NOTIFY"] = ActNotify,
    };

    /// <summary>OCI operator → enum scmp_compare. For SCMP_CMP_MASKED_EQ, <c>value</c> is the
    /// mask and <c>valueTwo</c> the value compared after masking (libseccomp's datum_a/datum_b).</summary>
    public static readonly IReadOnlyDictionary<string, int> Operators = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["SCMP_CMP_NE"] = 1,
        ["SCMP_CMP_LT"] = 2,
        ["SCMP_CMP_LE"] = 3,
        ["SCMP_CMP_EQ"] = 4,
        ["SCMP_CMP_GE"] = 5,
        ["SCMP_CMP_GT"] = 6,
        ["SCMP_CMP_MASKED_EQ"] = 7,
    };

    // linux/audit.h: an AUDIT_ARCH_* value is the ELF machine plus these convention bits.
    private const uint Arch64 = 0x8000_0000, ArchLe = 0x4000_0000, ArchMipsN32 = 0x2000_0000;

    /// <summary>OCI architecture → AUDIT_ARCH_* token (libseccomp's SCMP_ARCH_* value). Only the
    /// architectures libseccomp 2.5.4 implements; a unit test checks each one appears in the BPF.</summary>
    public static readonly IReadOnlyDictionary<string, uint> Architectures = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        ["SCMP_ARCH_X86"] = 3 | ArchLe,                          // EM_386
        ["SCMP_ARCH_X86_64"] = 62 | Arch64 | ArchLe,             // EM_X86_64
        ["SCMP_ARCH_X32"] = 62 | ArchLe,                         // x86_64 machine, 32-bit convention
        ["SCMP_ARCH_ARM"] = 40 | ArchLe,                         // EM_ARM
        ["SCMP_ARCH_AARCH64"] = 183 | Arch64 | ArchLe,           // EM_AARCH64
        ["SCMP_ARCH_MIPS"] = 8,                                  // EM_MIPS, big endian
        ["SCMP_ARCH_MIPS64"] = 8 | Arch64,
        ["SCMP_ARCH_MIPS64N32"] = 8 | Arch64 | ArchMipsN32,
        ["SCMP_ARCH_MIPSEL"] = 8 | ArchLe,
        ["SCMP_ARCH_MIPSEL64"] = 8 | Arch64 | ArchLe,
        ["SCMP_ARCH_MIPSEL64N32"] = 8 | Arch64 | ArchLe | ArchMipsN32,
        ["SCMP_ARCH_PPC"] = 20,                                  // EM_PPC
        ["SCMP_ARCH_PPC64"] = 21 | Arch64,                       // EM_PPC64
        ["SCMP_ARCH_PPC64LE"] = 21 | Arch64 | ArchLe,
        ["SCMP_ARCH_S390"] = 22,                                 // EM_S390
        ["SCMP_ARCH_S390X"] = 22 | Arch64,
        ["SCMP_ARCH_PARISC"] = 15,                               // EM_PARISC
        ["SCMP_ARCH_PARISC64"] = 15 | Arch64,
        ["SCMP_ARCH_RISCV64"] = 243 | Arch64 | ArchLe,           // EM_RISCV
    };

    // SECCOMP_FILTER_FLAG_* from linux/seccomp.h: the flags argument of seccomp(2).
    public const uint FlagTsync = 1, FlagLog = 2, FlagSpecAllow = 4, FlagNewListener = 8, FlagWaitKillableRecv = 32;

    /// <summary>The flags an OCI config may ask for. NEW_LISTENER is not among them: the
    /// compiler adds it whenever an action is SCMP_ACT_NOTIFY.</summary>
    public static readonly IReadOnlyDictionary<string, uint> Flags = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        ["SECCOMP_FILTER_FLAG_TSYNC"] = FlagTsync,
        ["SECCOMP_FILTER_FLAG_LOG"] = FlagLog,
        ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"] = FlagSpecAllow,
        ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"] = FlagWaitKillableRecv,
    };

    /// <summary>
    /// Syscalls that kernels define but a libseccomp build may not know yet. A name libseccomp
    /// cannot resolve is an error (a misspelt name would silently allow or deny nothing), except
    /// a name in this list: it is skipped, as runc skips every unknown name, so a profile
    /// written for a newer kernel (docker's and podman's add new calls as kernels add them)
    /// still runs here. The skipped syscall then gets the default action.
    /// </summary>
    /// <remarks>Every call added from Linux 5.3 (clone3, 435) to 6.17 (file_setattr, 469), plus
    /// the x86-only uretprobe. Debian 12's libseccomp 2.5.4 knows up to futex_requeue (456);
    /// podman's profile in containers-common 0.50 uses nothing it does not know. Add names here
    /// as profiles start using them; never add a name that is not a real syscall.</remarks>
    public static readonly IReadOnlySet<string> NewerSyscalls = new HashSet<string>(StringComparer.Ordinal)
    {
        "clone3", "close_range", "openat2", "pidfd_getfd", "faccessat2", "process_madvise",
        "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
        "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease",
        "futex_waitv", "set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack",
        "futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount",
        "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat",
        "getxattrat", "listxattrat", "removexattrat", "open_tree_attr", "file_getattr",
        "file_setattr", "uretprobe",
    };
}
