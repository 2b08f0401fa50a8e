namespace Hcs.Linux.Containers;

/// <summary>
/// Everything the native spawn library needs, as plain managed data. Planners build it from an
/// OCI spec (pure logic, unit tested without root); <see cref="Spawner"/> marshals it.
/// </summary>
public sealed class SpawnRequest
{
    public bool IsExec { get; set; }
    public ulong CloneFlags { get; set; }
    /// <summary>Namespaces to enter, already in join order (user first, mount last).</summary>
    public List<NamespaceJoin> Joins { get; } = [];
    public string? UidMap { get; set; }
    public string? GidMap { get; set; }
    /// <summary>Non-null: create a time namespace with these offsets ("" = none).</summary>
    public string? TimeOffsets { get; set; }
    public string? KeyringName { get; set; }

    public string? Rootfs { get; set; }
    public bool SetupRootfs { get; set; }
    public bool NoPivot { get; set; }
    public bool RootReadonly { get; set; }
    public ulong RootPropagation { get; set; }
    public string? RootfsParentMount { get; set; }
    public ulong RootfsPropagation { get; set; }
    public List<MountStep> Steps { get; } = [];

    /// <summary>How many steps, from the first, the child may make before SETUP (while the
    /// parent creates its cgroup): those before the first that needs the cgroup. None when a
    /// user namespace or a joined namespace must come before any mount (the native side checks
    /// the same).</summary>
    public int EarlySteps => StepsBefore(CgroupStage.Made);

    /// <summary>Where the steps that need only the cgroup's directories end: the child makes
    /// steps <see cref="EarlySteps"/> .. MadeSteps-1 once the parent reports them made
    /// (<see cref="SpawnSession.CgroupMade"/>), while it joins the child to them. Equal to
    /// EarlySteps when none waits for that.</summary>
    public int MadeSteps => StepsBefore(CgroupStage.Joined);

    private int StepsBefore(CgroupStage stage) =>
        IsExec || Joins.Count > 0 || (CloneFlags & Native.Libc.CLONE_NEWUSER) != 0 || TimeOffsets is not null ? 0
        : Steps.FindIndex(s => s.Needs >= stage) is var i and >= 0 ? i : Steps.Count;

    /// <summary>Whether the child may make its read-only and masked paths right after SETUP,
    /// while the parent joins it to its cgroup, instead of after pivot_root (they are resolved
    /// in the root either way). Only with early steps, and when nothing that comes later could
    /// meet those paths: no later step's target, and not the cwd, is at, above or below one of
    /// them; no sysctls (written through /proc/sys, usually read-only); no hooks in between; no
    /// terminal (its /dev/console is bound after pivot_root).</summary>
    public bool EarlyPaths =>
        EarlySteps > 0 && Sysctls.Count == 0 && CreateContainerHooks.Count == 0 && !HookSync && !Terminal && !ConsoleMount &&
        !Meets([.. MaskedPaths.Select(Hcs.Linux.Rootfs.MountPlanner.Normalize), .. ReadonlyPaths.Select(Hcs.Linux.Rootfs.MountPlanner.Normalize)],
               [.. Steps.Skip(EarlySteps).Select(s => s.Target)]);

    /// <summary>Whether a later mount (at, above or below one of the paths) or the cwd (made
    /// after them, so not inside one) meets the paths.</summary>
    private bool Meets(List<string> paths, List<string> laterTargets)
    {
        foreach (var a in paths)
        {
            if (Nested(Hcs.Linux.Rootfs.MountPlanner.Normalize(Cwd), a)) return true;
            foreach (var b in laterTargets)
                if (Nested(a, b) || Nested(b, a)) return true;
        }
        return false;

        static bool Nested(string inner, string outer) => Hcs.Linux.Rootfs.MountPlanner.Nested(inner, outer);
    }

    public List<string> MaskedPaths { get; } = [];
    public List<string> ReadonlyPaths { get; } = [];
    /// <summary>Key as a /proc/sys relative path ("net/ipv4/ip_forward") and value.</summary>
    public List<KeyValuePair<string, string>> Sysctls { get; } = [];
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }

    public List<string> Args { get; set; } = [];
    public List<string> Env { get; set; } = [];
    public string Cwd { get; set; } = "/";
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public List<uint> AdditionalGids { get; } = [];
    public uint? Umask { get; set; }
    public int? Personality { get; set; }
    public List<(int Resource, ulong Soft, ulong Hard)> Rlimits { get; } = [];
    public CapabilitySets? Capabilities { get; set; }
    public bool NoNewPrivileges { get; set; }

    public bool Terminal { get; set; }
    public bool ConsoleMount { get; set; }
    public ushort ConsoleRows { get; set; }
    public ushort ConsoleCols { get; set; }
    public int PreserveFds { get; set; }
    /// <summary>The program's stdin, stdout, stderr (each > 2, or -1 to inherit ours); null
    /// inherits all three. The caller keeps (and closes) them.</summary>
    public int[]? StdioFds { get; set; }
    /// <summary>A host file to run instead of looking Args[0] up in the container (opened
    /// before pivot_root, so it need not be in the image); null = look up.</summary>
    public string? ExecPath { get; set; }

    public byte[]? SeccompFilter { get; set; }
    public uint SeccompFlags { get; set; }
    public bool SeccompNotify { get; set; }

    public List<Schema.Oci.Hook> CreateContainerHooks { get; } = [];
    public List<Schema.Oci.Hook> StartContainerHooks { get; } = [];
    /// <summary>Stop after the mounts so the parent can run prestart/createRuntime hooks.</summary>
    public bool HookSync { get; set; }

    /// <summary>JSON path of the process in its document ("$.process" for create, "$" for an
    /// exec's process.json), so failures can name the value behind them.</summary>
    public string ProcessPath { get; set; } = "$.process";
}

public readonly record struct NamespaceJoin(string Type, string Path, string? ConfigPath = null);

public readonly record struct CapabilitySets(ulong Bounding, ulong Effective, ulong Permitted, ulong Inheritable, ulong Ambient);

/// <summary>One step of the root filesystem plan (see hcs_mount_step in native/include/hcs_spawn.h).</summary>
public sealed record MountStep
{
    public required MountStepKind Kind { get; init; }
    public required string Target { get; init; }
    public bool TargetIsFile { get; init; }
    public string? Source { get; init; }
    public string? FsType { get; init; }
    public string? Data { get; init; }
    public ulong Flags { get; init; }
    public ulong AttrSet { get; init; }
    public ulong AttrClear { get; init; }
    public ulong Propagation { get; init; }
    public bool Recursive { get; init; }
    public uint Mode { get; init; }
    public ulong Device { get; init; }
    public long Uid { get; init; } = -1;
    public long Gid { get; init; } = -1;
    public bool Optional { get; init; }
    /// <summary>Idmapped bind: uid and gid map text for a user namespace made for this mount.</summary>
    public (string Uid, string Gid)? IdMap { get; init; }
    /// <summary>The config value this step comes from ("$.mounts[2]"), for error messages.</summary>
    public string? ConfigPath { get; init; }
    /// <summary>What of the container's cgroup must exist before this step: the directories for
    /// the binds of a "cgroup" mount; the membership (and cgroup namespace) for a cgroup2 mount
    /// or a device the spec lists. See <see cref="SpawnRequest.EarlySteps"/>.</summary>
    public CgroupStage Needs { get; init; }
}

/// <summary>How far the container's cgroup is along when the child makes a mount step; the
/// planner keeps the steps in this order.</summary>
public enum CgroupStage
{
    /// <summary>Needs nothing of it: made while the parent creates the cgroup.</summary>
    None = 0,
    /// <summary>Its directories exist (HCS_MSG_CGROUP_MADE).</summary>
    Made = 1,
    /// <summary>The child is in it and in its cgroup namespace (after GO).</summary>
    Joined = 2,
}

public enum MountStepKind : uint
{
    Mount = 1,
    Bind = 2,
    Mknod = 3,
    Symlink = 4,
    Mkdir = 5,
    SetAttr = 6,
}
