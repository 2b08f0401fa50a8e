using System.Diagnostics;
using System.Globalization;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// A container cgroup in the v1 hierarchies: one directory per mounted hierarchy (co-mounted
/// controllers such as "cpu,cpuacct" share one). File names and semantics follow the kernel's
/// Documentation/admin-guide/cgroup-v1.
/// </summary>
public sealed class CgroupV1 : ICgroup
{
    internal sealed record Hierarchy(IReadOnlyList<string> Controllers, string MountPoint, string Dir);

    private readonly List<Hierarchy> _hierarchies;
    private readonly Dictionary<string, string> _paths = new(StringComparer.Ordinal);

    internal CgroupV1(List<Hierarchy> hierarchies)
    {
        _hierarchies = hierarchies;
        foreach (var h in hierarchies)
            foreach (string c in h.Controllers) _paths[c] = h.Dir;
    }

    /// <summary>Called after each successful write with (path, value); tests record the order.</summary>
    internal Action<string, string>? WriteObserver { get; set; }

    public IReadOnlyDictionary<string, string> Paths => _paths;

    internal bool Owns(string controller) => _paths.ContainsKey(controller);

    private string? Dir(string controller) => _paths.GetValueOrDefault(controller);

    public void Create()
    {
        foreach (var h in _hierarchies)
        {
            bool cpuset = Contains(h.Controllers, "cpuset");
            // Usually the parent exists (hcs/ under each hierarchy): one mkdir, not one per level.
            // (A cpuset parent without cpus of its own takes the walk, which fills each level.)
            if (CgroupFs.TryMkdir(h.Dir) == 0 && (!cpuset || CopyCpusetFromParent(h.Dir, Path.GetDirectoryName(h.Dir)!, made: true)))
                continue;
            string parent = h.MountPoint.TrimEnd('/');
            var inner = h.Dir.AsSpan(parent.Length);
            foreach (var r in inner.Split('/'))
            {
                var part = inner[r];
                if (part.IsEmpty) continue;
                string dir = parent + "/" + part.ToString();
                CgroupFs.Mkdir(dir);
                // A new cpuset cgroup starts with empty cpus/mems and refuses tasks (ENOSPC) until
                // they are set: inherit them from the parent, level by level.
                if (cpuset) CopyCpusetFromParent(dir, parent, made: false);
                parent = dir;
            }
        }
    }

    /// <summary>False when the parent had nothing to give (its own cpus or mems are empty).
    /// <paramref name="made"/>: this create just made <paramref name="dir"/>, so it has the
    /// parent's values or none (cgroup.clone_children): they are written without reading it
    /// first (4 syscalls less on every create). Otherwise (a level of the walk, perhaps there
    /// before) only empty values are filled.</summary>
    private bool CopyCpusetFromParent(string dir, string parent, bool made)
    {
        bool filled = true;
        foreach (string file in (ReadOnlySpan<string>)["cpuset.cpus", "cpuset.mems"])
        {
            if (!made)
            {
                string? own = CgroupFs.TryRead(Path.Join(dir, file), out _);
                // (null: no such file, only in test trees made of plain directories)
                if (own == null || own.AsSpan().Trim().Length != 0) continue;
            }
            string? up = CgroupFs.TryRead(Path.Join(parent, file), out _);
            if (up == null || up.AsSpan().Trim().Length == 0)
            {
                filled = false;
                continue;
            }
            Write(dir, file, up.Trim());
        }
        return filled;
    }

    public void Apply(Resources resources)
    {
        CgroupCommon.CheckSupported(resources, Owns, hasV2: false);
        ApplyOwned(resources);
    }

    /// <summary>Writes what the mounted v1 controllers can take; the caller has checked the rest.</summary>
    internal void ApplyOwned(Resources r)
    {
        if (r.Cpu is { } cpu)
        {
            if (Dir("cpuset") is { } cs)
            {
                if (!string.IsNullOrEmpty(cpu.Cpus)) Write(cs, "cpuset.cpus", cpu.Cpus);
                if (!string.IsNullOrEmpty(cpu.Mems)) Write(cs, "cpuset.mems", cpu.Mems);
            }
            if (Dir("cpu") is { } c && CgroupCommon.NeedsCpu(cpu)) ApplyCpu(c, cpu);
        }
        if (r.Memory is { } mem && Dir("memory") is { } m) ApplyMemory(m, mem);
        if (r.Pids is { } pids && Dir("pids") is { } p)
            Write(p, "pids.max", pids.Limit <= 0 ? "max" : Num(pids.Limit));
        if (r.BlockIO is { } bio && Dir("blkio") is { } b) ApplyBlkio(b, bio);
        if (r.HugepageLimits is { } huge && Dir("hugetlb") is { } ht)
        {
            foreach (var l in huge)
            {
                string size = CgroupCommon.CheckPageSize(l.PageSize);
                Write(ht, $"hugetlb.{size}.limit_in_bytes", Num(l.Limit));
                // The reservation limit (5.7+) makes mmap fail up front instead of SIGBUS at fault time.
                TryWriteIfExists(ht, $"hugetlb.{size}.rsvd.limit_in_bytes", Num(l.Limit));
            }
        }
        if (r.Devices is { } devices && Dir("devices") is { } dv)
        {
            // The engine hands over the complete rule list (usually "deny all" first); the kernel
            // applies each line as it comes, so writing them in order gives last-match-wins.
            using var files = new CgroupFs.KeptOpen();
            for (int i = 0; i < devices.Count; i++)
            {
                var rule = CgroupCommon.ParseRule(devices[i], i);
                string path = Path.Join(dv, rule.Allow ? "devices.allow" : "devices.deny"), value = rule.ToString();
                files.Write(path, value);
                WriteObserver?.Invoke(path, value);
            }
        }
        if (r.Network is { } net)
        {
            if (net.ClassId is { } classId && Dir("net_cls") is { } nc) Write(nc, "net_cls.classid", Num(classId));
            if (net.Priorities is { } prios && Dir("net_prio") is { } np)
                foreach (var prio in prios) Write(np, "net_prio.ifpriomap", $"{prio.Name} {Num(prio.Priority)}");
        }
        if (r.Rdma is { } rdma && Dir("rdma") is { } rd) CgroupV2.WriteRdma(rdma, v => Write(rd, "rdma.max", v));
    }

    private void ApplyCpu(string d, Cpu c)
    {
        // An idle cgroup (5.15+) has no weight: the kernel refuses shares then.
        if (c.Idle is { } idle) Write(d, "cpu.idle", Num(idle));
        if (c.Shares is { } shares and not 0 && c.Idle != 1) Write(d, "cpu.shares", Num(shares));

        // Quota and period are checked together against the parent: shrinking the period first can
        // make old quota / new period exceed the parent's ratio (EINVAL). Then write the quota and
        // retry the period.
        bool periodPending = false;
        if (c.Period is { } period and not 0)
        {
            int e = TryWrite(d, "cpu.cfs_period_us", Num(period));
            if (e == CgroupFs.EINVAL && c.Quota is not (null or 0)) periodPending = true;
            else if (e != 0) throw CgroupFs.WriteFailed(Path.Join(d, "cpu.cfs_period_us"), Num(period), e);
        }
        if (c.Quota is { } quota and not 0) Write(d, "cpu.cfs_quota_us", quota < 0 ? "-1" : Num(quota));
        if (periodPending) Write(d, "cpu.cfs_period_us", Num(c.Period!.Value));
        if (c.Burst is { } burst) Write(d, "cpu.cfs_burst_us", Num(burst));

        // Same for the realtime budget: runtime must fit in the period.
        bool rtPending = false;
        if (c.RealtimePeriod is { } rtPeriod and not 0)
        {
            int e = TryWrite(d, "cpu.rt_period_us", Num(rtPeriod));
            if (e == CgroupFs.EINVAL && c.RealtimeRuntime is not (null or 0)) rtPending = true;
            else if (e != 0) throw CgroupFs.WriteFailed(Path.Join(d, "cpu.rt_period_us"), Num(rtPeriod), e);
        }
        if (c.RealtimeRuntime is { } rtRuntime and not 0) Write(d, "cpu.rt_runtime_us", Num(rtRuntime));
        if (rtPending) Write(d, "cpu.rt_period_us", Num(c.RealtimePeriod!.Value));
    }

    private void ApplyMemory(string d, Memory m)
    {
        long limit = m.Limit ?? 0, swap = m.Swap ?? 0; // 0: not set (see CgroupCommon.NeedsMemory)
        bool hasMemsw = File.Exists(Path.Join(d, "memory.memsw.limit_in_bytes"));
        if (m.CheckBeforeUpdate == true && limit > 0)
        {
            ulong usage = CgroupFs.ReadU64(Path.Join(d, "memory.usage_in_bytes"));
            if ((ulong)limit < usage)
                throw new CgroupException($"linux.resources.memory.limit: {limit} is below the current usage {usage}", CgroupFs.EBUSY);
        }
        // "Unlimited memory" with swap unspecified means unlimited memory+swap too.
        if (limit == -1 && swap == 0 && hasMemsw) swap = -1;

        // The kernel keeps limit <= memsw at every step: when raising, memsw goes first; when
        // lowering, the limit goes first. Deciding by the current limit covers both.
        if (limit != 0 && swap != 0)
        {
            ulong current = CgroupFs.ReadU64(Path.Join(d, "memory.limit_in_bytes"));
            if (swap == -1 || (ulong)swap > current)
            {
                WriteSwap(d, swap, limit, hasMemsw);
                Write(d, "memory.limit_in_bytes", Num(limit));
            }
            else
            {
                Write(d, "memory.limit_in_bytes", Num(limit));
                WriteSwap(d, swap, limit, hasMemsw);
            }
        }
        else if (limit != 0) Write(d, "memory.limit_in_bytes", Num(limit));
        else if (swap != 0) WriteSwap(d, swap, limit, hasMemsw);

        if (m.Reservation is { } res and not 0) Write(d, "memory.soft_limit_in_bytes", Num(res));
        // memory.kmem.limit_in_bytes is deprecated (5.4) and refused by recent kernels; runc 1.2
        // ignores linux.resources.memory.kernel as well. The TCP buffer limit still works.
        if (m.KernelTcp is { } tcp and not 0) Write(d, "memory.kmem.tcp.limit_in_bytes", Num(tcp));
        if (m.Swappiness is { } sw)
        {
            CgroupCommon.CheckSwappiness(sw);
            Write(d, "memory.swappiness", Num(sw));
        }
        if (m.DisableOomKiller is { } noOom) Write(d, "memory.oom_control", noOom ? "1" : "0");
    }

    private void WriteSwap(string d, long swap, long limit, bool hasMemsw)
    {
        if (hasMemsw)
        {
            Write(d, "memory.memsw.limit_in_bytes", Num(swap));
            return;
        }
        // No swap accounting (swapaccount=0): "unlimited" and "no swap" need no file; anything
        // else is a limit we cannot enforce.
        if (swap == -1 || swap == limit) return;
        throw new CgroupException(
            $"linux.resources.memory.swap: {swap} cannot be set: {Path.Join(d, "memory.memsw.limit_in_bytes")} does not exist (kernel without swap accounting)",
            CgroupFs.EOPNOTSUPP);
    }

    private void ApplyBlkio(string d, BlockIo b)
    {
        // CFQ had blkio.weight; with BFQ (the only proportional scheduler since 5.0) the files
        // are blkio.bfq.*.
        bool cfq = File.Exists(Path.Join(d, "blkio.weight"));
        if (b.Weight is { } w and not 0) Write(d, cfq ? "blkio.weight" : "blkio.bfq.weight", Num(w));
        if (b.LeafWeight is { } lw and not 0) Write(d, "blkio.leaf_weight", Num(lw));
        if (b.WeightDevice is { } wds)
        {
            foreach (var wd in wds)
            {
                if (wd.Weight is { } dw) Write(d, cfq ? "blkio.weight_device" : "blkio.bfq.weight_device", $"{wd.Major}:{wd.Minor} {dw}");
                if (wd.LeafWeight is { } dlw) Write(d, "blkio.leaf_weight_device", $"{wd.Major}:{wd.Minor} {dlw}");
            }
        }
        // One device per write: the kernel parses one "MAJ:MIN value" per write(2).
        Throttle(d, "blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice);
        Throttle(d, "blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice);
        Throttle(d, "blkio.throttle.read_iops_device", b.ThrottleReadIopsDevice);
        Throttle(d, "blkio.throttle.write_iops_device", b.ThrottleWriteIopsDevice);
    }

    private void Throttle(string d, string file, List<ThrottleDevice>? devices)
    {
        if (devices == null) return;
        foreach (var t in devices) Write(d, file, $"{t.Major}:{t.Minor} {t.Rate}");
    }

    public void AddProcess(int pid)
    {
        string value = Num(pid);
        foreach (var h in _hierarchies) Write(h.Dir, "cgroup.procs", value);
    }

    /// <summary>Processes are listed from the freezer hierarchy (the one KillAll freezes), else any.</summary>
    public IReadOnlyList<int> GetPids(bool recursive = true) =>
        CgroupFs.GetPids(Dir("freezer") ?? Dir("pids") ?? _hierarchies[0].Dir, recursive);

    public void Freeze()
    {
        string d = Dir("freezer") ?? throw new CgroupException("cannot freeze: the freezer controller is not mounted", CgroupFs.EOPNOTSUPP);
        string state = Path.Join(d, "freezer.state");
        Write(d, "freezer.state", "FROZEN");
        // The v1 freezer reports FREEZING until every task has stopped; it has no change
        // notification, so re-read with a short backoff. Re-writing FROZEN now and then nudges
        // tasks that were forked or woke up in between (as runc does).
        var clock = Stopwatch.StartNew();
        for (int attempt = 0; ; attempt++)
        {
            if (CgroupFs.Read(state).AsSpan().Trim().SequenceEqual("FROZEN")) return;
            if (clock.Elapsed > CgroupCommon.FreezeBound)
            {
                Write(d, "freezer.state", "THAWED");
                throw new CgroupException($"{state}: the cgroup did not freeze within {CgroupCommon.FreezeBound.TotalSeconds:0} s (a task in uninterruptible sleep?)", CgroupFs.EBUSY);
            }
            if (attempt % 8 == 7) Write(d, "freezer.state", "FROZEN");
            CgroupCommon.Backoff(Math.Min(attempt, 5));
        }
    }

    public void Thaw()
    {
        if (Dir("freezer") is { } d) Write(d, "freezer.state", "THAWED");
    }

    public bool IsFrozen() =>
        Dir("freezer") is { } d && CgroupFs.Read(Path.Join(d, "freezer.state")).AsSpan().Trim().SequenceEqual("FROZEN");

    public void KillAll() => CgroupCommon.KillByFreezing(this, Owns("freezer"));

    public ulong OomKillCount() =>
        Dir("memory") is { } d ? CgroupFs.GetKey(CgroupFs.TryRead(Path.Join(d, "memory.oom_control"), out _), "oom_kill") : 0;

    public CgroupStats GetStats()
    {
        var s = new CgroupStats();
        FillStats(s);
        return s;
    }

    internal void FillStats(CgroupStats s)
    {
        if (Dir("cpuacct") is { } ca)
        {
            var u = s.Cpu.Usage;
            u.Total = CgroupFs.ReadU64(Path.Join(ca, "cpuacct.usage"));
            u.Percpu = ReadList(Path.Join(ca, "cpuacct.usage_percpu"));
            u.PercpuKernel = ReadList(Path.Join(ca, "cpuacct.usage_percpu_sys"));
            u.PercpuUser = ReadList(Path.Join(ca, "cpuacct.usage_percpu_user"));
            if (CgroupFs.TryRead(Path.Join(ca, "cpuacct.usage_sys"), out _) is { } sys)
            {
                u.Kernel = CgroupFs.ParseU64(sys);
                u.User = CgroupFs.ReadU64(Path.Join(ca, "cpuacct.usage_user"));
            }
            else if (CgroupFs.TryRead(Path.Join(ca, "cpuacct.stat"), out _) is { } ticks)
            {
                // cpuacct.stat counts USER_HZ ticks, which is 100 on every Linux ABI.
                u.Kernel = CgroupFs.GetKey(ticks, "system") * 10_000_000;
                u.User = CgroupFs.GetKey(ticks, "user") * 10_000_000;
            }
        }
        if (Dir("cpu") is { } c && CgroupFs.TryRead(Path.Join(c, "cpu.stat"), out _) is { } cpuStat)
        {
            s.Cpu.Throttling.Periods = CgroupFs.GetKey(cpuStat, "nr_periods");
            s.Cpu.Throttling.ThrottledPeriods = CgroupFs.GetKey(cpuStat, "nr_throttled");
            s.Cpu.Throttling.ThrottledTime = CgroupFs.GetKey(cpuStat, "throttled_time");
        }
        if (Dir("memory") is { } m)
        {
            if (CgroupFs.TryRead(Path.Join(m, "memory.stat"), out _) is { } stat)
            {
                s.Memory.Raw = CgroupStats.ParseFlat(stat);
                s.Memory.Cache = s.Memory.Raw.GetValueOrDefault("total_cache", s.Memory.Raw.GetValueOrDefault("cache"));
            }
            s.Memory.Usage = MemoryEntry(m, "memory.");
            s.Memory.Swap = MemoryEntry(m, "memory.memsw.");
            s.Memory.Kernel = MemoryEntry(m, "memory.kmem.");
            s.Memory.KernelTcp = MemoryEntry(m, "memory.kmem.tcp.");
        }
        if (Dir("pids") is { } p)
        {
            s.Pids.Current = CgroupFs.ReadU64(Path.Join(p, "pids.current"));
            ulong max = CgroupFs.ReadU64(Path.Join(p, "pids.max"));
            s.Pids.Limit = max == ulong.MaxValue ? 0 : max; // runc reports "max" as 0
        }
        if (Dir("blkio") is { } b)
        {
            // CFQ's files if present, else BFQ's, else the throttling layer's (always there).
            string prefix = File.Exists(Path.Join(b, "blkio.io_service_bytes_recursive")) ? "blkio."
                : File.Exists(Path.Join(b, "blkio.bfq.io_service_bytes_recursive")) ? "blkio.bfq."
                : "blkio.throttle.";
            s.Blkio.IoServiceBytesRecursive = ReadBlkio(Path.Join(b, prefix + "io_service_bytes_recursive"));
            s.Blkio.IoServicedRecursive = ReadBlkio(Path.Join(b, prefix + "io_serviced_recursive"));
        }
        if (Dir("hugetlb") is { } ht)
        {
            foreach (string file in Directory.EnumerateFiles(ht, "hugetlb.*.limit_in_bytes"))
            {
                string name = Path.GetFileName(file);
                if (name.Contains(".rsvd.", StringComparison.Ordinal)) continue;
                string size = name["hugetlb.".Length..^".limit_in_bytes".Length];
                s.Hugetlb[size] = new HugetlbStats
                {
                    Usage = CgroupFs.ReadU64(Path.Join(ht, $"hugetlb.{size}.usage_in_bytes")),
                    Max = CgroupFs.ReadU64(Path.Join(ht, $"hugetlb.{size}.max_usage_in_bytes")),
                    Failcnt = CgroupFs.ReadU64(Path.Join(ht, $"hugetlb.{size}.failcnt")),
                };
            }
        }
    }

    private static MemoryEntry MemoryEntry(string d, string prefix) => new()
    {
        Usage = CgroupFs.ReadU64(Path.Join(d, prefix + "usage_in_bytes")),
        Max = CgroupFs.ReadU64(Path.Join(d, prefix + "max_usage_in_bytes")),
        Limit = CgroupFs.ReadU64(Path.Join(d, prefix + "limit_in_bytes")),
        Failcnt = CgroupFs.ReadU64(Path.Join(d, prefix + "failcnt")),
    };

    private static List<ulong>? ReadList(string path)
    {
        string? text = CgroupFs.TryRead(path, out _);
        if (text == null) return null;
        var list = new List<ulong>();
        foreach (var r in text.AsSpan().Split(' '))
        {
            var part = text.AsSpan(r).Trim();
            if (!part.IsEmpty) list.Add(CgroupFs.ParseU64(part));
        }
        return list;
    }

    /// <summary>Lines "8:0 Read 4096"; the "Total N" summary line is skipped.</summary>
    private static List<BlkioEntry>? ReadBlkio(string path)
    {
        string? text = CgroupFs.TryRead(path, out _);
        if (text == null) return null;
        var list = new List<BlkioEntry>();
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            int sp1 = line.IndexOf(' ');
            if (sp1 < 0) continue;
            var dev = line[..sp1];
            int colon = dev.IndexOf(':');
            if (colon < 0) continue;
            var rest = line[(sp1 + 1)..];
            int sp2 = rest.IndexOf(' ');
            if (sp2 < 0) continue;
            list.Add(new BlkioEntry
            {
                Major = CgroupFs.ParseU64(dev[..colon]),
                Minor = CgroupFs.ParseU64(dev[(colon + 1)..]),
                Op = rest[..sp2].ToString(),
                Value = CgroupFs.ParseU64(rest[(sp2 + 1)..]),
            });
        }
        return list;
    }

    public bool Destroy() => Destroy(Stopwatch.StartNew());

    /// <summary>With the caller's clock, so a hybrid cgroup's two parts share one time bound.</summary>
    internal bool Destroy(Stopwatch clock)
    {
        bool ok = true;
        foreach (var h in _hierarchies)
            ok &= CgroupCommon.RemoveTree(h.Dir, clock, CgroupCommon.DestroyBound);
        return ok;
    }

    private void Write(string dir, string file, string value)
    {
        string path = Path.Join(dir, file);
        CgroupFs.Write(path, value);
        WriteObserver?.Invoke(path, value);
    }

    private int TryWrite(string dir, string file, string value)
    {
        string path = Path.Join(dir, file);
        int e = CgroupFs.TryWrite(path, value);
        if (e == 0) WriteObserver?.Invoke(path, value);
        return e;
    }

    private void TryWriteIfExists(string dir, string file, string value)
    {
        int e = TryWrite(dir, file, value);
        if (e != 0 && e != CgroupFs.ENOENT) throw CgroupFs.WriteFailed(Path.Join(dir, file), value, e);
    }

    private static bool Contains(IReadOnlyList<string> list, string s)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i] == s) return true;
        return false;
    }

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);
}
