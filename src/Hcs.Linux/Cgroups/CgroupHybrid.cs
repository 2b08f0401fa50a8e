using Hcs.Schema.Oci;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// A container cgroup on a hybrid host: a v1 part for the controllers mounted as v1 and a v2
/// part (in the cgroup2 mount, e.g. /sys/fs/cgroup/unified) for the controllers only cgroup2
/// offers. Each resource goes to the part that owns its controller; processes join both.
/// </summary>
public sealed class CgroupHybrid : ICgroup
{
    internal CgroupHybrid(CgroupV1 v1, CgroupV2 v2)
    {
        V1 = v1;
        V2 = v2;
    }

    public CgroupV1 V1 { get; }
    public CgroupV2 V2 { get; }

    public IReadOnlyDictionary<string, string> Paths =>
        field ??= new Dictionary<string, string>(V1.Paths, StringComparer.Ordinal) { [""] = V2.Directory };

    private bool Owns(string controller) => V1.Owns(controller) || V2.Owns(controller);

    public void Create()
    {
        V1.Create();
        V2.Create();
    }

    public void Apply(Resources resources)
    {
        CgroupCommon.CheckSupported(resources, Owns, hasV2: true);
        V1.ApplyOwned(resources);
        V2.ApplyOwned(resources, V1.Owns);
    }

    public void AddProcess(int pid)
    {
        V1.AddProcess(pid);
        V2.AddProcess(pid);
    }

    public IReadOnlyList<int> GetPids(bool recursive = true) => V1.GetPids(recursive);

    public void Freeze()
    {
        if (V1.Owns("freezer")) V1.Freeze();
        else V2.Freeze();
    }

    public void Thaw()
    {
        if (V1.Owns("freezer")) V1.Thaw();
        else V2.Thaw();
    }

    public bool IsFrozen() => V1.Owns("freezer") ? V1.IsFrozen() : V2.IsFrozen();

    /// <summary>cgroup.kill in the v2 part kills every member atomically (forks included); then
    /// anything listed only in v1 (moved there by someone else) gets SIGKILL too. Without
    /// cgroup.kill, v1's freeze-kill-thaw.</summary>
    public void KillAll()
    {
        if (!V2.TryKillAll())
        {
            V1.KillAll();
            return;
        }
        foreach (int pid in V1.GetPids(recursive: true)) CgroupFs.Kill(pid, CgroupCommon.SIGKILL);
    }

    public CgroupStats GetStats()
    {
        var s = new CgroupStats();
        V1.FillStats(s);
        V2.FillStats(s, standalone: false);
        return s;
    }

    public ulong OomKillCount() => V1.Owns("memory") ? V1.OomKillCount() : V2.OomKillCount();

    public bool Destroy()
    {
        // Both, even when the first gives up (the second then tries once): leave as little
        // behind as possible, within one time bound.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool v1 = V1.Destroy(clock);
        bool v2 = V2.Destroy(clock);
        return v1 && v2;
    }
}
