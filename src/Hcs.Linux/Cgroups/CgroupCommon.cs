using System.Diagnostics;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Cgroups;

/// <summary>What v1, v2 and hybrid cgroups share: which controller a resource needs, the
/// freeze-kill-thaw sequence, bounded waits, and removal of a cgroup tree.</summary>
internal static class CgroupCommon
{
    public const int SIGKILL = 9;

    /// <summary>How long Destroy waits for dying tasks to leave (the kernel answers rmdir with
    /// EBUSY until they have).</summary>
    public static readonly TimeSpan DestroyBound = TimeSpan.FromSeconds(2);

    /// <summary>How long Freeze waits: a task in uninterruptible sleep (e.g. on NFS) delays freezing.</summary>
    public static readonly TimeSpan FreezeBound = TimeSpan.FromSeconds(5);

    /// <summary>Refuses a limit no hierarchy can enforce, before anything is written, so a config
    /// asking for (say) hugetlb limits on a host without the controller fails instead of running
    /// unconfined. Network (net_cls/net_prio) and rdma are best effort, as in runc.</summary>
    public static void CheckSupported(Resources r, Func<string, bool> owns, bool hasV2)
    {
        if (NeedsMemory(r.Memory) && !owns("memory")) throw Missing("memory", "linux.resources.memory");
        if (r.Cpu is { } c)
        {
            if (NeedsCpu(c) && !owns("cpu")) throw Missing("cpu", "linux.resources.cpu");
            if ((!string.IsNullOrEmpty(c.Cpus) || !string.IsNullOrEmpty(c.Mems)) && !owns("cpuset"))
                throw Missing("cpuset", "linux.resources.cpu.cpus/mems");
        }
        if (r.Pids != null && !owns("pids")) throw Missing("pids", "linux.resources.pids");
        if (NeedsBlkio(r.BlockIO) && !owns("blkio") && !owns("io")) throw Missing("blkio/io", "linux.resources.blockIO");
        if (r.HugepageLimits is { Count: > 0 } && !owns("hugetlb")) throw Missing("hugetlb", "linux.resources.hugepageLimits");
        if (r.Devices != null && !owns("devices")) throw Missing("devices", "linux.resources.devices");
        if (r.Unified is { Count: > 0 } && !hasV2)
            throw new CgroupException("linux.resources.unified: needs cgroup v2, and this host has only cgroup v1 hierarchies", CgroupFs.EOPNOTSUPP);
    }

    private static CgroupException Missing(string controller, string field) =>
        new($"{field}: the {controller} controller is not available on this host", CgroupFs.EOPNOTSUPP);

    // 0 means "not set" for limit, swap and reservation, as in runc (a 0-byte limit is never meant).
    public static bool NeedsMemory(Memory? m) => m != null &&
        (m.Limit is not (null or 0) || m.Reservation is not (null or 0) || m.Swap is not (null or 0) ||
         m.KernelTcp is not (null or 0) || m.Swappiness != null || m.DisableOomKiller != null);

    public static bool NeedsCpu(Cpu c) =>
        c.Shares is not (null or 0) || c.Quota is not (null or 0) || c.Period is not (null or 0) || c.Burst != null ||
        c.RealtimeRuntime is not (null or 0) || c.RealtimePeriod is not (null or 0) || c.Idle != null;

    public static bool NeedsBlkio(BlockIo? b) => b != null &&
        (b.Weight is not (null or 0) || b.LeafWeight is not (null or 0) || b.WeightDevice is { Count: > 0 } ||
         b.ThrottleReadBpsDevice is { Count: > 0 } || b.ThrottleWriteBpsDevice is { Count: > 0 } ||
         b.ThrottleReadIopsDevice is { Count: > 0 } || b.ThrottleWriteIopsDevice is { Count: > 0 });

    /// <summary>Page size names become file names ("hugetlb.2MB.max"): nothing that could leave the directory.</summary>
    public static string CheckPageSize(string pageSize)
    {
        if (pageSize.Length == 0 || pageSize.Contains('/') || pageSize.Contains('\0') || pageSize[0] == '.')
            throw new CgroupException($"linux.resources.hugepageLimits: invalid pageSize \"{pageSize}\"", CgroupFs.EINVAL);
        return pageSize;
    }

    public static void CheckSwappiness(ulong v)
    {
        if (v > 100)
            throw new CgroupException($"linux.resources.memory.swappiness: {v} is out of range 0-100", CgroupFs.EINVAL);
    }

    /// <summary>Sleeps a little longer each attempt (yield, 1, 2, 4 ... 16 ms). Only used on the
    /// slow path, after the kernel said "not yet".</summary>
    public static void Backoff(int attempt)
    {
        if (attempt == 0) Thread.Yield();
        else Thread.Sleep(1 << Math.Min(attempt - 1, 4));
    }

    /// <summary>SIGKILL for every process, with the cgroup frozen meanwhile so none can fork a child
    /// we would miss. Used where cgroup.kill does not exist (v1, v2 before 5.14).</summary>
    public static void KillByFreezing(ICgroup cg, bool canFreeze)
    {
        bool frozen = false;
        if (canFreeze)
        {
            try
            {
                cg.Freeze();
                frozen = true;
            }
            catch (CgroupException)
            {
                // A task stuck in D state can keep the cgroup FREEZING; kill what we can anyway.
            }
        }
        try
        {
            var killed = new HashSet<int>();
            // Without a freezer new children can appear while we kill: repeat until a pass finds
            // nobody we have not already signalled (bounded, a fork bomb cannot keep us here).
            for (int pass = 0; pass < (frozen ? 1 : 20); pass++)
            {
                bool any = false;
                foreach (int pid in cg.GetPids(recursive: true))
                {
                    if (!killed.Add(pid)) continue;
                    any = true;
                    CgroupFs.Kill(pid, SIGKILL); // ESRCH: it exited by itself, fine
                }
                if (!any) break;
            }
        }
        finally
        {
            // Frozen tasks cannot act on SIGKILL: thaw so they die.
            if (canFreeze) cg.Thaw();
        }
    }

    /// <summary>Removes dir and every sub-cgroup, deepest first. rmdir answers EBUSY while tasks
    /// (also exiting ones) remain; retry with a short backoff up to <paramref name="deadline"/>.
    /// Returns false when it gave up.</summary>
    public static bool RemoveTree(string dir, Stopwatch clock, TimeSpan deadline)
    {
        // Usually a leaf: rmdir first; listing a cgroup directory (dozens of files) costs more.
        int first = CgroupFs.Rmdir(dir);
        if (first == 0 || first == CgroupFs.ENOENT) return true;
        foreach (string sub in CgroupFs.SubDirs(dir))
        {
            if (!RemoveTree(sub, clock, deadline)) return false;
        }
        for (int attempt = 0; ; attempt++)
        {
            int e = CgroupFs.Rmdir(dir);
            if (e == 0 || e == CgroupFs.ENOENT) return true;
            if (e != CgroupFs.EBUSY)
                throw new CgroupException($"{dir}: rmdir: {CgroupFs.ErrorText(e)}", e);
            if (clock.Elapsed > deadline) return false;
            // A sub-cgroup may have been created meanwhile (the container makes its own).
            foreach (string sub in CgroupFs.SubDirs(dir))
            {
                if (!RemoveTree(sub, clock, deadline)) return false;
            }
            Backoff(attempt);
        }
    }

    // ---- device rules ----

    /// <summary>A device rule with defaults filled in: type 'a'/'c'/'b', -1 for a wildcard
    /// major/minor, access a subset of "rwm".</summary>
    public readonly record struct DeviceRule(bool Allow, char Type, long Major, long Minor, string Access)
    {
        /// <summary>The v1 devices.allow/deny line: "c 1:3 rwm", "a *:* rwm".</summary>
        public override string ToString() =>
            $"{Type} {(Major < 0 ? "*" : Major.ToString(System.Globalization.CultureInfo.InvariantCulture))}:{(Minor < 0 ? "*" : Minor.ToString(System.Globalization.CultureInfo.InvariantCulture))} {Access}";
    }

    public static DeviceRule ParseRule(DeviceCgroup d, int index)
    {
        char type = d.Type switch
        {
            null or "" or "a" => 'a',
            "c" => 'c',
            "b" => 'b',
            _ => throw BadRule(index, $"type \"{d.Type}\" is not one of a, c, b"),
        };
        string access = string.IsNullOrEmpty(d.Access) ? "rwm" : d.Access;
        foreach (char ch in access)
        {
            if (ch is not ('r' or 'w' or 'm')) throw BadRule(index, $"access \"{access}\" is not made of r, w, m");
        }
        long major = d.Major ?? -1, minor = d.Minor ?? -1;
        // Majors are 12 bits and minors 20 in the kernel; int range keeps the eBPF compare exact.
        if (major < -1 || major > int.MaxValue) throw BadRule(index, $"major {major} is out of range");
        if (minor < -1 || minor > int.MaxValue) throw BadRule(index, $"minor {minor} is out of range");
        return new DeviceRule(d.Allow, type, major, minor, access);
    }

    private static CgroupException BadRule(int index, string why) =>
        new($"linux.resources.devices[{index}]: {why}", CgroupFs.EINVAL);
}
