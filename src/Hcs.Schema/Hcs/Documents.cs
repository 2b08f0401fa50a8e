// HCS schema v2 documents, the Linux subset hcsd serves. Field names and enum spellings
// follow Microsoft's HCS schema reference (docs/design/hcs-schema-v2-notes.md); where Linux needs
// more, extensions are marked "hcs extension" and documented in docs/design/0003-hcsd-api.md.
namespace Hcs.Schema.Hcs;

public sealed class SchemaVersion
{
    public uint Major { get; set; } = 2;
    public uint Minor { get; set; } = 1;
}

/// <summary>A compute system to create: today a container (process or hypervisor isolation).</summary>
public sealed class ComputeSystem
{
    public string? Owner { get; set; }
    public SchemaVersion? SchemaVersion { get; set; }
    public string? HostingSystemId { get; set; }
    public Container? Container { get; set; }
    public bool ShouldTerminateOnLastHandleClosed { get; set; }
}

public sealed class Container
{
    public GuestOs? GuestOs { get; set; }
    public Storage? Storage { get; set; }
    public List<MappedDirectory>? MappedDirectories { get; set; }
    public ContainerMemory? Memory { get; set; }
    public ContainerProcessor? Processor { get; set; }
    public Networking? Networking { get; set; }
    /// <summary>"Process" (namespaces + cgroups on the host, the default) or "Hypervisor" (in a
    /// utility VM). The field hcsshim's newest Container carries.</summary>
    public string? IsolationType { get; set; }
    /// <summary>hcs extension, as hcsshim sends Linux guests: an OCI runtime spec for what the
    /// HCS fields do not say (the init process, capabilities, seccomp, rlimits, ...).</summary>
    public Oci.Spec? OciSpecification { get; set; }
}

public sealed class GuestOs
{
    public string? HostName { get; set; }
}

public sealed class Storage
{
    /// <summary>Read-only layers, lowest first; with Path they are stacked under a writable scratch.</summary>
    public List<Layer>? Layers { get; set; }
    /// <summary>The scratch (writable layer) directory.</summary>
    public string? Path { get; set; }
    /// <summary>hcs extension: an image reference from the image store instead of Layers.</summary>
    public string? Image { get; set; }
}

public sealed class Layer
{
    public string? Id { get; set; }
    public string? Path { get; set; }
    public string? PathType { get; set; }
}

public sealed class MappedDirectory
{
    public string? HostPath { get; set; }
    public string? HostPathType { get; set; }
    public string? ContainerPath { get; set; }
    public bool ReadOnly { get; set; }
}

public sealed class ContainerMemory
{
    public ulong SizeInMB { get; set; }
}

/// <summary>Count, Maximum and Weight are mutually exclusive (HCS): CPUs' worth of time,
/// cycles per 10,000 of the host, or a relative weight 1..10000 (100 = default share).</summary>
public sealed class ContainerProcessor
{
    public uint? Count { get; set; }
    public long? Maximum { get; set; }
    public long? Weight { get; set; }
}

public sealed class Networking
{
    /// <summary>Linux: "" or absent = a new network namespace with loopback only; "host" = the
    /// host's; an absolute path = an existing namespace (e.g. /var/run/netns/NAME).</summary>
    public string? Namespace { get; set; }
    public bool AllowUnqualifiedDnsQuery { get; set; }
    public string? DnsSearchList { get; set; }
    public string? NetworkSharedContainerName { get; set; }
    public List<string>? NetworkAdapters { get; set; }
}

public sealed class ProcessParameters
{
    public string? ApplicationName { get; set; }
    public string? CommandLine { get; set; }
    public List<string>? CommandArgs { get; set; }
    public string? User { get; set; }
    public string? WorkingDirectory { get; set; }
    public Dictionary<string, string>? Environment { get; set; }
    public bool RestrictedToken { get; set; }
    public bool EmulateConsole { get; set; }
    public bool CreateStdInPipe { get; set; }
    public bool CreateStdOutPipe { get; set; }
    public bool CreateStdErrPipe { get; set; }
    /// <summary>[height, width], as the schema has it.</summary>
    public List<ushort>? ConsoleSize { get; set; }
    /// <summary>hcs extension (hcsshim's LCOW field): an OCI process for what the HCS fields do
    /// not say (capabilities, rlimits, noNewPrivileges, ...); the HCS fields win where both speak.</summary>
    public Oci.Process? OciProcess { get; set; }
}

public sealed class ProcessStatus
{
    public uint ProcessId { get; set; }
    public bool Exited { get; set; }
    public uint ExitCode { get; set; }
    public int LastWaitResult { get; set; }
}

public sealed class ConsoleSize
{
    public ushort Height { get; set; }
    public ushort Width { get; set; }
}

public sealed class ProcessModifyRequest
{
    public string? Operation { get; set; }
    public ConsoleSize? ConsoleSize { get; set; }
    public CloseHandle? CloseHandle { get; set; }
}

public sealed class CloseHandle
{
    public string? Handle { get; set; }
}

/// <summary>Linux form (as hcsshim sends Linux guests): a signal number or name.</summary>
public sealed class SignalProcessOptions
{
    public int Signal { get; set; }
}

public sealed class SystemExitStatus
{
    /// <summary>HRESULT: 0 when the system stopped as asked or on its own.</summary>
    public int Status { get; set; }
    public string? ExitType { get; set; }
    /// <summary>hcs extension: the exit code of the container's init process.</summary>
    public int? ExitCode { get; set; }
}

public sealed class ModifySettingRequest
{
    public string? ResourcePath { get; set; }
    public string? RequestType { get; set; }
    /// <summary>Raw JSON of the new value; interpreted per ResourcePath.</summary>
    public System.Text.Json.JsonElement? Settings { get; set; }
}

public sealed class CreateComputeSystemRequest
{
    public string? Id { get; set; }
    public ComputeSystem? Document { get; set; }
}

public sealed class Properties
{
    public string Id { get; set; } = "";
    public string SystemType { get; set; } = "Container";
    public string RuntimeOsType { get; set; } = "Linux";
    public string? Owner { get; set; }
    public string? RuntimeId { get; set; }
    public string State { get; set; } = "";
    public bool Stopped { get; set; }
    public string? ExitType { get; set; }
    public string? HostingSystemId { get; set; }
    /// <summary>hcs extension: "Process" or "Hypervisor".</summary>
    public string IsolationType { get; set; } = "Process";
    /// <summary>hcs extension: creation time and the init process (pid 0 when not running).</summary>
    public DateTime Created { get; set; }
    public uint InitProcessId { get; set; }
    /// <summary>hcs extension: the init's exit code once stopped.</summary>
    public int? ExitCode { get; set; }
    public Statistics? Statistics { get; set; }
    public List<ProcessDetails>? ProcessList { get; set; }
    public MemoryInformation? Memory { get; set; }
}

public sealed class Statistics
{
    public DateTime Timestamp { get; set; }
    public DateTime ContainerStartTime { get; set; }
    public ulong Uptime100ns { get; set; }
    public ProcessorStats Processor { get; set; } = new();
    public MemoryStats Memory { get; set; } = new();
    public StorageStats Storage { get; set; } = new();
}

public sealed class ProcessorStats
{
    public ulong TotalRuntime100ns { get; set; }
    public ulong RuntimeUser100ns { get; set; }
    public ulong RuntimeKernel100ns { get; set; }
}

public sealed class MemoryStats
{
    public ulong MemoryUsageCommitBytes { get; set; }
    public ulong MemoryUsageCommitPeakBytes { get; set; }
    public ulong MemoryUsagePrivateWorkingSetBytes { get; set; }
}

public sealed class StorageStats
{
    public ulong ReadCountNormalized { get; set; }
    public ulong ReadSizeBytes { get; set; }
    public ulong WriteCountNormalized { get; set; }
    public ulong WriteSizeBytes { get; set; }
}

public sealed class ProcessDetails
{
    public uint ProcessId { get; set; }
    public string ImageName { get; set; } = "";
    public DateTime CreateTimestamp { get; set; }
    public ulong UserTime100ns { get; set; }
    public ulong KernelTime100ns { get; set; }
    public ulong MemoryCommitBytes { get; set; }
    public ulong MemoryWorkingSetPrivateBytes { get; set; }
    public ulong MemoryWorkingSetSharedBytes { get; set; }
}

/// <summary>As ContainerMemoryInformation in hcsshim: memory as seen from the container.</summary>
public sealed class MemoryInformation
{
    public ulong TotalPhysicalBytes { get; set; }
    public ulong TotalUsage { get; set; }
    public ulong CommittedBytes { get; set; }
    public ulong SharedCommittedBytes { get; set; }
    public ulong CommitLimitBytes { get; set; }
    public ulong PeakCommitmentBytes { get; set; }
}

public sealed class ServiceInfo
{
    public string Version { get; set; } = "";
    public List<SchemaVersion> SupportedSchemaVersions { get; set; } = [];
    /// <summary>hcs extension: isolation kinds this host can run ("Process", "Hypervisor").</summary>
    public List<string> IsolationKinds { get; set; } = [];
    /// <summary>hcs extension: "v1", "v2" or "hybrid".</summary>
    public string CgroupMode { get; set; } = "";
}

/// <summary>One entry of GET /v2/compute-systems.</summary>
public sealed class ComputeSystemSummary
{
    public string Id { get; set; } = "";
    public string? Owner { get; set; }
    public string State { get; set; } = "";
    public string SystemType { get; set; } = "Container";
    public string IsolationType { get; set; } = "Process";
    public DateTime Created { get; set; }
    public uint InitProcessId { get; set; }
    public int? ExitCode { get; set; }
}

/// <summary>An event of GET /v2/events (one NDJSON line).</summary>
public sealed class Notification
{
    public string Type { get; set; } = "";
    public string Id { get; set; } = "";
    public DateTime Time { get; set; }
    public uint? ProcessId { get; set; }
    public SystemExitStatus? SystemExitStatus { get; set; }
    public ProcessStatus? ProcessStatus { get; set; }
}

/// <summary>The body of every error response.</summary>
public sealed class ErrorResponse
{
    public string Error { get; set; } = "";
    public string Message { get; set; } = "";
    public string? Path { get; set; }
    public List<DocumentError>? Errors { get; set; }
}
