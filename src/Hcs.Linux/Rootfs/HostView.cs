using Hcs.Linux.Containers;

namespace Hcs.Linux.Rootfs;

/// <summary>The real host behind <see cref="IHostView"/>: stat(2) and /proc/self/mountinfo.
/// <paramref name="cgroupMounts"/>, when given, are the host's cgroup mounts as read before (a
/// long-lived caller reads them once: mountinfo grows with every container's mounts, and its
/// cgroup lines do not change), so only <see cref="MountPointOf"/> reads mountinfo.</summary>
public sealed class HostView(IReadOnlyDictionary<string, string> cgroupPaths, string mountinfo = "/proc/self/mountinfo",
                             IReadOnlyList<MountInfoLine>? cgroupMounts = null)
    : IHostView, IMountTable
{
    private List<MountInfoLine>? _mounts;

    /// <summary>The cgroup and cgroup2 lines of a mountinfo file.</summary>
    public static List<MountInfoLine> CgroupMountsOf(string mountinfo = "/proc/self/mountinfo") =>
        MountInfoLine.ReadAll(mountinfo).FindAll(m => m.FsType is "cgroup" or "cgroup2");

    public HostPathKind Kind(string path)
    {
        // stat, not lstat: a bind source that is a symlink binds what it points to, and a
        // dangling one is missing (File.Exists alone says true for a dangling link)
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null) return HostPathKind.Missing;
            path = target.FullName;
        }
        if (Directory.Exists(path)) return HostPathKind.Directory;
        return File.Exists(path) ? HostPathKind.File : HostPathKind.Missing;
    }

    public CgroupMountView Cgroups()
    {
        var v1 = new List<CgroupHierarchyMount>();
        string? unified = null;
        var done = new HashSet<string>();
        foreach (var m in cgroupMounts ?? Mounts())
        {
            if (m.FsType == "cgroup2")
            {
                if (cgroupPaths.TryGetValue("", out var u) && u.StartsWith(m.MountPoint, StringComparison.Ordinal)) unified = u;
                continue;
            }
            if (m.FsType != "cgroup" || !done.Add(m.MountPoint)) continue;
            // the container's directory in this hierarchy: any controller path under this mount
            string? hostPath = null;
            foreach (var (_, p) in cgroupPaths)
                if (p.StartsWith(m.MountPoint + "/", StringComparison.Ordinal) || p == m.MountPoint) { hostPath = p; break; }
            if (hostPath is null) continue; // a hierarchy we do not use (e.g. name=systemd)
            var controllers = new List<string>();
            foreach (var opt in m.SuperOptions.Split(','))
                if (opt is not ("rw" or "ro") && !opt.StartsWith("release_agent", StringComparison.Ordinal) &&
                    opt is not ("clone_children" or "noprefix" or "xattr" or "cpuset_v2_mode"))
                    controllers.Add(opt);
            v1.Add(new CgroupHierarchyMount(Path.GetFileName(m.MountPoint), string.Join(',', controllers), hostPath));
        }
        return new CgroupMountView(v1, unified);
    }

    public string? MountPointOf(string path)
    {
        string? best = null;
        foreach (var m in Mounts())
            if ((path == m.MountPoint || path.StartsWith(m.MountPoint.TrimEnd('/') + "/", StringComparison.Ordinal)) &&
                (best is null || m.MountPoint.Length > best.Length))
                best = m.MountPoint;
        return best;
    }

    private List<MountInfoLine> Mounts() => _mounts ??= MountInfoLine.ReadAll(mountinfo);
}

/// <summary>One line of /proc/self/mountinfo (proc(5)): the fields the runtime uses.</summary>
public sealed record MountInfoLine(string Root, string MountPoint, string FsType, string Source, string SuperOptions)
{
    public static List<MountInfoLine> ReadAll(string path)
    {
        var result = new List<MountInfoLine>();
        foreach (var line in File.ReadLines(path))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var dash = line.IndexOf(" - ", StringComparison.Ordinal);
            if (dash < 0) continue;
            var left = line[..dash].Split(' ');
            var right = line[(dash + 3)..].Split(' ');
            if (left.Length < 5 || right.Length < 3) continue;
            result.Add(new MountInfoLine(Unescape(left[3]), Unescape(left[4]), right[0], Unescape(right[1]), right[2]));
        }
        return result;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo octal.</summary>
    public static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length &&
                s[i + 1] is >= '0' and <= '7' && s[i + 2] is >= '0' and <= '7' && s[i + 3] is >= '0' and <= '7')
            {
                sb.Append((char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }
}
