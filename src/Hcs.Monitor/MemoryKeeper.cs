namespace Hcs.Monitor;

/// <summary>
/// Keeps the monitor small. Its memory is paid per container on the host, but it allocates
/// little and rarely, so the GC's gen0 budget (sized from the CPU cache for throughput: tens of
/// MiB here, and NativeAOT ignores the gen0 budget settings) would let ~250 KiB of garbage per
/// container lifecycle pile up for hundreds of containers before a first collection. So: a
/// compacting collection after every few MiB allocated, off the request path (a heap of a few
/// hundred KiB collects in well under a millisecond).
/// </summary>
internal static class MemoryKeeper
{
    private const long Budget = 4 << 20;
    private static long _lastCollectedAt;
    private static int _collecting;

    public static void AfterRequest()
    {
        if (GC.GetTotalAllocatedBytes() - Interlocked.Read(ref _lastCollectedAt) < Budget) return;
        if (Interlocked.Exchange(ref _collecting, 1) == 1) return;
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            Interlocked.Exchange(ref _lastCollectedAt, GC.GetTotalAllocatedBytes());
            Interlocked.Exchange(ref _collecting, 0);
        }, null);
    }
}
