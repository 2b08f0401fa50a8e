namespace Hcs.Tests.Integration.Support;

/// <summary>
/// "Nothing left behind", checked from the outside: the mount table, cgroup directories named
/// after the container, its state directory, its pid file, and processes carrying a marker.
/// Take a snapshot before the operation, then <see cref="AssertClean"/> after it.
/// </summary>
public sealed class LeakCheck
{
    private readonly HashSet<string> _mounts;

    private LeakCheck(HashSet<string> mounts) => _mounts = mounts;

    public static LeakCheck Before() => new(MountPoints());

    private static HashSet<string> MountPoints() =>
        [.. File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])];

    public void AssertClean(Runtime runtime, string id, string? pidFile = null, string? processMarker = null)
    {
        var newMounts = MountPoints().Except(_mounts).ToList();
        Assert.True(newMounts.Count == 0, "mounts left behind: " + string.Join(", ", newMounts));
        var cgroups = CgroupDirsNamed(id);
        Assert.True(cgroups.Count == 0, "cgroups left behind: " + string.Join(", ", cgroups));
        Assert.False(Directory.Exists(Path.Combine(runtime.Root, id)), $"state directory {runtime.Root}/{id} left behind");
        if (pidFile is not null) Assert.False(File.Exists(pidFile), $"pid file {pidFile} left behind");
        if (processMarker is not null)
        {
            var procs = ProcessesWith(processMarker);
            Assert.True(procs.Count == 0, "processes left behind: " + string.Join(", ", procs));
        }
    }

    public static List<string> CgroupDirsNamed(string name)
    {
        var found = new List<string>();
        foreach (var hierarchy in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            try
            {
                found.AddRange(Directory.EnumerateDirectories(hierarchy, name, new EnumerationOptions
                {
                    RecurseSubdirectories = true, MaxRecursionDepth = 6, IgnoreInaccessible = true,
                }));
            }
            catch (IOException) { }
        }
        return found;
    }

    public static List<string> ProcessesWith(string marker)
    {
        var found = new List<string>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmd.Contains(marker)) found.Add($"{pid}: {cmd}");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }
}
