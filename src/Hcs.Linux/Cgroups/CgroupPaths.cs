using System.Text;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// Turns OCI <c>linux.cgroupsPath</c> into the path of the container's cgroup inside a hierarchy,
/// with the rules of runc's cgroupfs driver:
/// <list type="bullet">
/// <item>empty: <c>/&lt;containerId&gt;</c>;</item>
/// <item>absolute (<c>/a/b</c>): relative to each hierarchy's root;</item>
/// <item>relative (<c>a/b</c>): relative to the cgroup this process is in, per hierarchy
///   (the caller resolves that against /proc/self/cgroup);</item>
/// <item>systemd style (<c>--systemd-cgroup</c>) <c>slice:prefix:name</c>: the path systemd would
///   give the unit, <c>&lt;slice path&gt;/&lt;prefix&gt;-&lt;name&gt;.scope</c>. We do not talk to systemd
///   (there may be none); we only lay the directories out where it would.</item>
/// </list>
/// ".." is refused everywhere: a config must not be able to name a cgroup outside its hierarchy
/// (nor the root itself, which Destroy would then try to remove).
/// </summary>
public static class CgroupPaths
{
    /// <summary>The prefix of the scope unit when a systemd-style path omits it (runc uses "runc").</summary>
    public const string DefaultScopePrefix = "runhcs";

    /// <summary>The cleaned inner path: starts with '/' when absolute (relative to each hierarchy
    /// root), no leading '/' when relative to our own cgroup.</summary>
    public static string Resolve(string? cgroupsPath, string containerId, bool systemdStyle = false)
    {
        if (systemdStyle)
            return FromSystemd(string.IsNullOrEmpty(cgroupsPath) ? $"system.slice:{DefaultScopePrefix}:{containerId}" : cgroupsPath);
        return Clean(string.IsNullOrEmpty(cgroupsPath) ? "/" + containerId : cgroupsPath);
    }

    /// <summary>"slice:prefix:name" → "/a.slice/a-b.slice/prefix-name.scope".</summary>
    private static string FromSystemd(string path)
    {
        string[] parts = path.Split(':');
        if (parts.Length != 3)
            throw Invalid(path, "with --systemd-cgroup it must be \"slice:prefix:name\"");
        string slice = parts[0].Length == 0 ? "system.slice" : parts[0];
        string prefix = parts[1], name = parts[2];
        if (name.Length == 0 || !IsPlainName(name))
            throw Invalid(path, "the name part must be a non-empty name without '/'");
        if (prefix.Length != 0 && !IsPlainName(prefix))
            throw Invalid(path, "the prefix part must not contain '/'");
        // A name that is itself a slice means "put the container in this slice", as systemd does.
        string unit = name.EndsWith(".slice", StringComparison.Ordinal) ? name
            : prefix.Length == 0 ? name + ".scope" : $"{prefix}-{name}.scope";
        string parent = ExpandSlice(slice, path);
        return parent == "/" ? "/" + unit : parent + "/" + unit;
    }

    /// <summary>systemd's slice naming: "a-b-c.slice" is nested as /a.slice/a-b.slice/a-b-c.slice;
    /// "-.slice" is the root.</summary>
    public static string ExpandSlice(string slice) => ExpandSlice(slice, slice);

    private static string ExpandSlice(string slice, string whole)
    {
        const string Suffix = ".slice";
        if (!slice.EndsWith(Suffix, StringComparison.Ordinal) || slice.Contains('/'))
            throw Invalid(whole, $"\"{slice}\" is not a slice name (\"name.slice\", no '/')");
        if (slice == "-.slice") return "/";
        string stem = slice[..^Suffix.Length];
        if (stem.Length == 0 || stem[0] == '-' || stem[^1] == '-' || stem.Contains("--", StringComparison.Ordinal))
            throw Invalid(whole, $"\"{slice}\" is not a valid slice name (empty part between '-')");
        var sb = new StringBuilder(stem.Length * 2 + 16);
        for (int i = 0; i <= stem.Length; i++)
        {
            if (i == stem.Length || stem[i] == '-')
                sb.Append('/').Append(stem, 0, i).Append(Suffix);
        }
        return sb.ToString();
    }

    /// <summary>Collapses "//" and "/./", refuses "..", NUL and paths naming the hierarchy root.</summary>
    internal static string Clean(string path)
    {
        if (path.Contains('\0')) throw Invalid(path, "contains a NUL character");
        bool absolute = path[0] == '/';
        var sb = new StringBuilder(path.Length + 1);
        foreach (var range in path.AsSpan().Split('/'))
        {
            var part = path.AsSpan(range);
            if (part.IsEmpty || part.SequenceEqual(".")) continue;
            if (part.SequenceEqual("..")) throw Invalid(path, "\"..\" is not allowed");
            if (sb.Length > 0 || absolute) sb.Append('/');
            sb.Append(part);
        }
        if (sb.Length == 0) throw Invalid(path, "names the root of the hierarchy, not a cgroup of its own");
        return sb.ToString();
    }

    private static bool IsPlainName(string s) => !s.Contains('/') && s != "." && s != ".." && !s.Contains('\0');

    private static CgroupException Invalid(string path, string why) =>
        new($"linux.cgroupsPath: \"{path}\": {why}", CgroupFs.EINVAL);
}
