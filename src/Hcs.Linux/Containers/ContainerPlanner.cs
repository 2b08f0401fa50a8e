using Hcs.Linux.Rootfs;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Linux.Containers;

/// <summary>
/// Computes the <see cref="SpawnRequest"/> for a container's init process (create) and for a
/// process joining it (exec). Pure: no syscalls, host facts come from <see cref="IHostView"/>.
/// </summary>
public static class ContainerPlanner
{
    public sealed record CreateInputs(
        string Id, string Bundle, string Rootfs, bool NoPivot, bool NoNewKeyring, int PreserveFds, bool Terminal);

    public static SpawnRequest PlanCreate(Schema.Oci.Spec spec, CreateInputs input, IHostView host)
    {
        var errors = new DocumentErrors();
        var r = new SpawnRequest
        {
            Rootfs = input.Rootfs,
            NoPivot = input.NoPivot,
            RootReadonly = spec.Root?.Readonly ?? false,
            KeyringName = input.NoNewKeyring ? null : "_ses." + input.Id,
            PreserveFds = input.PreserveFds,
            Hostname = string.IsNullOrEmpty(spec.Hostname) ? null : spec.Hostname,
            Domainname = string.IsNullOrEmpty(spec.Domainname) ? null : spec.Domainname,
        };
        var linux = spec.Linux ?? new OciLinux();
        bool newUserns = false, mountns = false;
        var namespaces = linux.Namespaces ?? [];
        for (int i = 0; i < namespaces.Count; i++)
        {
            var ns = namespaces[i];
            var (flag, _) = LinuxNames.Namespaces[ns.Type];
            if (!string.IsNullOrEmpty(ns.Path))
            {
                r.Joins.Add(new NamespaceJoin(ns.Type, ns.Path, $"$.linux.namespaces[{i}].path"));
                continue;
            }
            if (ns.Type == "time") r.TimeOffsets = TimeOffsetsText(linux.TimeOffsets);
            else r.CloneFlags |= flag;
            if (ns.Type == "user") newUserns = true;
            if (ns.Type == "mount") mountns = true;
        }
        r.Joins.Sort((a, b) => Array.IndexOf(LinuxNames.JoinOrder, a.Type) - Array.IndexOf(LinuxNames.JoinOrder, b.Type));
        if (!mountns)
            errors.Add("$.linux.namespaces", "a new mount namespace is required (runhcs builds the root filesystem in it)");
        if (newUserns)
        {
            r.UidMap = MountPlanner.MapText(linux.UidMappings ?? []);
            r.GidMap = MountPlanner.MapText(linux.GidMappings ?? []);
        }

        r.SetupRootfs = mountns;
        var prop = PropagationFlags(linux.RootfsPropagation);
        // An unbindable "/" could not be bound onto itself: that one is applied after pivot_root
        // (as runc learned the hard way), the others first.
        r.RootPropagation = prop != 0 && (prop & MountPlanner.MS_UNBINDABLE) == 0 ? prop : MountPlanner.MS_SLAVE | MountPlanner.MS_REC;
        if ((prop & MountPlanner.MS_UNBINDABLE) != 0) r.RootfsPropagation = prop;
        if ((prop & MountPlanner.MS_SHARED) != 0)
        {
            r.RootfsParentMount = host is IMountTable table ? table.MountPointOf(Path.GetDirectoryName(input.Rootfs) ?? "/") : null;
            r.RootfsPropagation = prop;
        }
        new MountPlanner(host).Plan(spec, input.Bundle, newUserns, r.Steps, errors);
        MountPlanner.OrderByCgroupStage(r.Steps);
        r.MaskedPaths.AddRange(linux.MaskedPaths ?? []);
        r.ReadonlyPaths.AddRange(linux.ReadonlyPaths ?? []);
        foreach (var (key, value) in linux.Sysctl ?? [])
            r.Sysctls.Add(new(key.Replace('.', '/'), value));
        if (linux.Personality is { } pers)
            r.Personality = LinuxNames.PersonalityDomains[pers.Domain];

        ApplyProcess(r, spec.Process!, "$.process", errors);
        r.Terminal = input.Terminal;
        r.ConsoleMount = input.Terminal && mountns;
        if (spec.Hooks is { } hooks)
        {
            r.CreateContainerHooks.AddRange(hooks.CreateContainer ?? []);
            r.StartContainerHooks.AddRange(hooks.StartContainer ?? []);
            r.HookSync = hooks.Prestart is { Count: > 0 } || hooks.CreateRuntime is { Count: > 0 };
        }
        errors.ThrowIfAny("config.json");
        return r;
    }

    /// <summary>A process entering a running container: every namespace of the container's init,
    /// the process settings of the given spec.</summary>
    public static SpawnRequest PlanExec(Schema.Oci.Spec containerSpec, int initPid, Process process, bool terminal, int preserveFds)
    {
        var errors = new DocumentErrors();
        var r = new SpawnRequest { IsExec = true, PreserveFds = preserveFds, Terminal = terminal, ProcessPath = "$" };
        foreach (var ns in containerSpec.Linux?.Namespaces ?? [])
        {
            var (_, procName) = LinuxNames.Namespaces[ns.Type];
            r.Joins.Add(new NamespaceJoin(ns.Type, $"/proc/{initPid}/ns/{procName}"));
        }
        r.Joins.Sort((a, b) => Array.IndexOf(LinuxNames.JoinOrder, a.Type) - Array.IndexOf(LinuxNames.JoinOrder, b.Type));
        ApplyProcess(r, process, "$", errors);
        errors.ThrowIfAny("process.json");
        return r;
    }

    private static void ApplyProcess(SpawnRequest r, Process p, string path, DocumentErrors errors)
    {
        r.Args = p.Args ?? [];
        r.Env = p.Env ?? [];
        r.Cwd = string.IsNullOrEmpty(p.Cwd) ? "/" : p.Cwd;
        if (p.User is { } u)
        {
            r.Uid = u.Uid;
            r.Gid = u.Gid;
            if (u.AdditionalGids is { } gids) r.AdditionalGids.AddRange(gids);
            r.Umask = u.Umask;
        }
        foreach (var rl in p.Rlimits ?? [])
            r.Rlimits.Add((LinuxNames.Rlimits[rl.Type], rl.Soft, rl.Hard));
        if (p.Capabilities is { } caps)
            r.Capabilities = new CapabilitySets(Mask(caps.Bounding), Mask(caps.Effective), Mask(caps.Permitted),
                                                Mask(caps.Inheritable), Mask(caps.Ambient));
        r.NoNewPrivileges = p.NoNewPrivileges;
        if (p.ConsoleSize is { } size)
        {
            r.ConsoleRows = (ushort)Math.Min(size.Height, ushort.MaxValue);
            r.ConsoleCols = (ushort)Math.Min(size.Width, ushort.MaxValue);
        }
        _ = path;
        _ = errors;
    }

    public static ulong Mask(List<string>? names)
    {
        ulong mask = 0;
        foreach (var n in names ?? []) mask |= 1UL << LinuxNames.Capabilities[n];
        return mask;
    }

    public static ulong PropagationFlags(string? name) => name switch
    {
        "shared" => MountPlanner.MS_SHARED,
        "rshared" => MountPlanner.MS_SHARED | MountPlanner.MS_REC,
        "slave" => MountPlanner.MS_SLAVE,
        "rslave" => MountPlanner.MS_SLAVE | MountPlanner.MS_REC,
        "private" => MountPlanner.MS_PRIVATE,
        "rprivate" => MountPlanner.MS_PRIVATE | MountPlanner.MS_REC,
        "unbindable" => MountPlanner.MS_UNBINDABLE,
        "runbindable" => MountPlanner.MS_UNBINDABLE | MountPlanner.MS_REC,
        _ => 0,
    };

    private static string TimeOffsetsText(Dictionary<string, TimeOffset>? offsets)
    {
        if (offsets is null) return "";
        var sb = new System.Text.StringBuilder();
        foreach (var (clock, o) in offsets) sb.Append(clock).Append(' ').Append(o.Secs).Append(' ').Append(o.Nanosecs).Append('\n');
        return sb.ToString();
    }
}

/// <summary>Optional host fact for shared root propagation: which mount point holds a path.</summary>
public interface IMountTable
{
    string? MountPointOf(string path);
}
