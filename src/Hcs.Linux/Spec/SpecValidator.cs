using Hcs.Schema;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Linux.Spec;

/// <summary>
/// Checks an OCI config for everything that can be known before touching the kernel, and
/// reports every problem with its JSON path ("$.linux.namespaces[2].type: unknown namespace").
/// Seccomp is checked by the seccomp compiler, cgroupsPath by the cgroup driver.
/// </summary>
public static class SpecValidator
{
    private static readonly HashSet<string> Propagations =
        ["shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable"];

    public static void ThrowIfInvalid(Schema.Oci.Spec spec, string source = "config.json")
    {
        var errors = new DocumentErrors();
        Validate(spec, errors);
        errors.ThrowIfAny(source);
    }

    public static void Validate(Schema.Oci.Spec spec, DocumentErrors errors)
    {
        if (string.IsNullOrEmpty(spec.OciVersion))
            errors.Add("$.ociVersion", "required");
        else if (!spec.OciVersion.StartsWith("1.", StringComparison.Ordinal))
            errors.Add("$.ociVersion", $"unsupported version \"{spec.OciVersion}\" (runhcs implements 1.x)");

        if (spec.Root is null) errors.Add("$.root", "required on Linux");
        else if (string.IsNullOrEmpty(spec.Root.Path)) errors.Add("$.root.path", "required");

        if (spec.Process is null) errors.Add("$.process", "required to create a container");
        else ValidateProcess(spec.Process, "$.process", errors, requireArgs: true);

        var namespaces = ValidateNamespaces(spec.Linux, errors);
        ValidateMounts(spec.Mounts, errors);
        ValidateHooks(spec.Hooks, errors);
        if (spec.Hostname is { Length: > 0 } && !namespaces.Contains("uts"))
            errors.Add("$.hostname", "setting the hostname needs a new uts namespace");
        if (spec.Domainname is { Length: > 0 } && !namespaces.Contains("uts"))
            errors.Add("$.domainname", "setting the domainname needs a new uts namespace");
        if (spec.Process?.Terminal == false && spec.Process.ConsoleSize is not null)
            errors.Add("$.process.consoleSize", "only valid with \"terminal\": true");

        if (spec.Linux is { } linux) ValidateLinux(linux, namespaces, errors);
    }

    public static void ValidateProcess(Process p, string path, DocumentErrors errors, bool requireArgs)
    {
        if (requireArgs && (p.Args is null || p.Args.Count == 0))
            errors.Add($"{path}.args", "required: at least the program to run");
        else if (p.Args is { Count: > 0 } && string.IsNullOrEmpty(p.Args[0]))
            errors.Add($"{path}.args[0]", "the program must not be empty");
        if (string.IsNullOrEmpty(p.Cwd)) errors.Add($"{path}.cwd", "required");
        else if (p.Cwd[0] != '/') errors.Add($"{path}.cwd", $"must be an absolute path, not \"{p.Cwd}\"");
        if (p.Env is { } env)
            for (int i = 0; i < env.Count; i++)
                if (env[i] is null || !env[i].Contains('=') || env[i][0] == '=')
                    errors.Add($"{path}.env[{i}]", $"must be KEY=value, not \"{env[i]}\"");
        if (p.Rlimits is { } rl)
        {
            var seen = new HashSet<string>();
            for (int i = 0; i < rl.Count; i++)
            {
                if (!LinuxNames.Rlimits.ContainsKey(rl[i].Type))
                    errors.Add($"{path}.rlimits[{i}].type", $"unknown rlimit \"{rl[i].Type}\"");
                else if (!seen.Add(rl[i].Type))
                    errors.Add($"{path}.rlimits[{i}].type", $"\"{rl[i].Type}\" is given twice");
                if (rl[i].Soft > rl[i].Hard)
                    errors.Add($"{path}.rlimits[{i}].soft", $"soft limit {rl[i].Soft} is above the hard limit {rl[i].Hard}");
            }
        }
        if (p.Capabilities is { } caps)
        {
            CheckCaps(caps.Bounding, $"{path}.capabilities.bounding", errors);
            CheckCaps(caps.Effective, $"{path}.capabilities.effective", errors);
            CheckCaps(caps.Inheritable, $"{path}.capabilities.inheritable", errors);
            CheckCaps(caps.Permitted, $"{path}.capabilities.permitted", errors);
            CheckCaps(caps.Ambient, $"{path}.capabilities.ambient", errors);
        }
        if (p.OomScoreAdj is < -1000 or > 1000)
            errors.Add($"{path}.oomScoreAdj", $"must be between -1000 and 1000, not {p.OomScoreAdj}");
        if (p.User?.Umask is > 0x1ff)
            errors.Add($"{path}.user.umask", $"must be at most 0777 (511), not {p.User.Umask}");
        if (p.ExecCpuAffinity is { } aff)
        {
            if (aff.Initial is { Length: > 0 } i && !IsCpuList(i)) errors.Add($"{path}.execCPUAffinity.initial", $"not a cpu list: \"{i}\"");
            if (aff.Final is { Length: > 0 } f && !IsCpuList(f)) errors.Add($"{path}.execCPUAffinity.final", $"not a cpu list: \"{f}\"");
        }
        // Confinement we do not apply must not be silently dropped: runhcs does not load AppArmor
        // profiles (and runc refuses one when AppArmor is off, as it is on this kind of host).
        if (p.ApparmorProfile is { Length: > 0 } profile && profile != "unconfined")
            errors.Add($"{path}.apparmorProfile", AppArmorEnabled()
                ? $"AppArmor profiles are not supported by runhcs (\"{profile}\")"
                : $"AppArmor is not enabled on this host, profile \"{profile}\" cannot be applied");
        if (p.IoPriority is { } io)
        {
            if (!Containers.ProcessTuning.IoClasses.ContainsKey(io.Class))
                errors.Add($"{path}.ioPriority.class", $"unknown class \"{io.Class}\" (IOPRIO_CLASS_RT, _BE or _IDLE)");
            if (io.Priority is < 0 or > 7)
                errors.Add($"{path}.ioPriority.priority", $"must be between 0 and 7, not {io.Priority}");
        }
        if (p.Scheduler is { } sch)
        {
            if (!Containers.ProcessTuning.Policies.ContainsKey(sch.Policy))
                errors.Add($"{path}.scheduler.policy", $"unknown policy \"{sch.Policy}\"");
            if (sch.Nice is < -20 or > 19)
                errors.Add($"{path}.scheduler.nice", $"must be between -20 and 19, not {sch.Nice}");
            if (sch.Flags is { } flags)
                for (int i = 0; i < flags.Count; i++)
                    if (!Containers.ProcessTuning.SchedFlags.ContainsKey(flags[i]))
                        errors.Add($"{path}.scheduler.flags[{i}]", $"unknown flag \"{flags[i]}\"");
        }
    }

    private static void CheckCaps(List<string>? names, string path, DocumentErrors errors)
    {
        if (names is null) return;
        for (int i = 0; i < names.Count; i++)
            if (!LinuxNames.Capabilities.ContainsKey(names[i]))
                errors.Add($"{path}[{i}]", $"unknown capability \"{names[i]}\"");
    }

    private static HashSet<string> ValidateNamespaces(OciLinux? linux, DocumentErrors errors)
    {
        var types = new HashSet<string>();
        if (linux?.Namespaces is not { } list) return types;
        for (int i = 0; i < list.Count; i++)
        {
            var ns = list[i];
            if (!LinuxNames.Namespaces.ContainsKey(ns.Type))
                errors.Add($"$.linux.namespaces[{i}].type", $"unknown namespace type \"{ns.Type}\"");
            else if (!types.Add(ns.Type))
                errors.Add($"$.linux.namespaces[{i}].type", $"namespace \"{ns.Type}\" is given twice");
            if (ns.Path is { Length: > 0 } p && p[0] != '/')
                errors.Add($"$.linux.namespaces[{i}].path", $"must be an absolute path, not \"{p}\"");
        }
        return types;
    }

    private static void ValidateMounts(List<Mount>? mounts, DocumentErrors errors)
    {
        if (mounts is null) return;
        for (int i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            var path = $"$.mounts[{i}]";
            if (string.IsNullOrEmpty(m.Destination)) errors.Add($"{path}.destination", "required");
            bool bind = m.Type == "bind" || (m.Options?.Exists(o => o is "bind" or "rbind") ?? false);
            if (bind && string.IsNullOrEmpty(m.Source)) errors.Add($"{path}.source", "required for a bind mount");
            if (!bind && string.IsNullOrEmpty(m.Type)) errors.Add($"{path}.type", "required (or a bind/rbind option)");
            if (m.UidMappings is { Count: > 0 } != m.GidMappings is { Count: > 0 })
                errors.Add($"{path}.uidMappings", "uidMappings and gidMappings must be given together");
            if (m.UidMappings is { Count: > 0 } && !bind)
                errors.Add($"{path}.uidMappings", "idmapped mounts are only supported for bind mounts");
        }
    }

    private static void ValidateHooks(Hooks? hooks, DocumentErrors errors)
    {
        if (hooks is null) return;
        Check(hooks.Prestart, "prestart");
        Check(hooks.CreateRuntime, "createRuntime");
        Check(hooks.CreateContainer, "createContainer");
        Check(hooks.StartContainer, "startContainer");
        Check(hooks.Poststart, "poststart");
        Check(hooks.Poststop, "poststop");

        void Check(List<Hook>? list, string name)
        {
            if (list is null) return;
            for (int i = 0; i < list.Count; i++)
            {
                if (string.IsNullOrEmpty(list[i].Path) || list[i].Path[0] != '/')
                    errors.Add($"$.hooks.{name}[{i}].path", $"must be an absolute path, not \"{list[i].Path}\"");
                if (list[i].Timeout is <= 0)
                    errors.Add($"$.hooks.{name}[{i}].timeout", $"must be positive, not {list[i].Timeout}");
            }
        }
    }

    private static void ValidateLinux(OciLinux linux, HashSet<string> namespaces, DocumentErrors errors)
    {
        bool userns = namespaces.Contains("user");
        bool newUserns = userns && linux.Namespaces!.Exists(n => n.Type == "user" && string.IsNullOrEmpty(n.Path));
        if (newUserns && (linux.UidMappings is not { Count: > 0 } || linux.GidMappings is not { Count: > 0 }))
            errors.Add("$.linux.uidMappings", "a new user namespace needs uidMappings and gidMappings");
        if (!userns && (linux.UidMappings is { Count: > 0 } || linux.GidMappings is { Count: > 0 }))
            errors.Add("$.linux.uidMappings", "mappings need a user namespace in $.linux.namespaces");
        CheckMappings(linux.UidMappings, "$.linux.uidMappings", errors);
        CheckMappings(linux.GidMappings, "$.linux.gidMappings", errors);

        if (linux.RootfsPropagation is { Length: > 0 } prop && !Propagations.Contains(prop))
            errors.Add("$.linux.rootfsPropagation", $"unknown propagation \"{prop}\"");
        if (linux.Personality is { } pers && !LinuxNames.PersonalityDomains.ContainsKey(pers.Domain))
            errors.Add("$.linux.personality.domain", $"unknown domain \"{pers.Domain}\" (LINUX or LINUX32)");
        if (linux.TimeOffsets is { Count: > 0 } offsets)
        {
            if (!namespaces.Contains("time"))
                errors.Add("$.linux.timeOffsets", "time offsets need a time namespace in $.linux.namespaces");
            foreach (var key in offsets.Keys)
                if (key is not ("monotonic" or "boottime"))
                    errors.Add(JsonMapper.Child("$.linux.timeOffsets", key), "unknown clock (monotonic or boottime)");
        }
        if (linux.Sysctl is { } sysctl)
            foreach (var (key, _) in sysctl)
                if (SysctlProblem(key, namespaces) is { } problem)
                    errors.Add(JsonMapper.Child("$.linux.sysctl", key), problem);
        if (linux.Devices is { } devices)
            for (int i = 0; i < devices.Count; i++)
            {
                var d = devices[i];
                if (d.Type is not ("c" or "b" or "u" or "p"))
                    errors.Add($"$.linux.devices[{i}].type", $"unknown device type \"{d.Type}\" (c, b, u or p)");
                if (string.IsNullOrEmpty(d.Path) || d.Path[0] != '/')
                    errors.Add($"$.linux.devices[{i}].path", $"must be an absolute path, not \"{d.Path}\"");
                if (d.Major < 0 || d.Minor < 0)
                    errors.Add($"$.linux.devices[{i}]", "major and minor must not be negative");
            }
        if (linux.Resources is { } r) ValidateResources(r, "$.linux.resources", errors);
        if (linux.IntelRdt is { } rdt && (rdt.ClosID ?? rdt.L3CacheSchema ?? rdt.MemBwSchema) is not null)
            errors.Add("$.linux.intelRdt", "Intel RDT (resctrl) is not supported by runhcs");
    }

    private static void CheckMappings(List<IdMapping>? maps, string path, DocumentErrors errors)
    {
        if (maps is null) return;
        for (int i = 0; i < maps.Count; i++)
            if (maps[i].Size == 0) errors.Add($"{path}[{i}].size", "must be at least 1");
    }

    /// <summary>A sysctl may only be set if it belongs to a namespace the container has its own
    /// copy of; anything else would change the host.</summary>
    public static string? SysctlProblem(string key, HashSet<string> namespaces)
    {
        string k = key.Replace('/', '.');
        if (k.Contains("..") || k.StartsWith('.') || k.EndsWith('.'))
            return "invalid sysctl name";
        string[] ipcKeys = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                            "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
        if (Array.IndexOf(ipcKeys, k) >= 0 || k.StartsWith("fs.mqueue.", StringComparison.Ordinal))
            return namespaces.Contains("ipc") ? null : "needs a new ipc namespace";
        if (k.StartsWith("net.", StringComparison.Ordinal))
            return namespaces.Contains("network") ? null : "needs a new network namespace";
        if (k is "kernel.hostname" or "kernel.domainname")
            return namespaces.Contains("uts") ? null : "needs a new uts namespace";
        return "not namespaced: it would change the host";
    }

    public static void ValidateResources(Resources r, string path, DocumentErrors errors)
    {
        if (r.Memory is { } m)
        {
            CheckLimit(m.Limit, $"{path}.memory.limit");
            CheckLimit(m.Reservation, $"{path}.memory.reservation");
            CheckLimit(m.Swap, $"{path}.memory.swap");
            if (m.Limit is > 0 && m.Swap is > 0 && m.Swap < m.Limit)
                errors.Add($"{path}.memory.swap", $"memory+swap ({m.Swap}) must not be below the memory limit ({m.Limit})");
            if (m.Swappiness is > 100)
                errors.Add($"{path}.memory.swappiness", $"must be between 0 and 100, not {m.Swappiness}");
        }
        if (r.Cpu is { } c)
        {
            if (c.Quota is < -1 or 0) errors.Add($"{path}.cpu.quota", $"must be positive or -1, not {c.Quota}");
            if (c.Period is 0) errors.Add($"{path}.cpu.period", "must be positive");
            if (c.Shares is 1) errors.Add($"{path}.cpu.shares", "must be at least 2");
            if (c.Cpus is { Length: > 0 } cpus && !IsCpuList(cpus)) errors.Add($"{path}.cpu.cpus", $"not a cpu list: \"{cpus}\"");
            if (c.Mems is { Length: > 0 } mems && !IsCpuList(mems)) errors.Add($"{path}.cpu.mems", $"not a node list: \"{mems}\"");
        }
        if (r.Pids is { Limit: < -1 } pids) errors.Add($"{path}.pids.limit", $"must be positive, 0 or -1 (unlimited), not {pids.Limit}");
        if (r.Devices is { } devices)
            for (int i = 0; i < devices.Count; i++)
            {
                var d = devices[i];
                if (d.Type is not (null or "a" or "c" or "b"))
                    errors.Add($"{path}.devices[{i}].type", $"unknown type \"{d.Type}\" (a, c or b)");
                if (d.Access is { } acc && (acc.Length == 0 || acc.Any(ch => ch is not ('r' or 'w' or 'm'))))
                    errors.Add($"{path}.devices[{i}].access", $"must be made of r, w and m, not \"{acc}\"");
            }
        if (r.HugepageLimits is { } huge)
            for (int i = 0; i < huge.Count; i++)
                if (!IsPageSize(huge[i].PageSize))
                    errors.Add($"{path}.hugepageLimits[{i}].pageSize", $"not a page size like \"2MB\": \"{huge[i].PageSize}\"");
        if (r.BlockIO?.Weight is { } w && (w < 10 || w > 1000))
            errors.Add($"{path}.blockIO.weight", $"must be between 10 and 1000, not {w}");

        void CheckLimit(long? value, string p)
        {
            if (value is < -1 or 0) errors.Add(p, $"must be positive or -1 (unlimited), not {value}");
        }
    }

    private static bool AppArmorEnabled()
    {
        try { return File.ReadAllText("/sys/module/apparmor/parameters/enabled").Trim() == "Y"; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private static bool IsCpuList(string s)
    {
        foreach (var part in s.Split(','))
        {
            var range = part.Split('-');
            if (range.Length > 2 || range.Any(x => !uint.TryParse(x.Trim(), out _))) return false;
        }
        return true;
    }

    private static bool IsPageSize(string s) =>
        s.Length >= 3 && (s.EndsWith("KB", StringComparison.Ordinal) || s.EndsWith("MB", StringComparison.Ordinal) ||
                          s.EndsWith("GB", StringComparison.Ordinal)) && uint.TryParse(s[..^2], out _);
}
