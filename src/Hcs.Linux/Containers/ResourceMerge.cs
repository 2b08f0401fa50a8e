using Hcs.Schema.Oci;

namespace Hcs.Linux.Containers;

/// <summary>`update` changes only what it names: merges an update into the stored resources
/// field by field, so the state keeps an accurate picture of the limits in force.</summary>
public static class ResourceMerge
{
    public static Resources Merge(Resources? current, Resources update)
    {
        var r = current ?? new Resources();
        if (update.Memory is { } m)
        {
            var t = r.Memory ??= new Memory();
            t.Limit = m.Limit ?? t.Limit;
            t.Reservation = m.Reservation ?? t.Reservation;
            t.Swap = m.Swap ?? t.Swap;
            t.Kernel = m.Kernel ?? t.Kernel;
            t.KernelTcp = m.KernelTcp ?? t.KernelTcp;
            t.Swappiness = m.Swappiness ?? t.Swappiness;
            t.DisableOomKiller = m.DisableOomKiller ?? t.DisableOomKiller;
        }
        if (update.Cpu is { } c)
        {
            var t = r.Cpu ??= new Cpu();
            t.Shares = c.Shares ?? t.Shares;
            t.Quota = c.Quota ?? t.Quota;
            t.Burst = c.Burst ?? t.Burst;
            t.Period = c.Period ?? t.Period;
            t.RealtimeRuntime = c.RealtimeRuntime ?? t.RealtimeRuntime;
            t.RealtimePeriod = c.RealtimePeriod ?? t.RealtimePeriod;
            t.Cpus = c.Cpus ?? t.Cpus;
            t.Mems = c.Mems ?? t.Mems;
            t.Idle = c.Idle ?? t.Idle;
        }
        if (update.Pids is { } p) r.Pids = p;
        if (update.BlockIO is { } b)
        {
            var t = r.BlockIO ??= new BlockIo();
            t.Weight = b.Weight ?? t.Weight;
            t.LeafWeight = b.LeafWeight ?? t.LeafWeight;
            t.WeightDevice = b.WeightDevice ?? t.WeightDevice;
            t.ThrottleReadBpsDevice = b.ThrottleReadBpsDevice ?? t.ThrottleReadBpsDevice;
            t.ThrottleWriteBpsDevice = b.ThrottleWriteBpsDevice ?? t.ThrottleWriteBpsDevice;
            t.ThrottleReadIopsDevice = b.ThrottleReadIopsDevice ?? t.ThrottleReadIopsDevice;
            t.ThrottleWriteIopsDevice = b.ThrottleWriteIopsDevice ?? t.ThrottleWriteIopsDevice;
        }
        if (update.HugepageLimits is { } h) r.HugepageLimits = h;
        if (update.Unified is { } u)
        {
            r.Unified ??= [];
            foreach (var (k, v) in u) r.Unified[k] = v;
        }
        return r;
    }
}
