using System.Buffers.Binary;
using System.Net.Sockets;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Monitor;
using Hcs.Schema.Oci;

namespace Hcs.Monitor;

/// <summary>A container the monitor started: its init and the processes exec'd into it.</summary>
internal sealed class MonitoredSystem(string id, string? overlayTarget)
{
    public string Id { get; } = id;
    public string? OverlayTarget { get; } = overlayTarget;
    public MonitoredProcess? Init { get; set; }
    public Dictionary<int, MonitoredProcess> Processes { get; } = [];
    public bool Started { get; set; }
    public bool Forced { get; set; }
    /// <summary>The engine's record from create, trimmed to what start and delete read: they
    /// need not load and parse the state files again. Null for a system this monitor adopted.</summary>
    public ContainerRecord? Record { get; set; }
    /// <summary>Operations on one system take turns (create/start/exec/delete).</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);
    /// <summary>The cgroup's removal, begun when the init exited (see
    /// <see cref="MonitorService.ReleaseCgroupEarly"/>); true when it removed all of it. Delete
    /// waits for it, and sets it (completed) first so none begins after.</summary>
    public Task<bool>? CgroupReleased { get; set; }
}

/// <summary>
/// The monitor's requests: it creates containers with the engine (so their processes are its
/// children), keeps their stdio, reports exits to subscribers, and forgets a container only when
/// asked to delete it. Everything else (pause, stats, update) hcsd does with the engine itself.
/// </summary>
internal sealed class MonitorService(ContainerEngine engine, IoLoop loop, SpawnPool? pool = null)
{
    private readonly Dictionary<string, MonitoredSystem> _systems = [];
    private readonly Lock _gate = new();
    private readonly List<Attacher> _subscribers = [];
    /// <summary>The monitor's heap is tiny: a full compacting collection every 4 MiB.</summary>
    private static readonly Linux.Runtime.HeapKeeper Heap = new(4 << 20, 2);

    /// <summary>
    /// Serves one connection on the calling thread (a thread per connection: hcsd pools a few),
    /// with blocking reads and writes. A thread that sleeps in recv is woken by the kernel
    /// itself; .NET's asynchronous reads register the socket with its epoll thread, which then
    /// wakes (and queues a pool work item) on every read and write of it, for good: 53 against
    /// 19 context switches per create+start+wait+delete. The subscription is served here too;
    /// attach connections stream asynchronously and give the thread back.
    /// </summary>
    public void Serve(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: true);
        bool handedOver = false;
        try
        {
            for (;;)
            {
                var frame = Frames.Read(stream);
                if (frame is null) return;
                var request = Parse(frame);
                if (request is null)
                {
                    Frames.Write(stream, Frames.Json(Fail(HcsError.ProtocolError, "unreadable request")));
                    return;
                }
                if (request.Op == MonitorOps.Subscribe)
                {
                    Subscribe(stream);
                    return;
                }
                if (request.Op == MonitorOps.Attach)
                {
                    handedOver = true;
                    _ = AttachStreamAsync(request, stream);
                    return;
                }
                var response = Handle(request);
                Frames.Write(stream, Frames.Json(response));
                Heap.AfterRequest();
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidDataException)
        {
            // the client went away
        }
        finally
        {
            if (!handedOver) stream.Dispose();
        }
    }

    private static MonitorRequest? Parse(byte[] frame)
    {
        try { return Frames.Request(frame); }
        catch (Exception e)
        {
            Log.Error($"bad request: {e.Message}");
            return null;
        }
    }

    private async Task AttachStreamAsync(MonitorRequest request, NetworkStream stream)
    {
        await using (stream)
        {
            try { await AttachAsync(request, stream); }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // the client went away
            }
        }
    }

    private MonitorResponse Handle(MonitorRequest r)
    {
        try
        {
            return r.Op switch
            {
                MonitorOps.Ping => Ping(),
                MonitorOps.Create => Create(r),
                MonitorOps.Start => WithSystem(r, Start),
                MonitorOps.Exec => WithSystem(r, Exec),
                MonitorOps.Signal => Signal(r),
                MonitorOps.KillAll => WithSystem(r, KillAll),
                MonitorOps.Delete => Delete(r),
                MonitorOps.List => List(),
                MonitorOps.Resize => WithProcess(r, p => p.Resize(r.Rows, r.Cols)),
                MonitorOps.CloseStdin => WithProcess(r, p => p.CloseStdin()),
                _ => Fail(HcsError.ProtocolError, $"unknown op \"{r.Op}\""),
            };
        }
        catch (Exception e)
        {
            return FromException(e);
        }
    }

    /// <summary>Answers, and logs the monitor's memory (what `hcs-monitor` costs is measured).</summary>
    private MonitorResponse Ping()
    {
        var gc = GC.GetGCMemoryInfo();
        int systems;
        lock (_gate) systems = _systems.Count;
        Log.Info($"ping: {systems} systems, GC heap {gc.HeapSizeBytes / 1024} KiB, committed {gc.TotalCommittedBytes / 1024} KiB, " +
                 $"collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}, allocated {GC.GetTotalAllocatedBytes() / 1024} KiB");
        return new MonitorResponse();
    }

    internal static MonitorResponse FromException(Exception e) => e switch
    {
        HcsException h => new MonitorResponse
        {
            Error = h.Error.Name, Message = h.Detail,
            Errors = h.Errors?.Select(x => new MonitorError { Path = x.Path, Message = x.Message }).ToList(),
        },
        DocumentException d => new MonitorResponse
        {
            Error = HcsError.InvalidJson.Name, Message = d.Message,
            Errors = d.Errors.Select(x => new MonitorError { Path = x.Path, Message = x.Message }).ToList(),
        },
        RuntimeError { Kind: RuntimeErrorKind.NotFound } => Fail(HcsError.SystemNotFound, e.Message),
        RuntimeError { Kind: RuntimeErrorKind.Exists } => Fail(HcsError.SystemAlreadyExists, e.Message),
        RuntimeError { Kind: RuntimeErrorKind.InvalidState } => Fail(HcsError.InvalidState, e.Message),
        SpawnException => Fail(HcsError.ProcessStartFailed, e.Message),
        _ => Fail(HcsError.Internal, e.Message),
    };

    private static MonitorResponse Fail(HcsError error, string message) => new() { Error = error.Name, Message = message };

    private MonitoredSystem Find(string? id)
    {
        lock (_gate)
            return id is not null && _systems.TryGetValue(id, out var s) ? s
                : throw new HcsException(HcsError.SystemNotFound, $"the monitor has no compute system \"{id}\"");
    }

    private MonitorResponse WithSystem(MonitorRequest r, Func<MonitoredSystem, MonitorRequest, MonitorResponse> op)
    {
        var system = Find(r.Id);
        system.Gate.Wait();
        try { return op(system, r); }
        finally { system.Gate.Release(); }
    }

    private MonitoredProcess FindProcess(MonitorRequest r)
    {
        var system = Find(r.Id);
        lock (_gate)
        {
            if (r.Pid == 0 && system.Init is { } init) return init;
            return system.Processes.TryGetValue(r.Pid, out var p) ? p
                : throw new HcsException(HcsError.ProcessInfoNotAvailable, $"compute system \"{r.Id}\" has no process {r.Pid}");
        }
    }

    private MonitorResponse WithProcess(MonitorRequest r, Action<MonitoredProcess> op)
    {
        op(FindProcess(r));
        return new MonitorResponse();
    }

    // ---- create / start / exec ----------------------------------------------------------

    private MonitorResponse Create(MonitorRequest r)
    {
        if (r.Id is null || r.Bundle is null) return Fail(HcsError.ProtocolError, "create needs Id and Bundle");
        Linux.PerfTrace.Mark("monitor create: begin");
        var spec = ContainerEngine.LoadSpec(r.Bundle, out var bytes);
        var root = Path.GetFullPath(Path.Combine(r.Bundle, spec.Root?.Path ?? "rootfs"));
        var system = new MonitoredSystem(r.Id, r.Overlay is null ? null : root);
        lock (_gate)
        {
            if (!_systems.TryAdd(r.Id, system))
                throw new HcsException(HcsError.SystemAlreadyExists, $"compute system \"{r.Id}\" already exists");
        }
        bool mounted = false;
        var createdDirs = new List<string>();
        var stdio = new StdioSet(r.Stdio);
        try
        {
            system.Gate.Wait();
            if (r.Overlay is { } o)
            {
                MountOverlay(o, root, createdDirs);
                mounted = true;
                Linux.PerfTrace.Mark("monitor create: overlay mounted");
            }
            var created = engine.Create(r.Id, r.Bundle, new CreateOptions
            {
                Loaded = (spec, bytes),
                StdioFds = stdio.ChildFds,
                ConsoleFd = stdio.ConsoleChild,
                InitExecPath = r.InitExecPath,
                Pool = pool,
            });
            stdio.AfterSpawn();
            Linux.PerfTrace.Mark("monitor create: engine done");
            var init = new MonitoredProcess(loop, r.Id, created.Record.Pid, isInit: true, stdio.Terminal, stdio.StdinWrite,
                                            stdio.Outputs, r.Stdio?.LogPath, OnExit);
            stdio.Release();
            system.Record = Trimmed(created.Record);
            lock (_gate)
            {
                system.Init = init;
                system.Processes[init.Pid] = init;
            }
            Linux.PerfTrace.Mark("monitor create: watching");
            return new MonitorResponse { Pid = init.Pid, Terminal = init.Terminal };
        }
        catch
        {
            stdio.Dispose();
            try { engine.Delete(r.Id, force: true); } catch (Exception) { /* never created */ }
            if (mounted) Libc.Umount2(root, 2 /* MNT_DETACH */);
            for (int i = createdDirs.Count - 1; i >= 0; i--)
            {
                try { Directory.Delete(createdDirs[i], recursive: true); } catch (IOException) { }
            }
            lock (_gate) _systems.Remove(r.Id);
            throw;
        }
        finally
        {
            stdio.Dispose();
            system.Gate.Release();
        }
    }

    /// <summary>The record without the parts of the config start and delete never read (a
    /// monitor holds hundreds of these). A config with hooks is kept whole: hooks get the state.</summary>
    private static ContainerRecord Trimmed(ContainerRecord r)
    {
        var c = r.Config;
        if (c.Hooks is not null) return r;
        return new ContainerRecord
        {
            Id = r.Id, Pid = r.Pid, PidStartTime = r.PidStartTime, Bundle = r.Bundle, Rootfs = r.Rootfs,
            Created = r.Created, Owner = r.Owner, CgroupPaths = r.CgroupPaths, SystemdCgroup = r.SystemdCgroup,
            Config = new Schema.Oci.Spec { Linux = c.Linux is null ? null : new Schema.Oci.Linux { Namespaces = c.Linux.Namespaces } },
        };
    }

    /// <summary>Mounts the overlay root; the directories it had to create are recorded in
    /// created, so a failed create can remove them again (nothing half-made stays behind).</summary>
    private static void MountOverlay(OverlayRequest o, string target, List<string> created)
    {
        foreach (var dir in new[] { o.Upper is null ? null : Path.GetDirectoryName(o.Upper), o.Upper, o.Work, target })
        {
            if (dir is null || Directory.Exists(dir)) continue;
            Directory.CreateDirectory(dir);
            created.Add(dir);
        }
        if (Sys.Mount("overlay", target, "overlay", 0, o.Options) < 0)
            throw new RuntimeError($"mount overlay at {target}: errno {Libc.Errno} ({o.Options})");
    }

    private MonitorResponse Start(MonitoredSystem system, MonitorRequest r)
    {
        if (system.Init is not { } init) throw new HcsException(HcsError.InvalidState, "the compute system has no init");
        if (system.Started) throw new HcsException(HcsError.InvalidState, $"compute system \"{system.Id}\" is already started");
        if (init.Exited) throw new HcsException(HcsError.InvalidState, $"the init of \"{system.Id}\" exited before start");
        Linux.PerfTrace.Mark("monitor start: begin");
        if (system.Record is { } record) engine.Start(record, knownCreated: true); // checked just above
        else engine.Start(system.Id);
        Linux.PerfTrace.Mark("monitor start: done");
        system.Started = true;
        return new MonitorResponse { Pid = init.Pid };
    }

    private MonitorResponse Exec(MonitoredSystem system, MonitorRequest r)
    {
        if (r.ProcessJson is null) return Fail(HcsError.ProtocolError, "exec needs ProcessJson");
        if (!system.Started || system.Init is null || system.Init.Exited)
            throw new HcsException(HcsError.InvalidState, $"compute system \"{system.Id}\" is not running");
        var process = OciJson.ReadProcess(System.Text.Encoding.UTF8.GetBytes(r.ProcessJson), "process");
        var stdio = new StdioSet(r.Stdio);
        try
        {
            var exec = engine.Exec(system.Id, process, new ExecOptions { StdioFds = stdio.ChildFds, ConsoleFd = stdio.ConsoleChild });
            stdio.AfterSpawn();
            try { exec.WaitStarted(); }
            catch
            {
                stdio.Dispose();
                throw;
            }
            var p = new MonitoredProcess(loop, system.Id, exec.Pid, isInit: false, stdio.Terminal, stdio.StdinWrite,
                                         stdio.Outputs, null, OnExit);
            stdio.Release();
            lock (_gate) system.Processes[p.Pid] = p;
            return new MonitorResponse { Pid = p.Pid, Terminal = p.Terminal };
        }
        finally
        {
            stdio.Dispose();
        }
    }

    // ---- signals, delete, list ----------------------------------------------------------

    private MonitorResponse Signal(MonitorRequest r)
    {
        var p = FindProcess(r);
        if (p.Exited) throw new HcsException(HcsError.ProcessAlreadyStopped, $"process {p.Pid} has exited");
        if (p.IsInit && r.Signal == 9) Find(r.Id).Forced = true;
        if (p.SendSignal(r.Signal) < 0 && !p.Exited)
            throw new HcsException(HcsError.ProcessAlreadyStopped, $"signal {r.Signal} to process {p.Pid}: errno {Libc.Errno}");
        return new MonitorResponse();
    }

    private MonitorResponse KillAll(MonitoredSystem system, MonitorRequest r)
    {
        if (system.Init is null || system.Init.Exited)
            throw new HcsException(HcsError.SystemAlreadyStopped, $"compute system \"{system.Id}\" has stopped");
        system.Forced = true;
        engine.Kill(system.Id, 9, all: true);
        system.Init.SendSignal(9);
        return new MonitorResponse();
    }

    private MonitorResponse Delete(MonitorRequest r)
    {
        MonitoredSystem? system;
        lock (_gate) _systems.TryGetValue(r.Id ?? "", out system);
        if (system is null)
        {
            // not ours (an orphan of an earlier monitor, or a create hcsd never finished): clear it
            try { engine.Delete(r.Id!, force: true); } catch (RuntimeError) { }
            if (r.Bundle is not null) Libc.Umount2(Path.Combine(r.Bundle, "rootfs"), 2);
            return new MonitorResponse();
        }
        system.Gate.Wait();
        try
        {
            if (!r.Force && system.Started && system.Init is { Exited: false })
                throw new HcsException(HcsError.InvalidState, $"compute system \"{system.Id}\" is running: terminate it first or delete with force");
            if (system.Init is { Exited: false }) system.Forced = true;
            Linux.PerfTrace.Mark("monitor delete: begin");
            Task<bool>? released;
            lock (_gate)
            {
                // and none may begin from here on (a forced delete's own kill ends the init): a
                // late one could remove the cgroup of a new container with the same id
                released = system.CgroupReleased;
                system.CgroupReleased = NoRemovalBegun;
            }
            // never faults; false: what is left is removed below, as without it
            bool cgroupGone = released?.Result ?? false;
            try
            {
                if (system.Record is { } record) engine.Delete(record, force: true, cgroupGone);
                else engine.Delete(system.Id, force: true);
            }
            catch (RuntimeError e) when (e.Kind == RuntimeErrorKind.NotFound) { }
            // gone from the engine: a retry (after a failed unmount below) must not destroy it
            // again (poststop hooks run once), and finds nothing in the state files
            system.Record = null;
            if (system.OverlayTarget is { } target && Libc.Umount2(target, 2) < 0 && Libc.Errno is not (Libc.EINVAL or Libc.ENOENT))
                throw new RuntimeError($"unmount {target}: errno {Libc.Errno}");
            List<MonitoredProcess> processes;
            lock (_gate)
            {
                _systems.Remove(system.Id);
                processes = [.. system.Processes.Values];
            }
            foreach (var p in processes) p.Close();
            Linux.PerfTrace.Mark("monitor delete: done");
            return new MonitorResponse();
        }
        finally
        {
            system.Gate.Release();
        }
    }

    private MonitorResponse List()
    {
        var result = new List<SystemState>();
        lock (_gate)
        {
            foreach (var s in _systems.Values)
            {
                if (s.Init is not { } init) continue; // still being created
                result.Add(new SystemState
                {
                    Id = s.Id,
                    InitPid = init.Pid,
                    State = init.Exited ? "stopped" : s.Started ? "running" : "created",
                    ExitCode = init.Exited ? init.ExitCode : null,
                    ExitTime = init.ExitTime,
                    Forced = s.Forced,
                    Processes = [.. s.Processes.Values.Select(p => p.State())],
                });
            }
        }
        return new MonitorResponse { Systems = result };
    }

    // ---- streams: attach and events -----------------------------------------------------

    private async Task AttachAsync(MonitorRequest r, NetworkStream stream)
    {
        MonitoredProcess p;
        try { p = FindProcess(r); }
        catch (Exception e)
        {
            await Frames.WriteAsync(stream, Frames.Json(FromException(e)));
            return;
        }
        await Frames.WriteAsync(stream, Frames.Json(new MonitorResponse { Pid = p.Pid, Terminal = p.Terminal }));
        var sent = p.Attach(stream);
        var input = Task.Run(async () =>
        {
            try
            {
                for (;;)
                {
                    var frame = await Frames.ReadAsync(stream);
                    if (frame is null || frame.Length == 0) return;
                    switch (frame[0])
                    {
                        case AttachStream.Stdin: p.WriteStdin(frame.AsSpan(1)); break;
                        case AttachStream.CloseStdin: p.CloseStdin(); break;
                        case AttachStream.Resize when frame.Length >= 5 && p.Terminal:
                            p.Resize(BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(1)),
                                     BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(3)));
                            break;
                    }
                }
            }
            catch (Exception) { /* client gone */ }
        });
        await Task.WhenAny(sent, input);
        p.Detach(sent);
        if (sent.IsCompleted) socketShutdown(stream);
        await Task.WhenAny(input, Task.Delay(100));

        static void socketShutdown(NetworkStream s)
        {
            try { s.Socket.Shutdown(SocketShutdown.Send); } catch (Exception) { }
        }
    }

    /// <summary>Exits go out to the subscriber (hcsd) as they happen; this thread only waits
    /// for it to leave (it sends nothing).</summary>
    private void Subscribe(NetworkStream stream)
    {
        Frames.Write(stream, Frames.Json(new MonitorResponse()));
        var subscriber = new Attacher(stream, _ => { });
        lock (_gate) _subscribers.Add(subscriber);
        try
        {
            var buf = new byte[1];
            while (stream.Read(buf) > 0) { }
        }
        catch (Exception) { }
        finally
        {
            lock (_gate) _subscribers.Remove(subscriber);
            subscriber.Abandon();
        }
    }

    private void OnExit(MonitoredProcess p)
    {
        Linux.PerfTrace.Mark("monitor exit: reaped");
        bool forced = false;
        lock (_gate)
            if (_systems.TryGetValue(p.SystemId, out var s)) forced = s.Forced;
        var ev = Frames.Json(new MonitorEvent
        {
            Id = p.SystemId, Pid = p.Pid, Init = p.IsInit, ExitCode = p.ExitCode, Forced = p.IsInit && forced, Time = p.ExitTime ?? DateTime.UtcNow,
        });
        lock (_gate)
        {
            _subscribers.RemoveAll(x => x.Dead);
            foreach (var s in _subscribers) s.Send(ev);
        }
        if (p.IsInit) ReleaseCgroupEarly(p);
    }

    /// <summary>What delete leaves in place of an early removal: none may begin after it.</summary>
    private static readonly Task<bool> NoRemovalBegun = Task.FromResult(false);

    /// <summary>
    /// Removes a container's cgroup as soon as its init has exited, after the exit went out, on
    /// a pool thread: the rmdirs (about 0.3 ms on a v1 host) then overlap the exit's way to the
    /// client and the client's delete, instead of being part of the delete. Only when nothing
    /// can be left in the cgroup or need it: the container had its own pid namespace (the
    /// kernel killed everything else in it with the init) and no poststop hooks (they run at
    /// delete and get the state). A stopped system's statistics are empty anyway (hcsd reads no
    /// cgroup for them). Delete waits for this, then removes what is left as always (a cgroup
    /// already gone is not an error), so a failure here costs nothing.
    /// </summary>
    internal void ReleaseCgroupEarly(MonitoredProcess init)
    {
        lock (_gate)
        {
            // this very init's system: a forced delete may have removed it, and a create made a
            // new one with the same id, before this exit got here
            if (!_systems.TryGetValue(init.SystemId, out var system) || !ReferenceEquals(system.Init, init) ||
                system.Record is not { } record || system.CgroupReleased is not null) return;
            var config = record.Config;
            bool ownPidns = config.Linux?.Namespaces?.Exists(n => n.Type == "pid" && string.IsNullOrEmpty(n.Path)) ?? false;
            if (!ownPidns || config.Hooks is { Poststop.Count: > 0 } || record.CgroupPaths.Count == 0) return;
            system.CgroupReleased = Task.Run(() =>
            {
                try { return engine.Cgroups.Load(record.CgroupPaths).Destroy(); }
                catch (Exception) { return false; /* delete tries again */ }
            });
        }
    }
}
