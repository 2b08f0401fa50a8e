using System.Runtime.InteropServices;
using Hcs.Linux.Native;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Containers;

/// <summary>
/// Process settings the runtime applies from outside, on the pid, while the child waits at
/// SETUP: I/O priority (ioprio_set) and scheduling policy (sched_setattr). Both are inherited
/// across execve, so setting them on the waiting child is setting them on the program.
/// </summary>
public static unsafe partial class ProcessTuning
{
    private const long SYS_ioprio_set = 251, SYS_sched_setattr = 314, SYS_sched_setaffinity = 203;
    private const int IOPRIO_WHO_PROCESS = 1, IOPRIO_CLASS_SHIFT = 13;

    public static readonly IReadOnlyDictionary<string, int> IoClasses = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["IOPRIO_CLASS_RT"] = 1, ["IOPRIO_CLASS_BE"] = 2, ["IOPRIO_CLASS_IDLE"] = 3,
    };

    public static readonly IReadOnlyDictionary<string, uint> Policies = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        ["SCHED_OTHER"] = 0, ["SCHED_FIFO"] = 1, ["SCHED_RR"] = 2, ["SCHED_BATCH"] = 3, ["SCHED_ISO"] = 4,
        ["SCHED_IDLE"] = 5, ["SCHED_DEADLINE"] = 6,
    };

    public static readonly IReadOnlyDictionary<string, ulong> SchedFlags = new Dictionary<string, ulong>(StringComparer.Ordinal)
    {
        ["SCHED_FLAG_RESET_ON_FORK"] = 0x01, ["SCHED_FLAG_RECLAIM"] = 0x02, ["SCHED_FLAG_DL_OVERRUN"] = 0x04,
        ["SCHED_FLAG_KEEP_POLICY"] = 0x08, ["SCHED_FLAG_KEEP_PARAMS"] = 0x10, ["SCHED_FLAG_UTIL_CLAMP_MIN"] = 0x20,
        ["SCHED_FLAG_UTIL_CLAMP_MAX"] = 0x40,
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedAttr
    {
        public uint Size;
        public uint Policy;
        public ulong Flags;
        public int Nice;
        public uint Priority;
        public ulong Runtime, Deadline, Period;
    }

    /// <summary>execCPUAffinity: "initial" while the runtime sets the process up, "final" for
    /// the program (set just before it may execve; the affinity survives execve).</summary>
    public static void ApplyAffinity(int pid, string? cpus, string configPath)
    {
        if (string.IsNullOrEmpty(cpus)) return;
        var mask = new ulong[16]; // 1024 CPUs
        foreach (var part in cpus.Split(','))
        {
            var range = part.Trim().Split('-');
            int from = int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
            int to = range.Length > 1 ? int.Parse(range[1], System.Globalization.CultureInfo.InvariantCulture) : from;
            for (int c = from; c <= to && c < 1024; c++) mask[c / 64] |= 1UL << (c % 64);
        }
        fixed (ulong* m = mask)
            if (Libc.Syscall(SYS_sched_setaffinity, pid, mask.Length * 8, (long)m) < 0)
                throw new SpawnException(Libc.Errno, "sched_setaffinity", cpus) { ConfigPath = configPath };
    }

    public static void Apply(int pid, Process? process)
    {
        ApplyAffinity(pid, process?.ExecCpuAffinity?.Initial, "$.process.execCPUAffinity.initial");
        if (process?.IoPriority is { } io)
        {
            long value = ((long)IoClasses[io.Class] << IOPRIO_CLASS_SHIFT) | (uint)io.Priority;
            if (Libc.Syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, pid, value) < 0)
                throw new SpawnException(Libc.Errno, "ioprio_set", io.Class) { ConfigPath = "$.process.ioPriority" };
        }
        if (process?.Scheduler is { } s)
        {
            ulong flags = 0;
            foreach (var f in s.Flags ?? []) flags |= SchedFlags[f];
            var attr = new SchedAttr
            {
                Size = (uint)sizeof(SchedAttr),
                Policy = Policies[s.Policy],
                Flags = flags,
                Nice = s.Nice ?? 0,
                Priority = (uint)(s.Priority ?? 0),
                Runtime = s.Runtime ?? 0,
                Deadline = s.Deadline ?? 0,
                Period = s.Period ?? 0,
            };
            if (Libc.Syscall(SYS_sched_setattr, pid, (long)&attr, 0) < 0)
                throw new SpawnException(Libc.Errno, "sched_setattr", s.Policy) { ConfigPath = "$.process.scheduler" };
        }
    }
}
