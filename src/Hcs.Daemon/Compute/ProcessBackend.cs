using Hcs.Daemon.Monitor;
using Hcs.Linux.Cgroups;
using Hcs.Linux.Containers;
using Hcs.Linux.Rootfs;
using Hcs.Schema.Monitor;
using Hcs.Schema.Oci;

namespace Hcs.Daemon.Compute;

/// <summary>
/// Process isolation: hcs-monitor creates and parents the processes (they must outlive hcsd);
/// what only reads or writes cgroups (pause, resume, update, stats) the daemon does with the
/// engine directly, on the monitor's engine state.
/// </summary>
public sealed class ProcessBackend(MonitorClient monitor, ContainerEngine engine) : IIsolationBackend
{
    // Requests that change the host are not cancelled when the API client goes away: the
    // monitor finishes them anyway, and hcsd must record what it did.
    private static readonly CancellationToken Uncancellable = CancellationToken.None;

    public string Kind => "Process";

    // create, start and delete call the monitor blocking (MonitorClient.Call): they are on every
    // container's critical path. The rest await.

    public Task<int> CreateAsync(string id, CreatePlan plan, Action? meanwhile, CancellationToken ct)
    {
        var r = monitor.Call(new MonitorRequest
        {
            Op = MonitorOps.Create, Id = id, Bundle = plan.Bundle, Overlay = plan.Overlay,
            InitExecPath = plan.InitExecPath, Stdio = plan.Stdio,
        }, meanwhile);
        return Task.FromResult(r.Pid);
    }

    public Task StartAsync(string id, CancellationToken ct)
    {
        monitor.Call(new MonitorRequest { Op = MonitorOps.Start, Id = id });
        return Task.CompletedTask;
    }

    public async Task<(int Pid, bool Terminal)> ExecAsync(string id, Process process, StdioRequest stdio, CancellationToken ct)
    {
        var json = System.Text.Encoding.UTF8.GetString(Schema.Hcs.HcsWriter.ToUtf8(w => OciWriter.Write(w, process)));
        var r = await monitor.CallAsync(new MonitorRequest { Op = MonitorOps.Exec, Id = id, ProcessJson = json, Stdio = stdio }, Uncancellable);
        return (r.Pid, r.Terminal);
    }

    public Task SignalAsync(string id, int pid, int signal, CancellationToken ct) =>
        monitor.CallAsync(new MonitorRequest { Op = MonitorOps.Signal, Id = id, Pid = pid, Signal = signal }, Uncancellable);

    public Task KillAllAsync(string id, CancellationToken ct) =>
        monitor.CallAsync(new MonitorRequest { Op = MonitorOps.KillAll, Id = id }, Uncancellable);

    public Task DeleteAsync(string id, string bundle, bool force, CancellationToken ct, Action? meanwhile = null)
    {
        monitor.Call(new MonitorRequest { Op = MonitorOps.Delete, Id = id, Bundle = bundle, Force = force }, meanwhile);
        return Task.CompletedTask;
    }

    public void Pause(string id) => engine.Pause(id);
    public void Resume(string id) => engine.Resume(id);
    public void Update(string id, Resources resources) => engine.Update(id, resources);
    public CgroupStats Stats(string id) => engine.Stats(id);
    public IReadOnlyList<int> Pids(string id) => engine.Pids(id);

    public void AddMount(string id, int initPid, string hostPath, string containerPath, bool readOnly) =>
        LiveMounts.MountInto(initPid, hostPath, containerPath, readOnly);

    public void RemoveMount(string id, int initPid, string containerPath) => LiveMounts.UnmountIn(initPid, containerPath);

    public async Task<(Stream Stream, bool Terminal)> AttachAsync(string id, int pid, CancellationToken ct)
    {
        var (stream, info) = await monitor.AttachAsync(id, pid, ct);
        return (stream, info.Terminal);
    }

    public Task ResizeAsync(string id, int pid, ushort rows, ushort cols, CancellationToken ct) =>
        monitor.CallAsync(new MonitorRequest { Op = MonitorOps.Resize, Id = id, Pid = pid, Rows = rows, Cols = cols }, Uncancellable);

    public Task CloseStdinAsync(string id, int pid, CancellationToken ct) =>
        monitor.CallAsync(new MonitorRequest { Op = MonitorOps.CloseStdin, Id = id, Pid = pid }, Uncancellable);

    public async Task<IReadOnlyList<SystemState>> ListAsync(CancellationToken ct) =>
        (await monitor.CallAsync(new MonitorRequest { Op = MonitorOps.List }, ct)).Systems ?? [];
}
