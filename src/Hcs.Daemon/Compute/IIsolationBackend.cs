using Hcs.Linux.Cgroups;
using Hcs.Schema.Monitor;
using Hcs.Schema.Oci;

namespace Hcs.Daemon.Compute;

/// <summary>What a new system needs from its backend: the bundle (config.json written), the
/// overlay to assemble as its root (null when a directory is the root), the host binary to run as
/// init (hcs's pause), and the init's stdio.</summary>
public sealed record CreatePlan(string Bundle, OverlayRequest? Overlay, string? InitExecPath, StdioRequest Stdio);

/// <summary>
/// The seam between the API and an isolation kind. "Process" runs the container on this host
/// (engine + hcs-monitor); "Hypervisor" will run the same spec inside a utility VM through the
/// guest agent. ComputeService owns state, store and events; a backend only acts.
/// </summary>
public interface IIsolationBackend
{
    string Kind { get; }
    /// <summary>Creates (not starts) the system; returns the init's pid. <paramref name="meanwhile"/>
    /// (the caller's store write) runs while the backend creates; its exception is thrown once the
    /// backend has answered.</summary>
    Task<int> CreateAsync(string id, CreatePlan plan, Action? meanwhile, CancellationToken ct);
    Task StartAsync(string id, CancellationToken ct);
    Task<(int Pid, bool Terminal)> ExecAsync(string id, Process process, StdioRequest stdio, CancellationToken ct);
    /// <summary>pid 0 = the init.</summary>
    Task SignalAsync(string id, int pid, int signal, CancellationToken ct);
    Task KillAllAsync(string id, CancellationToken ct);
    /// <summary>Removes the system; <paramref name="meanwhile"/> as for <see cref="CreateAsync"/>.</summary>
    Task DeleteAsync(string id, string bundle, bool force, CancellationToken ct, Action? meanwhile = null);
    void Pause(string id);
    void Resume(string id);
    void Update(string id, Resources resources);
    CgroupStats Stats(string id);
    IReadOnlyList<int> Pids(string id);
    void AddMount(string id, int initPid, string hostPath, string containerPath, bool readOnly);
    void RemoveMount(string id, int initPid, string containerPath);
    /// <summary>A stream of attach frames ([stream byte][data], as the public protocol).</summary>
    Task<(Stream Stream, bool Terminal)> AttachAsync(string id, int pid, CancellationToken ct);
    Task ResizeAsync(string id, int pid, ushort rows, ushort cols, CancellationToken ct);
    Task CloseStdinAsync(string id, int pid, CancellationToken ct);
    /// <summary>What exists on the host now (for reconciliation after a restart).</summary>
    Task<IReadOnlyList<SystemState>> ListAsync(CancellationToken ct);
}
