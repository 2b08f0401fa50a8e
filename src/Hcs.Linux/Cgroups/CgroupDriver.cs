namespace Hcs.Linux.Cgroups;

/// <summary>How the host mounts cgroups.</summary>
public enum CgroupMode
{
    /// <summary>Only v1 hierarchies (no cgroup2 mount at all).</summary>
    V1,
    /// <summary>One cgroup2 hierarchy holding every controller (the common modern layout).</summary>
    V2,
    /// <summary>v1 hierarchies for most controllers plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified)
    /// holding the rest, possibly none.</summary>
    Hybrid,
}

/// <summary>One mounted v1 hierarchy with controllers.</summary>
/// <param name="Controllers">Its controllers; several when co-mounted ("cpu,cpuacct").</param>
/// <param name="MountPoint">Where it is mounted (with the test root prefix, if any).</param>
/// <param name="MountRoot">Which cgroup of the hierarchy the mount shows ("/" unless bind-mounted
/// or seen from a cgroup namespace).</param>
/// <param name="OwnPath">This process's cgroup in it, from /proc/self/cgroup.</param>
public sealed record CgroupHierarchy(IReadOnlyList<string> Controllers, string MountPoint, string MountRoot, string OwnPath);

/// <summary>
/// Finds out how cgroups are laid out on this host and opens container cgroups accordingly.
/// Per-controller placement: a controller bound to a v1 hierarchy is used there; a controller only
/// the cgroup2 hierarchy offers is used there. That makes hybrid hosts (which crun refuses) work:
/// on this kind of host hugetlb lives in /sys/fs/cgroup/unified while memory, cpu... are v1.
/// </summary>
public sealed class CgroupDriver
{
    private readonly List<CgroupHierarchy> _v1 = [];
    private readonly Dictionary<string, CgroupHierarchy> _v1ByController = new(StringComparer.Ordinal);
    private readonly string[] _unifiedControllers = [];
    private readonly string? _unifiedRoot;
    private readonly string? _unifiedOwnPath;

    /// <summary>The layout of the calling process's host.</summary>
    public static CgroupDriver Detect() => new("/proc/self/mountinfo", "/proc/self/cgroup");

    /// <summary>Reads the layout from the given files. <paramref name="rootPrefix"/> is prepended to
    /// every mount point, so tests can describe a real-looking host whose cgroupfs is a temp dir.</summary>
    public CgroupDriver(string mountInfoPath, string selfCgroupPath, string? rootPrefix = null)
    {
        rootPrefix = string.IsNullOrEmpty(rootPrefix) ? "" : rootPrefix.TrimEnd('/');
        var mounts = ReadCgroupMounts(mountInfoPath);

        // /proc/self/cgroup is authoritative for which controllers share a hierarchy and where we
        // are in each one; mountinfo tells where each hierarchy is mounted.
        foreach (string line in ReadLines(selfCgroupPath))
        {
            // "hierarchy-ID:controller-list:cgroup-path"
            int c1 = line.IndexOf(':'), c2 = c1 < 0 ? -1 : line.IndexOf(':', c1 + 1);
            if (c2 < 0) continue;
            string list = line[(c1 + 1)..c2], own = line[(c2 + 1)..];
            if (list.Length == 0)
            {
                if (line.AsSpan(0, c1).SequenceEqual("0")) _unifiedOwnPath = own;
                continue;
            }
            var controllers = new List<string>();
            foreach (string c in list.Split(','))
            {
                // Named hierarchies (name=systemd) carry no resource control: skipped.
                if (c.Length != 0 && !c.StartsWith("name=", StringComparison.Ordinal)) controllers.Add(c);
            }
            if (controllers.Count == 0) continue;
            Mount? m = PickMount(mounts, v2: false, controllers[0]);
            if (m == null) continue; // a hierarchy nobody mounted is of no use to us
            var h = new CgroupHierarchy(controllers, rootPrefix + m.Value.MountPoint, m.Value.Root, own);
            _v1.Add(h);
            foreach (string c in controllers) _v1ByController[c] = h;
        }

        Mount? unified = PickMount(mounts, v2: true, null);
        if (unified != null)
        {
            UnifiedMountPoint = rootPrefix + unified.Value.MountPoint;
            _unifiedRoot = unified.Value.Root;
            _unifiedOwnPath ??= "/";
            string? text = CgroupFs.TryRead(Path.Join(UnifiedMountPoint, "cgroup.controllers"), out _);
            if (text != null) _unifiedControllers = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        }

        if (_v1.Count == 0 && UnifiedMountPoint == null)
            throw new CgroupException($"no cgroup hierarchy is mounted (read {mountInfoPath})");
        Mode = _v1.Count == 0 ? CgroupMode.V2 : UnifiedMountPoint == null ? CgroupMode.V1 : CgroupMode.Hybrid;

        var all = new List<string>();
        foreach (var h in _v1) all.AddRange(h.Controllers);
        foreach (string c in _unifiedControllers)
            if (!_v1ByController.ContainsKey(c)) all.Add(c);
        Controllers = all;
    }

    public CgroupMode Mode { get; }

    /// <summary>Every controller we can use, each once, wherever it lives (for `features`).</summary>
    public IReadOnlyList<string> Controllers { get; }

    /// <summary>The mounted v1 hierarchies with controllers (named ones excluded).</summary>
    public IReadOnlyList<CgroupHierarchy> V1Hierarchies => _v1;

    /// <summary>The cgroup2 mount point, if any.</summary>
    public string? UnifiedMountPoint { get; }

    /// <summary>The controllers the cgroup2 root offers (on a hybrid host only those not bound to v1).</summary>
    public IReadOnlyList<string> UnifiedControllers => _unifiedControllers;

    /// <summary>The cgroup for a container, not yet created. See <see cref="CgroupPaths"/> for the path rules.</summary>
    public ICgroup Open(string? cgroupsPath, string containerId, bool systemdStyle = false)
    {
        string inner = CgroupPaths.Resolve(cgroupsPath, containerId, systemdStyle);
        var v1Dirs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var h in _v1)
        {
            string dir = Under(h.MountPoint, h.MountRoot, h.OwnPath, inner);
            foreach (string c in h.Controllers) v1Dirs[c] = dir;
        }
        string? v2Dir = UnifiedMountPoint == null ? null : Under(UnifiedMountPoint, _unifiedRoot!, _unifiedOwnPath!, inner);
        return Build(v1Dirs, v2Dir);
    }

    /// <summary>Reopens a cgroup from its persisted <see cref="ICgroup.Paths"/>. The paths come from a
    /// state file; each must lie inside the hierarchy it claims, so a tampered state cannot make us
    /// write limits (as root) into arbitrary files.</summary>
    public ICgroup Load(IReadOnlyDictionary<string, string> paths)
    {
        var v1Dirs = new Dictionary<string, string>(StringComparer.Ordinal);
        string? v2Dir = null;
        foreach (var (controller, dir) in paths)
        {
            string mount = controller.Length == 0
                ? UnifiedMountPoint ?? throw new CgroupException("cgroup paths name a cgroup v2 directory but no cgroup2 is mounted")
                : _v1ByController.TryGetValue(controller, out var h) ? h.MountPoint
                : throw new CgroupException($"cgroup paths name controller \"{controller}\", which is not mounted as cgroup v1 here");
            if (!IsInside(mount, dir))
                throw new CgroupException($"cgroup path \"{dir}\" for \"{controller}\" is not inside {mount}");
            if (controller.Length == 0) v2Dir = dir;
            else v1Dirs[controller] = dir;
        }
        if (v1Dirs.Count == 0 && v2Dir == null) throw new CgroupException("cgroup paths are empty");
        return Build(v1Dirs, v2Dir);
    }

    private ICgroup Build(Dictionary<string, string> v1Dirs, string? v2Dir)
    {
        CgroupV1? v1 = null;
        if (v1Dirs.Count != 0)
        {
            var parts = new List<CgroupV1.Hierarchy>();
            var done = new HashSet<string>(StringComparer.Ordinal);
            foreach (var h in _v1)
            {
                // Any controller of a co-mounted group names its directory.
                string? dir = null;
                foreach (string c in h.Controllers)
                    if (v1Dirs.TryGetValue(c, out dir)) break;
                if (dir == null || !done.Add(dir)) continue;
                parts.Add(new CgroupV1.Hierarchy(h.Controllers, h.MountPoint, dir));
            }
            v1 = new CgroupV1(parts);
        }
        if (v2Dir == null) return v1!;

        // The v2 part manages what v1 does not: its own controllers, plus the device filter (eBPF)
        // and the freezer (cgroup.freeze) when no v1 hierarchy provides them.
        var owned = new HashSet<string>(StringComparer.Ordinal);
        foreach (string c in _unifiedControllers)
            if (!_v1ByController.ContainsKey(c)) owned.Add(c);
        var v2 = new CgroupV2(UnifiedMountPoint!, v2Dir, owned,
            ownsDevices: !_v1ByController.ContainsKey("devices"), ownsFreezer: !_v1ByController.ContainsKey("freezer"));
        return v1 == null ? v2 : new CgroupHybrid(v1, v2);
    }

    /// <summary>The directory for inner path in a hierarchy mounted at mountPoint showing cgroup
    /// mountRoot, where we are in cgroup ownPath.</summary>
    private static string Under(string mountPoint, string mountRoot, string ownPath, string inner)
    {
        string mp = mountPoint.TrimEnd('/');
        if (inner[0] == '/') return mp + inner;
        // Relative: under our own cgroup, as seen through this mount.
        string own = ownPath;
        if (mountRoot != "/")
            own = own == mountRoot ? "/" : own.StartsWith(mountRoot + "/", StringComparison.Ordinal) ? own[mountRoot.Length..] : "/";
        own = own.TrimEnd('/');
        return mp + own + "/" + inner;
    }

    private static bool IsInside(string mount, string dir)
    {
        string m = mount.TrimEnd('/') + "/";
        if (!dir.StartsWith(m, StringComparison.Ordinal) || dir.Length == m.Length) return false;
        foreach (var r in dir.AsSpan(m.Length).Split('/'))
        {
            var part = dir.AsSpan(m.Length)[r];
            if (part.SequenceEqual("..") || part.SequenceEqual(".")) return false;
        }
        return true;
    }

    // ---- /proc/self/mountinfo ----

    private readonly record struct Mount(bool V2, string MountPoint, string Root, string[] Options);

    private static List<Mount> ReadCgroupMounts(string path)
    {
        var result = new List<Mount>();
        foreach (string line in ReadLines(path))
        {
            // "36 35 98:0 <root> <mount point> <opts> [optional...] - <fstype> <source> <super opts>"
            int sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0) continue;
            var tail = line.AsSpan(sep + 3);
            bool v2 = tail.StartsWith("cgroup2 ");
            if (!v2 && !tail.StartsWith("cgroup ")) continue;
            string[] head = line[..sep].Split(' ');
            if (head.Length < 5) continue;
            string[] fs = line[(sep + 3)..].Split(' ');
            string[] options = fs.Length >= 3 ? fs[2].Split(',') : [];
            result.Add(new Mount(v2, Unescape(head[4]), Unescape(head[3]), options));
        }
        return result;
    }

    /// <summary>The mount of a hierarchy: a v1 one is recognized by a controller in its super
    /// options. When mounted more than once, prefer the mount showing the whole hierarchy.</summary>
    private static Mount? PickMount(List<Mount> mounts, bool v2, string? controller)
    {
        Mount? first = null;
        foreach (var m in mounts)
        {
            if (m.V2 != v2) continue;
            if (!v2 && Array.IndexOf(m.Options, controller) < 0) continue;
            if (m.Root == "/") return m;
            first ??= m;
        }
        return first;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) && IsOctal(s[i + 3]))
            {
                sb.Append((char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();

        static bool IsOctal(char c) => c is >= '0' and <= '7';
    }

    private static string[] ReadLines(string path)
    {
        string text = CgroupFs.TryRead(path, out int e)
            ?? throw new CgroupException($"{path}: reading: {CgroupFs.ErrorText(e)}", e);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
