using System.Diagnostics;
using System.Globalization;
using System.Text;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// A container cgroup in the cgroup2 hierarchy: one directory. On a pure v2 host it manages every
/// controller; as the v2 part of a hybrid host only the controllers v1 does not hold (and the
/// device filter / freezer when v1 lacks them). File names and semantics follow the kernel's
/// Documentation/admin-guide/cgroup-v2.rst.
/// </summary>
public sealed class CgroupV2 : ICgroup
{
    private readonly string _mountPoint;
    private readonly string _dir;
    private readonly HashSet<string> _controllers;
    private readonly bool _ownsDevices, _ownsFreezer;

    internal CgroupV2(string mountPoint, string dir, HashSet<string> controllers, bool ownsDevices, bool ownsFreezer)
    {
        _mountPoint = mountPoint.TrimEnd('/');
        _dir = dir;
        _controllers = controllers;
        _ownsDevices = ownsDevices;
        _ownsFreezer = ownsFreezer;
    }

    /// <summary>Called after each successful write with (path, value); tests record the order.</summary>
    internal Action<string, string>? WriteObserver { get; set; }

    /// <summary>The cgroup's directory.</summary>
    public string Directory => _dir;

    public IReadOnlyDictionary<string, string> Paths => field ??= new Dictionary<string, string>(1) { [""] = _dir };

    /// <summary>Whether this cgroup handles a controller ("devices" and "freezer" are not cgroup2
    /// controllers: eBPF and cgroup.freeze, claimed when no v1 hierarchy has them).</summary>
    internal bool Owns(string controller) => controller switch
    {
        "devices" => _ownsDevices,
        "freezer" => _ownsFreezer,
        _ => _controllers.Contains(controller),
    };

    /// <summary>mkdir -p, enabling our controllers in each ancestor's cgroup.subtree_control on the
    /// way down (a controller is only usable in a cgroup whose parent delegates it).</summary>
    public void Create()
    {
        // Usually the parent exists and already delegates our controllers (the last create
        // enabled them): one mkdir and one read show it. Otherwise, or if someone changed the
        // parent's subtree_control since, the walk below enables them (the leaf may exist then).
        if (CgroupFs.TryMkdir(_dir) is 0 or CgroupFs.EEXIST && HasOurControllers(_dir)) return;
        string current = _mountPoint;
        var inner = _dir.AsSpan(_mountPoint.Length);
        foreach (var r in inner.Split('/'))
        {
            var part = inner[r];
            if (part.IsEmpty) continue;
            EnableControllers(current);
            current = current + "/" + part.ToString();
            CgroupFs.Mkdir(current);
        }
    }

    /// <summary>Whether every controller we manage is available in dir (its cgroup.controllers).</summary>
    private bool HasOurControllers(string dir)
    {
        if (_controllers.Count == 0) return true;
        string? available = CgroupFs.TryRead(Path.Join(dir, "cgroup.controllers"), out _);
        if (available == null) return false;
        int found = 0;
        foreach (var r in available.AsSpan().Trim().Split(' '))
            if (_controllers.Contains(available.AsSpan().Trim()[r].ToString())) found++;
        return found == _controllers.Count;
    }

    private void EnableControllers(string dir)
    {
        if (_controllers.Count == 0) return;
        string? available = CgroupFs.TryRead(Path.Join(dir, "cgroup.controllers"), out _);
        if (available == null) return;
        var sb = new StringBuilder();
        foreach (var r in available.AsSpan().Trim().Split(' '))
        {
            string c = available.AsSpan().Trim()[r].ToString();
            if (_controllers.Contains(c)) sb.Append(sb.Length == 0 ? "+" : " +").Append(c);
        }
        if (sb.Length == 0) return;
        string all = sb.ToString();
        if (TryWrite(dir, "cgroup.subtree_control", all) == 0) return;
        // One refused controller fails the whole write (e.g. cpu while a realtime task sits in
        // the parent, or EBUSY for a parent holding processes): enable the others one by one and
        // leave the refused ones off; a limit on them will then fail naming its file.
        foreach (string one in all.Split(' ')) TryWrite(dir, "cgroup.subtree_control", one);
    }

    public void Apply(Resources resources)
    {
        CgroupCommon.CheckSupported(resources, Owns, hasV2: true);
        ApplyOwned(resources, static _ => false);
    }

    /// <summary>Writes what this cgroup owns. <paramref name="heldByV1"/> tells which controllers
    /// a hybrid host keeps in v1, to refuse unified keys meant for them.</summary>
    internal void ApplyOwned(Resources r, Func<string, bool> heldByV1)
    {
        string d = _dir;
        if (r.Cpu is { } cpu)
        {
            if (Owns("cpuset"))
            {
                if (!string.IsNullOrEmpty(cpu.Cpus)) Write(d, "cpuset.cpus", cpu.Cpus);
                if (!string.IsNullOrEmpty(cpu.Mems)) Write(d, "cpuset.mems", cpu.Mems);
            }
            if (Owns("cpu") && CgroupCommon.NeedsCpu(cpu)) ApplyCpu(d, cpu);
        }
        if (r.Memory is { } mem && Owns("memory")) ApplyMemory(d, mem);
        if (r.Pids is { } pids && Owns("pids")) Write(d, "pids.max", pids.Limit <= 0 ? "max" : Num(pids.Limit));
        if (r.BlockIO is { } bio && Owns("io")) ApplyIo(d, bio);
        if (r.HugepageLimits is { } huge && Owns("hugetlb"))
        {
            foreach (var l in huge)
            {
                string size = CgroupCommon.CheckPageSize(l.PageSize);
                Write(d, $"hugetlb.{size}.max", Num(l.Limit));
                // The reservation limit (5.7+) makes mmap fail up front instead of SIGBUS at fault time.
                int e = TryWrite(d, $"hugetlb.{size}.rsvd.max", Num(l.Limit));
                if (e != 0 && e != CgroupFs.ENOENT) throw CgroupFs.WriteFailed(Path.Join(d, $"hugetlb.{size}.rsvd.max"), Num(l.Limit), e);
            }
        }
        if (r.Devices is { } devices && _ownsDevices) DeviceFilter.Apply(d, devices);
        if (r.Rdma is { } rdma && Owns("rdma")) WriteRdma(rdma, v => Write(d, "rdma.max", v));
        // net_cls/net_prio have no v2 counterpart (eBPF socket programs replace them): ignored.
        if (r.Unified is { } unified) ApplyUnified(d, unified, heldByV1);
    }

    /// <summary>cpu.weight from v1 shares, the mapping runc uses: [2, 262144] onto [1, 10000].</summary>
    public static ulong SharesToWeight(ulong shares)
    {
        shares = Math.Clamp(shares, 2UL, 262144UL);
        return 1 + (shares - 2) * 9999 / 262142;
    }

    /// <summary>io.weight from v1 blkio weight: [10, 1000] onto [1, 10000], as runc does.</summary>
    public static ulong BlkioWeightToIoWeight(ulong weight)
    {
        weight = Math.Clamp(weight, 10UL, 1000UL);
        return 1 + (weight - 10) * 9999 / 990;
    }

    private void ApplyCpu(string d, Cpu c)
    {
        if (c.RealtimeRuntime is not (null or 0) || c.RealtimePeriod is not (null or 0))
            throw new CgroupException("linux.resources.cpu.realtimeRuntime/realtimePeriod: realtime CPU budgets need cgroup v1 (cgroup v2 has no cpu.rt_* files)", CgroupFs.EOPNOTSUPP);
        // An idle cgroup (5.15+) has no weight: the kernel refuses cpu.weight then.
        if (c.Idle is { } idle) Write(d, "cpu.idle", Num(idle));
        if (c.Shares is { } shares and not 0 && c.Idle != 1) Write(d, "cpu.weight", Num(SharesToWeight(shares)));

        // cpu.max is "$QUOTA $PERIOD" written together. A null part keeps the current one: an
        // update of the period alone must not drop the quota.
        bool quotaSet = c.Quota is not (null or 0), periodSet = c.Period is not (null or 0);
        if (quotaSet || periodSet)
        {
            string quota;
            if (quotaSet) quota = c.Quota!.Value < 0 ? "max" : Num(c.Quota.Value);
            else
            {
                string? current = CgroupFs.TryRead(Path.Join(d, "cpu.max"), out _);
                var cur = current.AsSpan().Trim();
                int sp = cur.IndexOf(' ');
                quota = sp > 0 ? cur[..sp].ToString() : "max";
            }
            Write(d, "cpu.max", periodSet ? quota + " " + Num(c.Period!.Value) : quota);
        }
        if (c.Burst is { } burst) Write(d, "cpu.max.burst", Num(burst));
    }

    private void ApplyMemory(string d, Memory m)
    {
        long limit = m.Limit ?? 0, swap = m.Swap ?? 0; // 0: not set (see CgroupCommon.NeedsMemory)
        if (m.CheckBeforeUpdate == true && limit > 0)
        {
            ulong usage = CgroupFs.ReadU64(Path.Join(d, "memory.current"));
            if ((ulong)limit < usage)
                throw new CgroupException($"linux.resources.memory.limit: {limit} is below the current usage {usage}", CgroupFs.EBUSY);
        }
        // OCI swap is memory+swap (the v1 memsw meaning); memory.swap.max is swap alone.
        string? swapMax = null;
        if (limit == -1 && swap == 0) swapMax = "max"; // unlimited memory, swap unspecified: both unlimited
        else if (swap == -1) swapMax = "max";
        else if (swap != 0)
        {
            if (limit <= 0)
                throw new CgroupException($"linux.resources.memory.swap: {swap} needs a memory limit too (swap is memory+swap)", CgroupFs.EINVAL);
            if (swap < limit)
                throw new CgroupException($"linux.resources.memory.swap: {swap} is below the memory limit {limit} (swap is memory+swap)", CgroupFs.EINVAL);
            swapMax = Num(swap - limit);
        }
        // memory.max and memory.swap.max are independent in v2: no ordering to respect.
        if (limit != 0) Write(d, "memory.max", limit < 0 ? "max" : Num(limit));
        if (swapMax != null)
        {
            int e = TryWrite(d, "memory.swap.max", swapMax);
            // Without swap accounting the file is absent: "unlimited" or "none" then need nothing.
            if (e != 0 && !(e == CgroupFs.ENOENT && swapMax is "max" or "0"))
                throw CgroupFs.WriteFailed(Path.Join(d, "memory.swap.max"), swapMax, e);
        }
        if (m.Reservation is { } res and not 0) Write(d, "memory.low", res < 0 ? "max" : Num(res));
        // kernel, kernelTCP, swappiness and disableOOMKiller have no v2 files: ignored, as runc does.
    }

    private void ApplyIo(string d, BlockIo b)
    {
        // BFQ keeps blkio's 1..1000 scale in io.bfq.weight; otherwise io.weight (1..10000).
        bool bfq = File.Exists(Path.Join(d, "io.bfq.weight"));
        if (b.Weight is { } w and not 0)
            Write(d, bfq ? "io.bfq.weight" : "io.weight", Num(bfq ? w : BlkioWeightToIoWeight(w)));
        if (b.WeightDevice is { } wds)
        {
            foreach (var wd in wds)
            {
                if (wd.Weight is { } dw)
                    Write(d, bfq ? "io.bfq.weight" : "io.weight", $"{wd.Major}:{wd.Minor} {(bfq ? dw : BlkioWeightToIoWeight(dw))}");
            }
        }
        // leafWeight has no v2 equivalent: ignored.

        // io.max takes one device per write; gather each device's four limits into one line.
        var lines = new List<(long Major, long Minor, StringBuilder Line)>();
        AddIoMax(lines, "rbps", b.ThrottleReadBpsDevice);
        AddIoMax(lines, "wbps", b.ThrottleWriteBpsDevice);
        AddIoMax(lines, "riops", b.ThrottleReadIopsDevice);
        AddIoMax(lines, "wiops", b.ThrottleWriteIopsDevice);
        foreach (var (_, _, line) in lines) Write(d, "io.max", line.ToString());
    }

    private static void AddIoMax(List<(long Major, long Minor, StringBuilder Line)> lines, string key, List<ThrottleDevice>? devices)
    {
        if (devices == null) return;
        foreach (var t in devices)
        {
            StringBuilder? line = null;
            foreach (var l in lines)
            {
                if (l.Major == t.Major && l.Minor == t.Minor)
                {
                    line = l.Line;
                    break;
                }
            }
            if (line == null)
            {
                line = new StringBuilder().Append(t.Major).Append(':').Append(t.Minor);
                lines.Add((t.Major, t.Minor, line));
            }
            // A rate of 0 removes the limit, as writing 0 does in v1.
            line.Append(' ').Append(key).Append('=');
            if (t.Rate == 0) line.Append("max");
            else line.Append(t.Rate);
        }
    }

    /// <summary>rdma.max: one "&lt;device&gt; hca_handle=N hca_object=M" per write.</summary>
    internal static void WriteRdma(Dictionary<string, RdmaLimit> rdma, Action<string> write)
    {
        foreach (var (device, limit) in rdma)
        {
            if (limit.HcaHandles == null && limit.HcaObjects == null) continue;
            var sb = new StringBuilder(device);
            if (limit.HcaHandles is { } h) sb.Append(" hca_handle=").Append(h);
            if (limit.HcaObjects is { } o) sb.Append(" hca_object=").Append(o);
            write(sb.ToString());
        }
    }

    /// <summary>linux.resources.unified: each key is a file of the cgroup directory, written last so
    /// it overrides the typed fields (the OCI spec's rule).</summary>
    private void ApplyUnified(string d, Dictionary<string, string> unified, Func<string, bool> heldByV1)
    {
        foreach (var (key, value) in unified)
        {
            if (key.Length == 0 || key.Contains('/') || key.Contains('\0') || key[0] == '.')
                throw new CgroupException($"linux.resources.unified: \"{key}\" is not a cgroup file name", CgroupFs.EINVAL);
            int dot = key.IndexOf('.');
            string controller = dot < 0 ? key : key[..dot];
            if (heldByV1(controller))
                throw new CgroupException($"linux.resources.unified: \"{key}\": the {controller} controller is mounted as cgroup v1 on this host; use the typed linux.resources fields", CgroupFs.EOPNOTSUPP);
            int e = TryWrite(d, key, value);
            if (e == CgroupFs.ENOENT)
                throw new CgroupException($"linux.resources.unified: \"{key}\": no such file in {d} (is the {controller} controller enabled?)", e);
            if (e != 0) throw CgroupFs.WriteFailed(Path.Join(d, key), value, e);
        }
    }

    public void AddProcess(int pid) => Write(_dir, "cgroup.procs", Num(pid));

    public IReadOnlyList<int> GetPids(bool recursive = true) => CgroupFs.GetPids(_dir, recursive);

    public void Freeze()
    {
        Write(_dir, "cgroup.freeze", "1");
        WaitFrozen();
    }

    /// <summary>Waits for "frozen 1" in cgroup.events. The kernel signals every change of that file
    /// with POLLPRI, and reading it re-arms the notification, so read-then-poll cannot miss one.
    /// Each poll is capped so a filesystem without notifications is still re-read.</summary>
    private void WaitFrozen()
    {
        string path = Path.Join(_dir, "cgroup.events");
        int fd = CgroupFs.OpenRead(path);
        if (fd < 0) throw new CgroupException($"{path}: open: {CgroupFs.ErrorText(-fd)}", -fd);
        try
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                string? text = CgroupFs.ReadFd(fd, out int e);
                if (text == null) throw new CgroupException($"{path}: reading: {CgroupFs.ErrorText(e)}", e);
                if (CgroupFs.GetKey(text, "frozen") == 1) return;
                long left = (long)(CgroupCommon.FreezeBound - clock.Elapsed).TotalMilliseconds;
                if (left <= 0)
                {
                    Write(_dir, "cgroup.freeze", "0");
                    throw new CgroupException($"{path}: the cgroup did not freeze within {CgroupCommon.FreezeBound.TotalSeconds:0} s (a task in uninterruptible sleep?)", CgroupFs.EBUSY);
                }
                CgroupFs.PollPri(fd, (int)Math.Min(left, 50));
            }
        }
        finally
        {
            CgroupFs.Close(fd);
        }
    }

    /// <summary>Thawing is immediate: the kernel clears "frozen" as it wakes the tasks.</summary>
    public void Thaw() => Write(_dir, "cgroup.freeze", "0");

    public bool IsFrozen() =>
        CgroupFs.GetKey(CgroupFs.TryRead(Path.Join(_dir, "cgroup.events"), out _), "frozen") == 1;

    /// <summary>cgroup.kill (5.14+) kills the whole subtree atomically, racing forks included.</summary>
    public void KillAll()
    {
        if (!TryKillAll()) CgroupCommon.KillByFreezing(this, File.Exists(Path.Join(_dir, "cgroup.freeze")));
    }

    /// <summary>Writes cgroup.kill; false when it does not exist (kernel before 5.14).</summary>
    internal bool TryKillAll()
    {
        int e = TryWrite(_dir, "cgroup.kill", "1");
        if (e == 0) return true;
        if (e == CgroupFs.ENOENT) return false;
        throw CgroupFs.WriteFailed(Path.Join(_dir, "cgroup.kill"), "1", e);
    }

    public ulong OomKillCount() =>
        Owns("memory") ? CgroupFs.GetKey(CgroupFs.TryRead(Path.Join(_dir, "memory.events"), out _), "oom_kill") : 0;

    public CgroupStats GetStats()
    {
        var s = new CgroupStats();
        FillStats(s, standalone: true);
        return s;
    }

    /// <summary>Fills the parts this cgroup owns. cpu.stat exists without the cpu controller (usage
    /// is always accounted), so a standalone v2 cgroup reports CPU usage regardless.</summary>
    internal void FillStats(CgroupStats s, bool standalone)
    {
        string d = _dir;
        if ((standalone || Owns("cpu")) && CgroupFs.TryRead(Path.Join(d, "cpu.stat"), out _) is { } cpuStat)
        {
            // v2 counts microseconds; the stats document, like v1, nanoseconds.
            s.Cpu.Usage.Total = CgroupFs.GetKey(cpuStat, "usage_usec") * 1000;
            s.Cpu.Usage.User = CgroupFs.GetKey(cpuStat, "user_usec") * 1000;
            s.Cpu.Usage.Kernel = CgroupFs.GetKey(cpuStat, "system_usec") * 1000;
            s.Cpu.Throttling.Periods = CgroupFs.GetKey(cpuStat, "nr_periods");
            s.Cpu.Throttling.ThrottledPeriods = CgroupFs.GetKey(cpuStat, "nr_throttled");
            s.Cpu.Throttling.ThrottledTime = CgroupFs.GetKey(cpuStat, "throttled_usec") * 1000;
        }
        if (Owns("memory"))
        {
            if (CgroupFs.TryRead(Path.Join(d, "memory.stat"), out _) is { } stat)
            {
                s.Memory.Raw = CgroupStats.ParseFlat(stat);
                s.Memory.Cache = s.Memory.Raw.GetValueOrDefault("file");
            }
            string? events = CgroupFs.TryRead(Path.Join(d, "memory.events"), out _);
            ulong usage = CgroupFs.ReadU64(Path.Join(d, "memory.current"));
            ulong limit = CgroupFs.ReadU64(Path.Join(d, "memory.max"));
            s.Memory.Usage = new MemoryEntry
            {
                Usage = usage,
                Limit = limit,
                Max = CgroupFs.ReadU64(Path.Join(d, "memory.peak")), // 5.19+
                Failcnt = CgroupFs.GetKey(events, "max"),
            };
            // Reported as memory+swap like v1's memsw, so tools read the same meaning on both.
            ulong swapUsage = CgroupFs.ReadU64(Path.Join(d, "memory.swap.current"));
            ulong swapLimit = CgroupFs.ReadU64(Path.Join(d, "memory.swap.max"));
            s.Memory.Swap = new MemoryEntry
            {
                Usage = usage + swapUsage,
                Limit = limit == ulong.MaxValue || swapLimit == ulong.MaxValue ? ulong.MaxValue : limit + swapLimit,
                Max = CgroupFs.ReadU64(Path.Join(d, "memory.swap.peak")),
                Failcnt = CgroupFs.GetKey(CgroupFs.TryRead(Path.Join(d, "memory.swap.events"), out _), "fail"),
            };
        }
        if (Owns("pids"))
        {
            s.Pids.Current = CgroupFs.ReadU64(Path.Join(d, "pids.current"));
            ulong max = CgroupFs.ReadU64(Path.Join(d, "pids.max"));
            s.Pids.Limit = max == ulong.MaxValue ? 0 : max; // runc reports "max" as 0
        }
        if (Owns("io") && CgroupFs.TryRead(Path.Join(d, "io.stat"), out _) is { } io)
        {
            var bytes = new List<BlkioEntry>();
            var ops = new List<BlkioEntry>();
            // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
            foreach (var line in io.AsSpan().EnumerateLines())
            {
                int sp = line.IndexOf(' ');
                if (sp < 0) continue;
                var dev = line[..sp];
                int colon = dev.IndexOf(':');
                if (colon < 0) continue;
                ulong major = CgroupFs.ParseU64(dev[..colon]), minor = CgroupFs.ParseU64(dev[(colon + 1)..]);
                foreach (var r in line[(sp + 1)..].Split(' '))
                {
                    var kv = line[(sp + 1)..][r];
                    int eq = kv.IndexOf('=');
                    if (eq < 0) continue;
                    var k = kv[..eq];
                    ulong v = CgroupFs.ParseU64(kv[(eq + 1)..]);
                    if (k.SequenceEqual("rbytes")) bytes.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Read", Value = v });
                    else if (k.SequenceEqual("wbytes")) bytes.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Write", Value = v });
                    else if (k.SequenceEqual("rios")) ops.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Read", Value = v });
                    else if (k.SequenceEqual("wios")) ops.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Write", Value = v });
                }
            }
            s.Blkio.IoServiceBytesRecursive = bytes;
            s.Blkio.IoServicedRecursive = ops;
        }
        if (Owns("hugetlb"))
        {
            foreach (string file in System.IO.Directory.EnumerateFiles(d, "hugetlb.*.current"))
            {
                string name = Path.GetFileName(file);
                if (name.Contains(".rsvd.", StringComparison.Ordinal)) continue;
                string size = name["hugetlb.".Length..^".current".Length];
                s.Hugetlb[size] = new HugetlbStats
                {
                    Usage = CgroupFs.ReadU64(file),
                    Failcnt = CgroupFs.GetKey(CgroupFs.TryRead(Path.Join(d, $"hugetlb.{size}.events"), out _), "max"),
                };
            }
        }
    }

    public bool Destroy() => Destroy(Stopwatch.StartNew());

    /// <summary>With the caller's clock, so a hybrid cgroup's two parts share one time bound.</summary>
    internal bool Destroy(Stopwatch clock) => CgroupCommon.RemoveTree(_dir, clock, CgroupCommon.DestroyBound);

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

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);
}
