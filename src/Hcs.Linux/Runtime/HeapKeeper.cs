namespace Hcs.Linux.Runtime;

/// <summary>
/// Keeps a long-lived, mostly idle host process (hcs-monitor, hcsd) small. Their memory is paid
/// per container on the host, but they allocate little and rarely, so the GC's gen0 budget
/// (sized from the CPU cache for throughput: tens of MiB here; the gen0 budget settings are
/// honoured neither by NativeAOT nor from runtimeconfig.json) lets the garbage of hundreds of
/// container lifecycles pile up before a first collection. So: a collection after every few
/// MiB allocated, on the thread pool, off the request path.
/// </summary>
public sealed class HeapKeeper(long budgetBytes, int generation)
{
    private long _lastCollectedAt;
    private int _collecting;

    public void AfterRequest()
    {
        if (GC.GetTotalAllocatedBytes() - Interlocked.Read(ref _lastCollectedAt) < budgetBytes) return;
        if (Interlocked.Exchange(ref _collecting, 1) == 1) return;
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            GC.Collect(generation, GCCollectionMode.Forced, blocking: true, compacting: generation == 2);
            Interlocked.Exchange(ref _lastCollectedAt, GC.GetTotalAllocatedBytes());
            Interlocked.Exchange(ref _collecting, 0);
        }, null);
    }
}
