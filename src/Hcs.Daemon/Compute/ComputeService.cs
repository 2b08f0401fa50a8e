using Microsoft.Data.Sqlite;
using Hcs.Daemon.Store;
using Hcs.Linux.Containers;
using Hcs.Linux.Documents;
using Hcs.Linux;
using Hcs.Linux.Native;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Monitor;
using Hcs.Schema.Oci;

namespace Hcs.Daemon.Compute;

public sealed class DaemonOptions
{
    public string SocketPath { get; set; } = Environment.GetEnvironmentVariable("HCS_SOCKET") is { Length: > 0 } s ? s : "/run/hcs/hcs.sock";
    public string? Group { get; set; }
    public string RunDir { get; set; } = "/run/hcs";
    public string StateDir { get; set; } = "/var/lib/hcs";
    public string MonitorBinary { get; set; } = "";
    public string PauseBinary { get; set; } = "";
    public string SystemsDir => Path.Combine(RunDir, "systems");
    public string EngineRoot => Path.Combine(RunDir, "engine");
    public string LogsDir => Path.Combine(StateDir, "logs");
    /// <summary>The layer and image store (docs/design/0006).</summary>
    public string ImagesDir => Path.Combine(StateDir, "images");
    /// <summary>Scratch directories hcsd makes for containers of an image that name none (not
    /// "scratch/": that is where the hcs CLI keeps the scratches it names itself).</summary>
    public string ScratchDir => Path.Combine(StateDir, "containers");
    /// <summary>Registries reached over plain HTTP (besides localhost), as host[:port].</summary>
    public List<string> InsecureRegistries { get; } = [];
}

/// <summary>
/// The compute systems: their state machine, the store, the events, and the backend of each
/// system's isolation kind. Every state change of a system runs under that system's gate; the
/// store is written before the change is reported, so a restarted daemon tells the same story.
/// </summary>
public sealed class ComputeService(DaemonOptions options, SystemStore store, EventHub events,
                                   IReadOnlyDictionary<string, IIsolationBackend> backends, Images.ImageService images,
                                   ILogger<ComputeService> log)
{
    private readonly Dictionary<string, SystemEntry> _systems = [];
    private readonly Lock _gate = new();

    public EventHub Events => events;

    private IIsolationBackend Backend(SystemEntry s) => backends[s.Isolation];

    public SystemEntry Find(string id)
    {
        lock (_gate)
            return _systems.TryGetValue(id, out var s) ? s
                : throw new HcsException(HcsError.SystemNotFound, $"compute system \"{id}\" does not exist");
    }

    public List<SystemEntry> All()
    {
        lock (_gate) return [.. _systems.Values];
    }

    // ---- create ------------------------------------------------------------------------

    public async Task<SystemEntry> CreateAsync(CreateComputeSystemRequest request, CancellationToken ct)
    {
        var errors = new DocumentErrors();
        var id = request.Id;
        if (string.IsNullOrEmpty(id)) errors.Add("$.Id", "required");
        else if (!IsValidId(id)) errors.Add("$.Id", "must be 1-128 characters of letters, digits, '_', '-' and '.', not starting with '.' or '-'");
        if (request.Document is null) errors.Add("$.Document", "required");
        errors.ThrowIfAny("request body");
        var doc = request.Document!;
        lock (_gate)
            if (_systems.ContainsKey(id!)) throw new HcsException(HcsError.SystemAlreadyExists, $"compute system \"{id}\" already exists", "$.Id");

        PerfTrace.Mark("hcsd create: begin");
        var bundle = Path.Combine(options.SystemsDir, id!);
        // an image: planned as its layer directories, over the document's scratch or one of hcsd's
        var (planned, imageChain) = await WithImageLayersAsync(id!, doc, ct);
        ContainerPlan plan;
        try { plan = ContainerSpecBuilder.Plan(id!, planned, new ContainerLayout(bundle, Path.Combine(bundle, "rootfs"))); }
        catch (DocumentException e) { throw HcsException.From(e); }
        var spec = plan.Spec;
        var rootfs = plan.Rootfs;
        var isolation = doc.Container?.IsolationType is { Length: > 0 } kind ? kind : "Process";
        if (!backends.TryGetValue(isolation, out var backend))
            throw new HcsException(HcsError.ServiceNotAvailable, $"isolation \"{isolation}\" is not available on this host", "$.Document.Container.IsolationType");

        PerfTrace.Mark("hcsd create: planned");
        var entry = new SystemEntry
        {
            Id = id!, Owner = doc.Owner, Document = doc, Spec = spec, Isolation = isolation, Bundle = bundle,
            LogPath = LogOf(id!), Created = DateTime.UtcNow, State = SystemStates.Creating,
        };
        var docBytes = HcsWriter.ToUtf8(w => HcsWriter.Write(w, doc));
        var specBytes = OciWriter.ToUtf8(spec);
        lock (_gate)
        {
            if (!_systems.TryAdd(entry.Id, entry))
                throw new HcsException(HcsError.SystemAlreadyExists, $"compute system \"{id}\" already exists", "$.Id");
        }
        bool inserted = false;
        try
        {
            // the image's layers are held for this system until it is deleted (prune keeps them)
            if (imageChain is not null) images.Lease(entry.Id, imageChain);
            // plain syscalls: this runs on every create (FileStream's setup costs more than the write)
            if (Libc.MkDir(bundle, 0x1ed /* 0755 */) < 0 && Libc.Errno != Libc.EEXIST) Directory.CreateDirectory(bundle);
            StateStore.WriteAtomic(Path.Combine(bundle, "config.json"), specBytes);
            Libc.Unlink(entry.LogPath); // an old log of a system with this id
            var stdio = new StdioRequest
            {
                Stdout = true, Stderr = true, LogPath = entry.LogPath,
                Stdin = spec.Annotations?.GetValueOrDefault(StdinAnnotation) == "true",
                Terminal = spec.Process?.Terminal ?? false,
                Rows = (ushort)(spec.Process?.ConsoleSize?.Height ?? 0), Cols = (ushort)(spec.Process?.ConsoleSize?.Width ?? 0),
            };
            var pause = spec.Annotations?.GetValueOrDefault(ContainerSpecBuilder.InitAnnotation) == "pause" ? options.PauseBinary : null;
            var overlay = rootfs is { IsOverlay: true }
                ? new OverlayRequest { Options = rootfs.OverlayOptions(), Upper = rootfs.Upper, Work = rootfs.Work } : null;
            PerfTrace.Mark("hcsd create: bundle written");
            // The intent row is written while hcs-monitor creates (it took turns with it: 0.2 ms).
            // A daemon killed before this row is on disk leaves a container, a bundle and maybe a
            // lease that no row names: its restart removes those (ReconcileAsync: orphans,
            // unknown bundles, leases of systems that do not exist). The client got no answer.
            // A failed write is thrown once the monitor has answered, and undone below.
            entry.InitPid = await backend.CreateAsync(entry.Id, new CreatePlan(bundle, overlay, pause, stdio), meanwhile: () =>
            {
                inserted = store.InsertIntent(new SystemRow(entry.Id, entry.Owner, SystemStates.Creating, docBytes, specBytes,
                                                            entry.Created, 0, null, null, bundle, entry.LogPath, isolation));
                PerfTrace.Mark("hcsd create: intent stored");
            }, ct);
            if (!inserted) throw new HcsException(HcsError.SystemAlreadyExists, $"compute system \"{id}\" already exists", "$.Id");
            PerfTrace.Mark("hcsd create: monitor answered");
            lock (entry)
            {
                // the init's exit may have come first (it drops its privileges after READY, and
                // can fail there): then it stays Stopped
                if (!entry.Exited.Task.IsCompleted) entry.State = SystemStates.Created;
                store.SetCreated(entry.Id, entry.InitPid);
            }
            PerfTrace.Mark("hcsd create: stored");
        }
        catch
        {
            try { await backend.DeleteAsync(entry.Id, bundle, force: true, CancellationToken.None); } catch (Exception) { }
            RemoveBundle(bundle);
            ForgetStorage(entry.Id);
            try { File.Delete(entry.LogPath!); } catch (IOException) { }
            if (inserted) store.Delete(entry.Id); // a row that was there before is not ours
            lock (_gate) _systems.Remove(entry.Id);
            throw;
        }
        events.Publish("SystemCreated", entry.Id);
        return entry;
    }

    /// <summary>hcs extension annotation: give the init a stdin pipe (docker run -i).</summary>
    public const string StdinAnnotation = "io.hcs.stdin";

    public static bool IsValidId(string id) =>
        id.Length is > 0 and <= 128 && id[0] is not ('.' or '-') &&
        id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>
    /// Storage.Image → the same document with Storage.Layers = the image's layer directories
    /// (lowest first), and Storage.Path = hcsd's scratch for the system when the document names
    /// none; plus the chain IDs to lease. Other documents come back as they are.
    /// </summary>
    private async Task<(ComputeSystem Planned, IReadOnlyList<string>? Chain)> WithImageLayersAsync(string id, ComputeSystem doc, CancellationToken ct)
    {
        if (doc.Container?.Storage is not { Image: { } reference } storage) return (doc, null);
        const string at = "$.Document.Container.Storage";
        if (storage.Layers is { Count: > 0 })
            throw new HcsException(HcsError.InvalidJson, "an image and layers: give one or the other", at + ".Image");
        var image = await images.ResolveAsync(reference, at + ".Image", ct); // waits for an unpack in progress
        // a copy: the stored document keeps the image reference as the caller wrote it
        var planned = HcsReader.ReadComputeSystem(HcsWriter.ToUtf8(w => HcsWriter.Write(w, doc)), strict: false);
        var s = planned.Container!.Storage!;
        s.Image = null;
        s.Layers = [.. image.LayerPaths.Select(p => new Layer { Path = p })];
        if (s.Path is null)
        {
            Directory.CreateDirectory(options.ScratchDir);
            s.Path = ScratchOf(id);
        }
        return (planned, image.ChainIds);
    }

    private string ScratchOf(string id) => Path.Combine(options.ScratchDir, id);

    /// <summary>
    /// docker commit: the system's changes (its overlay upper directory) as a new image over the
    /// image it was created from. Works on a running system too (as docker's default, without
    /// pausing: a file being written may be caught half way; pause first to avoid that).
    /// </summary>
    public async Task<Hcs.Schema.Images.ImageDetails> CommitAsync(string id, Hcs.Schema.Images.CommitRequest request, CancellationToken ct)
    {
        var s = Find(id);
        if (s.Document.Container?.Storage is not { Image: { } image } storage)
            throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" was not created from an image (Storage.Image): there is nothing to commit onto");
        var upper = Path.Combine(storage.Path ?? ScratchOf(id), "upper");
        if (!Directory.Exists(upper))
            throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" has no scratch to commit ({upper} is gone)");
        return await images.CommitAsync(images.BaseOf(id, image), upper, request, ct);
    }

    /// <summary>What a system held in the image store: its lease on layers, and the scratch hcsd
    /// made for it (never a scratch the document named: that belongs to the caller).</summary>
    private void ForgetStorage(string id)
    {
        try { images.Release(id); }
        catch (Exception e) { log.LogError("{Id}: releasing its layers: {Message}", id, e.Message); }
        var scratch = ScratchOf(id);
        try { if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogError("{Id}: removing {Scratch}: {Message}", id, scratch, e.Message); }
    }

    private static void RemoveBundle(string bundle)
    {
        // the usual bundle, config.json and an empty mount point, in four syscalls (this runs on
        // every delete); anything else the recursive way
        Libc.Unlink(bundle + "/config.json");
        Libc.RmDir(bundle + "/rootfs");
        if (Libc.RmDir(bundle) == 0 || Libc.Errno == Libc.ENOENT) return;
        try { if (Directory.Exists(bundle)) Directory.Delete(bundle, recursive: true); }
        catch (IOException) { /* a mount still there: reconciliation retries */ }
    }

    // ---- lifecycle ---------------------------------------------------------------------

    private async Task<T> Locked<T>(SystemEntry s, Func<Task<T>> op, CancellationToken ct)
    {
        await s.Gate.WaitAsync(ct);
        try { return await op(); }
        finally { s.Gate.Release(); }
    }

    public Task StartAsync(string id, CancellationToken ct)
    {
        var s = Find(id);
        return Locked(s, async () =>
        {
            if (s.State != SystemStates.Created)
                throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" is {s.State}: only a Created system can start");
            PerfTrace.Mark("hcsd start: begin");
            await Backend(s).StartAsync(id, ct);
            PerfTrace.Mark("hcsd start: monitor answered");
            lock (s) // as OnInitExited: an exit reported meanwhile is not overwritten
            {
                if (s.State == SystemStates.Created)
                {
                    s.State = SystemStates.Running;
                    store.SetRunningSoon(id); // the monitor knows it too (ReconcileAsync)
                }
            }
            events.Publish("SystemStarted", id);
            return true;
        }, ct);
    }

    public Task PauseAsync(string id, CancellationToken ct) => Freeze(id, pause: true, ct);
    public Task ResumeAsync(string id, CancellationToken ct) => Freeze(id, pause: false, ct);

    private Task Freeze(string id, bool pause, CancellationToken ct)
    {
        var s = Find(id);
        return Locked(s, () =>
        {
            var expected = pause ? SystemStates.Running : SystemStates.Paused;
            if (s.State != expected)
                throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" is {s.State}, not {expected}");
            try
            {
                if (pause) Backend(s).Pause(id);
                else Backend(s).Resume(id);
            }
            catch (RuntimeError e) { throw new HcsException(HcsError.InvalidState, e.Message); }
            s.State = pause ? SystemStates.Paused : SystemStates.Running;
            store.SetState(id, s.State);
            events.Publish(pause ? "SystemPaused" : "SystemResumed", id);
            return Task.FromResult(true);
        }, ct);
    }

    /// <summary>SIGTERM to the init; SIGKILL to everything when it has not exited in time.</summary>
    public async Task<SystemExitStatus> ShutdownAsync(string id, TimeSpan timeout, CancellationToken ct)
    {
        var s = Find(id);
        await Locked(s, async () =>
        {
            ThrowIfNotRunning(s);
            if (s.State == SystemStates.Paused) Backend(s).Resume(id); // a frozen init cannot handle SIGTERM
            await Backend(s).SignalAsync(id, 0, 15, ct);
            return true;
        }, ct);
        if (await Task.WhenAny(s.Exited.Task, Task.Delay(timeout, ct)) != s.Exited.Task)
        {
            s.Terminating = true;
            try { await Backend(s).KillAllAsync(id, ct); }
            catch (HcsException e) when (e.Error == HcsError.SystemAlreadyStopped) { }
            await s.Exited.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        }
        return s.ExitStatus();
    }

    public async Task<SystemExitStatus> TerminateAsync(string id, CancellationToken ct)
    {
        var s = Find(id);
        await Locked(s, async () =>
        {
            ThrowIfNotRunning(s);
            s.Terminating = true;
            try { await Backend(s).KillAllAsync(id, ct); }
            catch (HcsException e) when (e.Error == HcsError.SystemAlreadyStopped) { }
            return true;
        }, ct);
        await s.Exited.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        return s.ExitStatus();
    }

    private static void ThrowIfNotRunning(SystemEntry s)
    {
        if (s.State == SystemStates.Stopped)
            throw new HcsException(HcsError.SystemAlreadyStopped, $"compute system \"{s.Id}\" has already stopped");
        if (s.State == SystemStates.Created)
            throw new HcsException(HcsError.InvalidState, $"compute system \"{s.Id}\" has not been started");
    }

    public async Task<SystemExitStatus> WaitAsync(string id, TimeSpan? timeout, CancellationToken ct)
    {
        var s = Find(id);
        try
        {
            if (timeout is { } t) await s.Exited.Task.WaitAsync(t, ct);
            else await s.Exited.Task.WaitAsync(ct);
        }
        catch (TimeoutException)
        {
            throw new HcsException(HcsError.OperationTimeout, $"compute system \"{id}\" did not exit within {timeout?.TotalMilliseconds:0} ms");
        }
        return s.ExitStatus();
    }

    public Task DeleteAsync(string id, bool force, CancellationToken ct)
    {
        var s = Find(id);
        return Locked(s, async () =>
        {
            if (!force && s.State is SystemStates.Running or SystemStates.Paused)
                throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" is {s.State}: terminate it first or delete with force=true");
            if (s.State is not SystemStates.Stopped) s.Terminating = true;
            PerfTrace.Mark("hcsd delete: begin");
            // The intent row is written while hcs-monitor deletes, as create's (they took turns:
            // 0.1-0.2 ms): a daemon killed after the row says Deleting finishes the delete at
            // restart. One killed before leaves the row as it was, maybe with the container gone:
            // the system is then listed as before (stopped, or lost if it ran) and a second
            // delete removes it (hcs-monitor answers a delete of what it does not have).
            bool intent = false;
            try
            {
                await Backend(s).DeleteAsync(id, s.Bundle, force: true, ct, meanwhile: () =>
                {
                    try
                    {
                        store.SetState(id, SystemStates.Deleting);
                        intent = true;
                    }
                    catch (Exception e) when (e is SqliteException or InvalidOperationException)
                    {
                        // the delete goes on (the container may be gone already); the row stays as it was
                        log.LogError("{Id}: cannot record the delete: {Message}", id, e.Message);
                    }
                });
            }
            catch
            {
                if (intent) store.SetState(id, s.State);
                throw;
            }
            PerfTrace.Mark("hcsd delete: monitor answered");
            RemoveBundle(s.Bundle);
            // only a system made from an image holds layers and (maybe) a scratch of hcsd's
            if (s.Document.Container?.Storage?.Image is not null) ForgetStorage(id);
            if (s.LogPath is not null) Libc.Unlink(s.LogPath);
            store.DeleteSoon(id); // the row says Deleting until then: a restart would finish it
            PerfTrace.Mark("hcsd delete: done");
            lock (_gate) _systems.Remove(id);
            if (!s.Exited.Task.IsCompleted)
            {
                s.State = SystemStates.Stopped;
                s.ExitType ??= ExitTypes.Forced;
                s.Exited.TrySetResult();
            }
            events.Publish("SystemDeleted", id);
            return true;
        }, ct);
    }

    // ---- exits (from the monitor) ------------------------------------------------------

    public void OnInitExited(SystemEntry s, int exitCode, bool forced)
    {
        lock (s)
        {
            if (s.Exited.Task.IsCompleted) return;
            s.State = SystemStates.Stopped;
            s.ExitCode = exitCode;
            s.ExitType = forced || s.Terminating ? ExitTypes.Forced : ExitTypes.Graceful;
            PerfTrace.Mark("hcsd exit: received");
            store.SetExitedSoon(s.Id, exitCode, s.ExitType); // the monitor keeps it too (ReconcileAsync)
            PerfTrace.Mark("hcsd exit: stored");
            foreach (var p in s.Processes.Values)
                if (!p.Exited) p.Done.TrySetResult(); // their exits follow; waiters recheck
            s.Exited.TrySetResult();
        }
        events.Publish("SystemExited", s.Id, n => n.SystemExitStatus = s.ExitStatus());
    }

    public void OnProcessExited(SystemEntry s, int pid, int exitCode)
    {
        ProcessEntry? p;
        lock (s)
        {
            if (!s.Processes.TryGetValue(pid, out p))
            {
                // its exec's answer is still on its way (see EarlyExits)
                if (!s.Exited.Task.IsCompleted) s.EarlyExits[pid] = exitCode;
                return;
            }
            if (p.Exited) return;
            p.Exited = true;
            p.ExitCode = exitCode;
        }
        store.SetProcessExitedSoon(s.Id, pid, exitCode);
        p.Done.TrySetResult();
        events.Publish("ProcessExited", s.Id, n =>
        {
            n.ProcessId = (uint)pid;
            n.ProcessStatus = p.Status();
        });
    }

    public Task OnMonitorEventAsync(MonitorEvent ev)
    {
        SystemEntry? s;
        lock (_gate) _systems.TryGetValue(ev.Id, out s);
        if (s is null) return Task.CompletedTask;
        if (ev.Init)
        {
            // processes exec'd into it die with it: their exits arrive as their own events
            OnInitExited(s, ev.ExitCode, ev.Forced);
            if (s.Processes.TryGetValue(ev.Pid, out _)) OnProcessExited(s, ev.Pid, ev.ExitCode);
        }
        else OnProcessExited(s, ev.Pid, ev.ExitCode);
        return Task.CompletedTask;
    }

    // ---- processes ---------------------------------------------------------------------

    public Task<ProcessEntry> CreateProcessAsync(string id, ProcessParameters parameters, CancellationToken ct)
    {
        var s = Find(id);
        return Locked(s, async () =>
        {
            if (s.State != SystemStates.Running)
                throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" is {s.State}: processes start in a Running system");
            Process process;
            try { process = ProcessSpecBuilder.Build(parameters, s.Spec, path => ReadContainerFile(s, path)); }
            catch (DocumentException e) { throw HcsException.From(e); }
            var stdio = new StdioRequest
            {
                Stdin = parameters.CreateStdInPipe, Stdout = parameters.CreateStdOutPipe, Stderr = parameters.CreateStdErrPipe,
                Terminal = process.Terminal,
            };
            var (pid, terminal) = await Backend(s).ExecAsync(id, process, stdio, ct);
            var p = new ProcessEntry { Pid = pid, Terminal = terminal, Created = DateTime.UtcNow };
            int? exitedAlready = null;
            lock (s)
            {
                s.Processes.TryAdd(pid, p);
                if (s.EarlyExits.Remove(pid, out var code)) exitedAlready = code;
            }
            store.InsertProcess(new ProcessRow(id, pid, false, 0, terminal, p.Created));
            events.Publish("ProcessCreated", id, n => n.ProcessId = (uint)pid);
            if (exitedAlready is { } c) OnProcessExited(s, pid, c);
            lock (s) return s.Processes[pid];
        }, ct);
    }

    /// <summary>A file of the running container, read through its init's root.</summary>
    private static string? ReadContainerFile(SystemEntry s, string path)
    {
        if (s.InitPid <= 0) return null;
        try { return File.ReadAllText($"/proc/{s.InitPid}/root/{path.TrimStart('/')}"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public ProcessEntry FindProcess(SystemEntry s, int pid)
    {
        lock (s)
        {
            if (pid == 0 || pid == s.InitPid)
            {
                if (!s.Processes.TryGetValue(s.InitPid, out var init))
                {
                    init = new ProcessEntry { Pid = s.InitPid, Exited = s.State == SystemStates.Stopped, ExitCode = s.ExitCode ?? 0, Created = s.Created };
                    if (init.Exited) init.Done.TrySetResult();
                    s.Processes[s.InitPid] = init;
                }
                return init;
            }
            return s.Processes.TryGetValue(pid, out var p) ? p
                : throw new HcsException(HcsError.ProcessInfoNotAvailable, $"compute system \"{s.Id}\" has no process {pid}");
        }
    }

    public async Task SignalProcessAsync(string id, int pid, int signal, CancellationToken ct)
    {
        var s = Find(id);
        var p = FindProcess(s, pid);
        if (p.Exited || s.State == SystemStates.Stopped)
            throw new HcsException(HcsError.ProcessAlreadyStopped, $"process {p.Pid} has exited");
        if (p.Pid == s.InitPid && signal == 9) s.Terminating = true;
        await Backend(s).SignalAsync(id, p.Pid == s.InitPid ? 0 : p.Pid, signal, ct);
    }

    public async Task ModifyProcessAsync(string id, int pid, ProcessModifyRequest request, CancellationToken ct)
    {
        var s = Find(id);
        var p = FindProcess(s, pid);
        if (p.Exited) throw new HcsException(HcsError.ProcessAlreadyStopped, $"process {p.Pid} has exited");
        int target = p.Pid == s.InitPid ? 0 : p.Pid;
        switch (request.Operation)
        {
            case "ConsoleSize" when request.ConsoleSize is null:
                throw new HcsException(HcsError.InvalidJson, "required with Operation \"ConsoleSize\"", "$.ConsoleSize");
            case "CloseHandle" when request.CloseHandle is null:
                throw new HcsException(HcsError.InvalidJson, "required with Operation \"CloseHandle\"", "$.CloseHandle");
            case "ConsoleSize" or "CloseHandle":
                break;
            default:
                throw new HcsException(HcsError.InvalidJson, "must be \"ConsoleSize\" or \"CloseHandle\"", "$.Operation");
        }
        if (request.Operation == "ConsoleSize" && request.ConsoleSize is { } size)
        {
            if (!p.Terminal) throw new HcsException(HcsError.InvalidState, $"process {p.Pid} has no console", "$.ConsoleSize");
            await Backend(s).ResizeAsync(id, target, size.Height, size.Width, ct);
        }
        if (request.Operation == "CloseHandle" && request.CloseHandle is { } close)
        {
            if (close.Handle != "StdIn")
                throw new HcsException(HcsError.InvalidJson, "only \"StdIn\" can be closed", "$.CloseHandle.Handle");
            await Backend(s).CloseStdinAsync(id, target, ct);
        }
    }

    public async Task<ProcessStatus> WaitProcessAsync(string id, int pid, TimeSpan? timeout, CancellationToken ct)
    {
        var s = Find(id);
        var p = FindProcess(s, pid);
        var done = p.Pid == s.InitPid ? s.Exited.Task : p.Done.Task;
        try
        {
            if (timeout is { } t) await done.WaitAsync(t, ct);
            else await done.WaitAsync(ct);
        }
        catch (TimeoutException)
        {
            throw new HcsException(HcsError.OperationTimeout, $"process {p.Pid} did not exit within {timeout?.TotalMilliseconds:0} ms");
        }
        if (p.Pid == s.InitPid) return new ProcessStatus { ProcessId = (uint)p.Pid, Exited = true, ExitCode = (uint)(s.ExitCode ?? 0) };
        return p.Status();
    }

    public ProcessStatus ProcessStatusOf(SystemEntry s, ProcessEntry p) =>
        p.Pid == s.InitPid && s.State == SystemStates.Stopped
            ? new ProcessStatus { ProcessId = (uint)p.Pid, Exited = true, ExitCode = (uint)(s.ExitCode ?? 0) }
            : p.Status();

    /// <summary>Waits (at most <paramref name="bound"/>) until the process's exit is recorded
    /// here: its status, the system's state and the store say so.</summary>
    public async Task ExitRecordedAsync(SystemEntry s, ProcessEntry p, TimeSpan bound)
    {
        var recorded = p.Pid == s.InitPid ? s.Exited.Task : p.Done.Task;
        try { await recorded.WaitAsync(bound); }
        catch (TimeoutException) { log.LogWarning("{Id}: process {Pid} exited, and the monitor's event has not come", s.Id, p.Pid); }
    }

    public Task<(Stream Stream, bool Terminal)> AttachAsync(SystemEntry s, ProcessEntry p, CancellationToken ct) =>
        Backend(s).AttachAsync(s.Id, p.Pid == s.InitPid ? 0 : p.Pid, ct);

    // ---- modify ------------------------------------------------------------------------

    public Task ModifyAsync(string id, ModifySettingRequest request, CancellationToken ct)
    {
        var s = Find(id);
        return Locked(s, () =>
        {
            if (s.State is SystemStates.Stopped)
                throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" has stopped");
            var change = SettingsModifier.Apply(s, request);
            var backend = Backend(s);
            try
            {
                switch (change)
                {
                    case SettingsModifier.ResourceChange r: backend.Update(id, r.Resources); break;
                    case SettingsModifier.MountChange { Add: true } m:
                        RequireRunning(s);
                        backend.AddMount(id, s.InitPid, m.Directory.HostPath!, m.Directory.ContainerPath!, m.Directory.ReadOnly);
                        break;
                    case SettingsModifier.MountChange m:
                        RequireRunning(s);
                        backend.RemoveMount(id, s.InitPid, m.Directory.ContainerPath!);
                        break;
                }
            }
            catch (RuntimeError e) { throw new HcsException(HcsError.InvalidState, e.Message); }
            change.Commit();
            store.SetSpec(id, HcsWriter.ToUtf8(w => HcsWriter.Write(w, s.Document)), OciWriter.ToUtf8(s.Spec));
            events.Publish("SystemModified", id);
            return Task.FromResult(true);
        }, ct);
    }

    private static void RequireRunning(SystemEntry s)
    {
        if (s.State is not (SystemStates.Running or SystemStates.Paused))
            throw new HcsException(HcsError.InvalidState, $"compute system \"{s.Id}\" is {s.State}: mapped directories change while it runs");
    }

    // ---- properties --------------------------------------------------------------------

    public Properties PropertiesOf(SystemEntry s, IReadOnlyCollection<string> query)
    {
        var p = new Properties
        {
            Id = s.Id, Owner = s.Owner, State = s.State, Stopped = s.State == SystemStates.Stopped, ExitType = s.ExitType,
            IsolationType = s.Isolation, Created = s.Created, RuntimeId = s.Id,
            InitProcessId = s.State is SystemStates.Stopped ? 0 : (uint)s.InitPid, ExitCode = s.ExitCode,
        };
        bool live = s.State is SystemStates.Running or SystemStates.Paused or SystemStates.Created;
        if (query.Contains("Statistics")) p.Statistics = live ? PropertyQueries.Statistics(Backend(s).Stats(s.Id), s) : new Statistics { Timestamp = DateTime.UtcNow, ContainerStartTime = s.Created };
        if (query.Contains("ProcessList")) p.ProcessList = live ? PropertyQueries.ProcessList(Backend(s).Pids(s.Id)) : [];
        if (query.Contains("Memory")) p.Memory = live ? PropertyQueries.Memory(Backend(s).Stats(s.Id)) : new MemoryInformation();
        return p;
    }

    public ComputeSystemSummary SummaryOf(SystemEntry s) => new()
    {
        Id = s.Id, Owner = s.Owner, State = s.State, IsolationType = s.Isolation, Created = s.Created,
        InitProcessId = s.State is SystemStates.Stopped ? 0 : (uint)s.InitPid, ExitCode = s.ExitCode,
    };

    // ---- restart: make the store and the host agree ------------------------------------

    /// <summary>
    /// Called when hcsd starts and whenever the monitor subscription is (re)established: rows
    /// left "Creating" by a killed daemon are kept as created when the monitor has the whole
    /// container, else undone; systems that exited while nobody listened get their exit; systems
    /// the monitor no longer has stopped unexpectedly; what the host has and the store does not
    /// is removed.
    /// </summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        var rows = store.Systems();
        var processRows = store.Processes();
        var backend = backends["Process"];
        var live = (await backend.ListAsync(ct)).ToDictionary(x => x.Id);
        foreach (var stored in rows)
        {
            var row = stored;
            if (row.State == SystemStates.Creating)
            {
                bool ours;
                lock (_gate) ours = _systems.ContainsKey(row.Id);
                // a create of this daemon still in progress (a reconcile after the monitor
                // reconnected): it decides itself
                if (ours) continue;
                if (live.TryGetValue(row.Id, out var made))
                {
                    // the monitor made the whole container (it lists none it is still making); the
                    // daemon died before it recorded that (the client got no answer)
                    log.LogInformation("{Id}: created before the restart: kept", row.Id);
                    store.SetCreated(row.Id, made.InitPid);
                    row = row with { State = SystemStates.Created, InitPid = made.InitPid };
                }
            }
            if (row.State is SystemStates.Creating or SystemStates.Deleting)
            {
                log.LogWarning(row.State == SystemStates.Creating ? "undoing the interrupted create of {Id}" : "finishing the interrupted delete of {Id}", row.Id);
                try { await backend.DeleteAsync(row.Id, row.Bundle, force: true, ct); } catch (Exception e) { log.LogError("{Id}: {Message}", row.Id, e.Message); }
                RemoveBundle(row.Bundle);
                ForgetStorage(row.Id);
                if (row.LogPath is not null) File.Delete(row.LogPath);
                store.Delete(row.Id);
                lock (_gate) _systems.Remove(row.Id);
                continue;
            }
            SystemEntry entry;
            bool known;
            lock (_gate) known = _systems.TryGetValue(row.Id, out entry!);
            if (!known)
            {
                entry = Restore(row);
                foreach (var pr in processRows.Where(p => p.SystemId == row.Id))
                {
                    var pe = new ProcessEntry { Pid = pr.Pid, Terminal = pr.Terminal, Exited = pr.Exited, ExitCode = pr.ExitCode, Created = pr.Created };
                    if (pe.Exited) pe.Done.TrySetResult();
                    entry.Processes[pe.Pid] = pe;
                }
                lock (_gate) _systems[row.Id] = entry;
            }
            if (live.Remove(row.Id, out var state))
            {
                if (state.State == "running" && entry.State == SystemStates.Created)
                {
                    entry.State = SystemStates.Running; // started, but the daemon died before recording it
                    store.SetState(entry.Id, SystemStates.Running);
                }
                foreach (var ps in state.Processes)
                {
                    if (ps.Pid == state.InitPid) continue;
                    if (!entry.Processes.ContainsKey(ps.Pid))
                    {
                        // exec'd, but the daemon died before recording it: adopt it
                        entry.Processes[ps.Pid] = new ProcessEntry { Pid = ps.Pid, Created = DateTime.UtcNow };
                        store.InsertProcess(new ProcessRow(entry.Id, ps.Pid, false, 0, false, DateTime.UtcNow));
                    }
                    if (ps.Exited) OnProcessExited(entry, ps.Pid, ps.ExitCode);
                }
                if (state.State == "stopped" && state.ExitCode is { } code) OnInitExited(entry, code, state.Forced);
            }
            else if (entry.State != SystemStates.Stopped)
            {
                // the monitor does not have it: its processes are gone with no exit code to report
                log.LogWarning("{Id}: lost (the monitor no longer has it): stopped unexpectedly", row.Id);
                try { await backend.DeleteAsync(row.Id, row.Bundle, force: true, ct); } catch (Exception) { }
                lock (entry)
                {
                    entry.State = SystemStates.Stopped;
                    entry.ExitType = ExitTypes.Unexpected;
                    entry.ExitCode ??= -1;
                    store.SetExited(entry.Id, entry.ExitCode.Value, ExitTypes.Unexpected);
                    foreach (var p in entry.Processes.Values.Where(p => !p.Exited))
                    {
                        p.Exited = true;
                        p.ExitCode = -1;
                        p.Done.TrySetResult();
                    }
                    entry.Exited.TrySetResult();
                }
                events.Publish("SystemExited", entry.Id, n => n.SystemExitStatus = entry.ExitStatus());
            }
        }
        foreach (var orphan in live.Values)
        {
            bool ours;
            lock (_gate) ours = _systems.ContainsKey(orphan.Id);
            if (ours) continue; // created since the list was taken
            log.LogWarning("{Id}: on the host but not in the store: removing it", orphan.Id);
            await RemoveOrphanAsync(backend, orphan.Id, Path.Combine(options.SystemsDir, orphan.Id), ct);
        }
        if (Directory.Exists(options.SystemsDir))
        {
            foreach (var dir in Directory.GetDirectories(options.SystemsDir))
            {
                bool known;
                lock (_gate) known = _systems.ContainsKey(Path.GetFileName(dir));
                if (known) continue;
                await RemoveOrphanAsync(backend, Path.GetFileName(dir), dir, ct);
            }
        }
        // leases and scratches of systems that no longer exist (a daemon killed between the
        // monitor's delete and its own bookkeeping)
        var owners = images.LeaseOwners().ToHashSet();
        if (Directory.Exists(options.ScratchDir))
            foreach (var dir in Directory.GetDirectories(options.ScratchDir)) owners.Add(Path.GetFileName(dir));
        foreach (var owner in owners)
        {
            bool known;
            lock (_gate) known = _systems.ContainsKey(owner);
            if (!known) ForgetStorage(owner);
        }
    }

    /// <summary>Where a system's init writes its output.</summary>
    private string LogOf(string id) => Path.Combine(options.LogsDir, id + ".log");

    /// <summary>Removes a system that has no row: one whose create the daemon died in before
    /// its intent was stored (it overlaps the monitor's work), so no client was answered. The
    /// container, its bundle and its log go; leases and scratches follow in the sweep after.</summary>
    private async Task RemoveOrphanAsync(IIsolationBackend backend, string id, string bundle, CancellationToken ct)
    {
        try { await backend.DeleteAsync(id, bundle, force: true, ct); } catch (Exception) { }
        // A reconcile also runs while serving: a create of the same id may have begun meanwhile,
        // and the bundle and log are then its own. Under the lock a create's registration waits
        // for these few syscalls, so none can begin between the check and the removal.
        lock (_gate)
        {
            if (_systems.ContainsKey(id)) return;
            RemoveBundle(bundle);
            Libc.Unlink(LogOf(id)); // (none: nothing to do)
        }
    }

    private static SystemEntry Restore(SystemRow row)
    {
        var doc = HcsReader.ReadComputeSystem(row.Document, strict: false);
        var spec = OciJson.ReadSpec(row.Spec, "stored spec");
        var entry = new SystemEntry
        {
            Id = row.Id, Owner = row.Owner, Document = doc, Spec = spec, Isolation = row.Isolation, Bundle = row.Bundle,
            LogPath = row.LogPath, Created = row.Created, State = row.State, InitPid = row.InitPid, ExitCode = row.ExitCode,
            ExitType = row.ExitType,
        };
        if (row.State == SystemStates.Stopped) entry.Exited.TrySetResult();
        return entry;
    }
}
