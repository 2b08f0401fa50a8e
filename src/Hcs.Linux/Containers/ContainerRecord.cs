using System.Text.Json.Serialization;

namespace Hcs.Linux.Containers;

/// <summary>
/// What a runtime remembers about a container between commands (state.json in its state
/// directory). Each runhcs invocation is a new process, so this is the container's memory.
/// </summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";
    public int Pid { get; set; }
    /// <summary>Start time of the init (field 22 of /proc/pid/stat): tells a recycled pid apart.</summary>
    public ulong PidStartTime { get; set; }
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    public DateTime Created { get; set; }
    public string Owner { get; set; } = "";
    public Dictionary<string, string> CgroupPaths { get; set; } = [];
    public bool SystemdCgroup { get; set; }

    /// <summary>The container's config as it was at create (resources updated by `update`). Kept
    /// in its own file (config.json next to state.json), written with the OCI JSON context.</summary>
    [JsonIgnore]
    public Schema.Oci.Spec Config { get; set; } = new();
}

public enum ContainerStatus { Creating, Created, Running, Paused, Stopped }

public static class ContainerStatusNames
{
    public static string Name(this ContainerStatus s) => s switch
    {
        ContainerStatus.Creating => "creating",
        ContainerStatus.Created => "created",
        ContainerStatus.Running => "running",
        ContainerStatus.Paused => "paused",
        _ => "stopped",
    };
}

/// <summary>One row of `list`: the OCI state plus what runc adds (rootfs, created, owner).</summary>
public sealed class ContainerSummary
{
    public string OciVersion { get; set; } = Schema.Oci.SpecVersion.Current;
    public string Id { get; set; } = "";
    public int Pid { get; set; }
    public string Status { get; set; } = "";
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    public DateTime Created { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public string Owner { get; set; } = "";
}
