using Hcs.Linux.Native;

namespace Hcs.Linux.Containers;

/// <summary>
/// Containers' first processes made ahead of time, for a long-lived parent (hcs-monitor).
///
/// Cloning the parent is the largest part of a container's create there: the copy of a
/// NativeAOT process's page tables, its teardown at execve, and the new network and pid
/// namespaces. The pool asks the zygote (hcs-zygote, native/src/zygote.c: a small executable
/// the parent starts, so that its children carry none of the parent's memory) for "waiting
/// children": already in their new pid, network, ipc and uts namespaces, children of the
/// parent, blocked until a plan comes. A background thread keeps <c>size</c> of them ready
/// for the namespaces the last create asked for; a create takes one, or has one made on the
/// spot when none is ready (still cheaper than a clone of the parent). What a waiting child
/// cannot do (join namespaces, make a user or time namespace, keep extra fds, run hooks itself)
/// goes the ordinary way (<see cref="Spawner.Start"/>).
/// docs/design/0007-spawn-pool.md says why and what was rejected.
/// </summary>
public sealed unsafe class SpawnPool : IDisposable
{
    /// <summary>The namespaces a waiting child is cloned into: the mount namespace is made when
    /// its plan comes (a copy of the host's at create time), the cgroup namespace after GO.</summary>
    public const ulong MadeAhead = Libc.CLONE_NEWPID | Libc.CLONE_NEWNET | Libc.CLONE_NEWIPC | Libc.CLONE_NEWUTS;

    /// <summary>Shared memory each waiting child's plan is built in; pages are only used as touched
    /// (a default container's plan takes about 30 KiB).</summary>
    private const ulong RegionLength = 1 << 20;

    private readonly int _control;
    private readonly int _size;
    private readonly Action<string>? _log;
    private readonly Lock _zygote = new();          // one request at a time on the control socket
    private readonly Lock _gate = new();            // _ready, _flags, _broken, _disposed
    private readonly Queue<WaitingChild> _ready = new();
    /// <summary>Wakes the filler. Without spinning: a SemaphoreSlim's wait spins (about 65
    /// sched_yield calls) before it blocks, each time the filler goes back to waiting, that is
    /// after every create; on a small host that is CPU the create's own work could have had.</summary>
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private ulong _flags;
    private bool _broken, _disposed;

    public int ZygotePid { get; }

    private SpawnPool(int control, int zygotePid, int size, ulong flags, Action<string>? log)
    {
        _control = control;
        ZygotePid = zygotePid;
        _size = size;
        _flags = flags & MadeAhead;
        _log = log;
        new Thread(Fill) { IsBackground = true, Name = "spawn-pool" }.Start();
        _wake.Set();
    }

    /// <summary>Where hcs-zygote is: $HCS_ZYGOTE, else beside a standard install of the caller
    /// (PREFIX/lib/hcs/hcs-zygote for PREFIX/bin/NAME), else /usr/local/lib/hcs/hcs-zygote.</summary>
    public static string ZygotePath()
    {
        if (Environment.GetEnvironmentVariable("HCS_ZYGOTE") is { Length: > 0 } path) return path;
        if (Environment.ProcessPath is { } self && Path.GetDirectoryName(self) is { } bin &&
            Path.Combine(bin, "..", "lib", "hcs", "hcs-zygote") is var beside && File.Exists(beside))
            return Path.GetFullPath(beside);
        return "/usr/local/lib/hcs/hcs-zygote";
    }

    /// <summary>Starts the zygote (call it from a thread that lives as long as the pool) and
    /// starts filling: <paramref name="size"/> children ready for <paramref name="cloneFlags"/>.
    /// Null, with the reason logged, when the zygote cannot start.</summary>
    public static SpawnPool? Start(int size, ulong cloneFlags, Action<string>? log, string? zygotePath = null)
    {
        int control, pid;
        SpawnAbi.Error error;
        if (SpawnAbi.ZygoteStart(zygotePath ?? ZygotePath(), &control, &pid, &error) < 0)
        {
            log?.Invoke($"spawn pool off: {SpawnException.From(error).Message}");
            return null;
        }
        return new SpawnPool(control, pid, size, cloneFlags, log);
    }

    /// <summary>Ready children (for tests and stats).</summary>
    public int ReadyCount { get { lock (_gate) return _ready.Count; } }

    /// <summary>Whether a waiting child can carry out <paramref name="r"/>.</summary>
    public static bool Fits(SpawnRequest r) =>
        !r.IsExec && r.Joins.Count == 0 && (r.CloneFlags & Libc.CLONE_NEWUSER) == 0 && r.TimeOffsets is null &&
        r.PreserveFds == 0 && r.CreateContainerHooks.Count == 0 && r.StartContainerHooks.Count == 0 &&
        r.Steps.TrueForAll(s => s.IdMap is null);

    /// <summary>A waiting child for <paramref name="r"/>: a ready one, else one made now; null
    /// when the request does not fit or the zygote is gone (then spawn the ordinary way).</summary>
    public WaitingChild? Take(SpawnRequest r)
    {
        if (!Fits(r)) return null;
        ulong want = r.CloneFlags & MadeAhead;
        WaitingChild? child = null;
        lock (_gate)
        {
            if (_broken || _disposed) return null;
            if (want == _flags) _ready.TryDequeue(out child);
            else _flags = want; // the filler follows what creates ask for
        }
        _wake.Set();
        return child ?? Make(want, urgent: true);
    }

    private WaitingChild? Make(ulong flags, bool urgent)
    {
        SpawnAbi.Waiting w = default;
        SpawnAbi.Error error = default;
        int rc;
        // A create does not queue behind the filler's idle-class request: it spawns the ordinary way.
        if (urgent && !_zygote.TryEnter()) return null;
        if (!urgent) _zygote.Enter();
        try { rc = _disposed ? -2 : SpawnAbi.ZygoteFork(_control, flags, RegionLength, urgent ? 1 : 0, &w, &error); }
        finally { _zygote.Exit(); }
        if (rc == 0) return new WaitingChild(w, flags);
        if (rc == -2) return null;
        if (error.Err is not (Libc.EPIPE or Libc.ECONNRESET))
        {
            // this one failed (a pids limit, memory): creates go the ordinary way until one works
            _log?.Invoke($"spawn pool: {SpawnException.From(error).Message}");
            return null;
        }
        lock (_gate)
        {
            if (_broken || _disposed) return null;
            _broken = true;
        }
        _log?.Invoke($"spawn pool off, the zygote is gone: {SpawnException.From(error).Message}");
        try { Libc.WaitForExit(ZygotePid); } catch (ErrnoException) { } // not left a zombie
        return null;
    }

    private void Fill()
    {
        for (;;)
        {
            _wake.Wait();
            _wake.Reset(); // before looking at the state: a wake after this is not lost
            for (;;)
            {
                ulong flags;
                List<WaitingChild>? stale = null;
                lock (_gate)
                {
                    if (_disposed || _broken) return;
                    while (_ready.TryPeek(out var head) && head.CloneFlags != _flags)
                        (stale ??= []).Add(_ready.Dequeue());
                    flags = _flags;
                    if (_ready.Count >= _size && stale is null) break;
                }
                if (stale is not null)
                {
                    stale.ForEach(c => c.Discard());
                    continue; // counted again under the lock
                }
                var child = Make(flags, urgent: false);
                if (child is null)
                {
                    lock (_gate) if (_disposed || _broken) return;
                    break; // a failure: tried again at the next create
                }
                bool keep;
                lock (_gate)
                {
                    keep = !_disposed && child.CloneFlags == _flags && _ready.Count < _size;
                    if (keep) _ready.Enqueue(child);
                }
                if (!keep) child.Discard();
            }
        }
    }

    public void Dispose()
    {
        List<WaitingChild> ready;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            ready = [.. _ready];
            _ready.Clear();
        }
        _wake.Set();
        foreach (var c in ready) c.Discard();
        lock (_zygote) Libc.Close(_control); // EOF: the zygote exits
        Libc.WaitForExit(ZygotePid);
    }
}

/// <summary>A child the zygote made, waiting for its plan: the parent's end of its sync socket
/// and the shared region its plan goes into.</summary>
public sealed unsafe class WaitingChild(SpawnAbi.Waiting native, ulong cloneFlags)
{
    private SpawnAbi.Waiting _native = native;

    public int Pid => _native.Pid;
    public ulong CloneFlags { get; } = cloneFlags;
    internal SpawnAbi.Waiting Native => _native;

    /// <summary>The sync socket passes to the session that drives the child from here on.</summary>
    internal int TakeSyncFd()
    {
        int fd = _native.SyncFd;
        _native.SyncFd = -1;
        return fd;
    }

    /// <summary>Our view of the region (the child keeps its own mapping until execve).</summary>
    internal void ReleaseRegion()
    {
        fixed (SpawnAbi.Waiting* w = &_native) SpawnAbi.WaitingRelease(w);
    }

    /// <summary>Not needed after all: it is ended (hcs_waiting_discard) and reaped.</summary>
    public void Discard()
    {
        fixed (SpawnAbi.Waiting* w = &_native) SpawnAbi.WaitingDiscard(w);
        try { Libc.WaitForExit(_native.Pid); } catch (ErrnoException) { }
    }
}
