using Hcs.Schema.Hcs;
using OciSpec = Hcs.Schema.Oci.Spec;

namespace Hcs.Daemon.Compute;

/// <summary>HCS state names.</summary>
public static class SystemStates
{
    public const string Creating = "Creating"; // internal: an intent row, never shown
    public const string Deleting = "Deleting"; // internal: likewise
    public const string Created = "Created";
    public const string Running = "Running";
    public const string Paused = "Paused";
    public const string Stopped = "Stopped";
}

public static class ExitTypes
{
    public const string Graceful = "GracefulExit";
    public const string Forced = "ForcedExit";
    public const string Unexpected = "UnexpectedExit";
}

/// <summary>The daemon's view of one compute system (rebuilt from the store at start).</summary>
public sealed class SystemEntry
{
    public required string Id { get; init; }
    public string? Owner { get; init; }
    public required ComputeSystem Document { get; set; }
    public required OciSpec Spec { get; set; }
    public required string Isolation { get; init; }
    public required string Bundle { get; init; }
    public string? LogPath { get; init; }
    public DateTime Created { get; init; }
    public string State { get; set; } = SystemStates.Created;
    public int InitPid { get; set; }
    public int? ExitCode { get; set; }
    public string? ExitType { get; set; }
    /// <summary>Set by terminate: the next exit of the init is a forced one.</summary>
    public bool Terminating { get; set; }
    public Dictionary<int, ProcessEntry> Processes { get; } = [];
    /// <summary>Exits the monitor reported before its exec answer reached us (a quick process):
    /// the exec that is waiting for that answer takes its exit from here. Under lock(this).</summary>
    public Dictionary<int, int> EarlyExits { get; } = [];
    public TaskCompletionSource Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>State changes of one system take turns.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public SystemExitStatus ExitStatus() => new()
    {
        Status = ExitType == ExitTypes.Unexpected ? unchecked((int)HcsError.UnexpectedExit.HResult) : 0,
        ExitType = ExitType,
        ExitCode = ExitCode,
    };
}

public sealed class ProcessEntry
{
    public required int Pid { get; init; }
    public bool Terminal { get; init; }
    public bool Exited { get; set; }
    public int ExitCode { get; set; }
    public DateTime Created { get; init; }
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ProcessStatus Status() => new() { ProcessId = (uint)Pid, Exited = Exited, ExitCode = (uint)ExitCode };
}
