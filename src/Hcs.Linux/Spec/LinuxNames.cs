using Hcs.Linux.Native;

namespace Hcs.Linux.Spec;

/// <summary>The Linux names an OCI config uses, mapped to kernel numbers. One table per kind so
/// validation ("unknown capability") and planning (the bitmask) can never disagree.</summary>
public static class LinuxNames
{
    /// <summary>Capability numbers from linux/capability.h (CAP_LAST_CAP is 40 on 5.9+).</summary>
    public static readonly IReadOnlyDictionary<string, int> Capabilities = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["CAP_CHOWN"] = 0, ["CAP_DAC_OVERRIDE"] = 1, ["CAP_DAC_READ_SEARCH"] = 2, ["CAP_FOWNER"] = 3,
        ["CAP_FSETID"] = 4, ["CAP_KILL"] = 5, ["CAP_SETGID"] = 6, ["CAP_SETUID"] = 7, ["CAP_SETPCAP"] = 8,
        ["CAP_LINUX_IMMUTABLE"] = 9, ["CAP_NET_BIND_SERVICE"] = 10, ["CAP_NET_BROADCAST"] = 11,
        ["CAP_NET_ADMIN"] = 12, ["CAP_NET_RAW"] = 13, ["CAP_IPC_LOCK"] = 14, ["CAP_IPC_OWNER"] = 15,
        ["CAP_SYS_MODULE"] = 16, ["CAP_SYS_RAWIO"] = 17, ["CAP_SYS_CHROOT"] = 18, ["CAP_SYS_PTRACE"] = 19,
        ["CAP_SYS_PACCT"] = 20, ["CAP_SYS_ADMIN"] = 21, ["CAP_SYS_BOOT"] = 22, ["CAP_SYS_NICE"] = 23,
        ["CAP_SYS_RESOURCE"] = 24, ["CAP_SYS_TIME"] = 25, ["CAP_SYS_TTY_CONFIG"] = 26, ["CAP_MKNOD"] = 27,
        ["CAP_LEASE"] = 28, ["CAP_AUDIT_WRITE"] = 29, ["CAP_AUDIT_CONTROL"] = 30, ["CAP_SETFCAP"] = 31,
        ["CAP_MAC_OVERRIDE"] = 32, ["CAP_MAC_ADMIN"] = 33, ["CAP_SYSLOG"] = 34, ["CAP_WAKE_ALARM"] = 35,
        ["CAP_BLOCK_SUSPEND"] = 36, ["CAP_AUDIT_READ"] = 37, ["CAP_PERFMON"] = 38, ["CAP_BPF"] = 39,
        ["CAP_CHECKPOINT_RESTORE"] = 40,
    };

    /// <summary>Resource numbers from asm-generic/resource.h.</summary>
    public static readonly IReadOnlyDictionary<string, int> Rlimits = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["RLIMIT_CPU"] = 0, ["RLIMIT_FSIZE"] = 1, ["RLIMIT_DATA"] = 2, ["RLIMIT_STACK"] = 3,
        ["RLIMIT_CORE"] = 4, ["RLIMIT_RSS"] = 5, ["RLIMIT_NPROC"] = 6, ["RLIMIT_NOFILE"] = 7,
        ["RLIMIT_MEMLOCK"] = 8, ["RLIMIT_AS"] = 9, ["RLIMIT_LOCKS"] = 10, ["RLIMIT_SIGPENDING"] = 11,
        ["RLIMIT_MSGQUEUE"] = 12, ["RLIMIT_NICE"] = 13, ["RLIMIT_RTPRIO"] = 14, ["RLIMIT_RTTIME"] = 15,
    };

    /// <summary>OCI namespace type → CLONE_NEW* flag and the /proc/pid/ns file name.</summary>
    public static readonly IReadOnlyDictionary<string, (ulong Flag, string ProcName)> Namespaces =
        new Dictionary<string, (ulong, string)>(StringComparer.Ordinal)
        {
            ["mount"] = (Libc.CLONE_NEWNS, "mnt"),
            ["uts"] = (Libc.CLONE_NEWUTS, "uts"),
            ["ipc"] = (Libc.CLONE_NEWIPC, "ipc"),
            ["user"] = (Libc.CLONE_NEWUSER, "user"),
            ["pid"] = (Libc.CLONE_NEWPID, "pid"),
            ["network"] = (Libc.CLONE_NEWNET, "net"),
            ["cgroup"] = (Libc.CLONE_NEWCGROUP, "cgroup"),
            ["time"] = (Libc.CLONE_NEWTIME, "time"),
        };

    /// <summary>The order namespaces are entered: user first (it grants the rights to enter the
    /// others), mount last (it changes how every later path resolves).</summary>
    public static readonly string[] JoinOrder = ["user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"];

    public const int PerLinux = 0x0000, PerLinux32 = 0x0008;

    public static readonly IReadOnlyDictionary<string, int> PersonalityDomains = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["LINUX"] = PerLinux,
        ["LINUX32"] = PerLinux32,
    };

    public static readonly IReadOnlyDictionary<string, int> Signals = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["IOT"] = 6, ["BUS"] = 7,
        ["FPE"] = 8, ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14,
        ["TERM"] = 15, ["STKFLT"] = 16, ["CHLD"] = 17, ["CLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20,
        ["TTIN"] = 21, ["TTOU"] = 22, ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27,
        ["WINCH"] = 28, ["IO"] = 29, ["POLL"] = 29, ["PWR"] = 30, ["SYS"] = 31,
    };

    /// <summary>Parses a signal the way runc's kill does: "9", "KILL", "SIGKILL", "RTMIN+3".</summary>
    public static bool TryParseSignal(string text, out int signal)
    {
        signal = 0;
        if (int.TryParse(text, out signal)) return signal is > 0 and <= 64;
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        if (Signals.TryGetValue(name, out signal)) return true;
        const int rtMin = 34, rtMax = 64;
        if (name == "RTMIN") { signal = rtMin; return true; }
        if (name == "RTMAX") { signal = rtMax; return true; }
        if (name.StartsWith("RTMIN+", StringComparison.Ordinal) && int.TryParse(name[6..], out var n) && n >= 0 && rtMin + n <= rtMax)
        { signal = rtMin + n; return true; }
        if (name.StartsWith("RTMAX-", StringComparison.Ordinal) && int.TryParse(name[6..], out n) && n >= 0 && rtMax - n >= rtMin)
        { signal = rtMax - n; return true; }
        return false;
    }
}
