using System.Text.Json;

namespace Hcs.Schema.Oci;

/// <summary>
/// Maps OCI JSON onto the <see cref="Spec"/> types (see <see cref="JsonMapper"/> for why this
/// is not the serializer). Unknown properties are ignored, as the runtime spec requires; a
/// value of the wrong type is an error at its exact path, and all such errors are reported.
/// </summary>
public sealed class OciReader(JsonMapper m)
{
    public static Spec ReadSpec(ReadOnlyMemory<byte> utf8, string source) =>
        Read(utf8, source, (r, e) => r.Spec(e, "$"));

    public static Process ReadProcess(ReadOnlyMemory<byte> utf8, string source) =>
        Read(utf8, source, (r, e) => r.Process(e, "$"));

    public static Resources ReadResources(ReadOnlyMemory<byte> utf8, string source) =>
        Read(utf8, source, (r, e) => r.Resources(e, "$"));

    private static T Read<T>(ReadOnlyMemory<byte> utf8, string source, Func<OciReader, JsonElement, T?> read) where T : class
    {
        using var doc = JsonMapper.Parse(utf8, source);
        var errors = new DocumentErrors();
        var mapper = new JsonMapper(errors);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new DocumentException(source, [new DocumentError("$", "expected a JSON object")]);
        var result = read(new OciReader(mapper), doc.RootElement);
        errors.ThrowIfAny(source);
        return result!;
    }

    public Spec? Spec(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new Spec();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "ociVersion": s.OciVersion = m.Str(p.Value, at); break;
                case "process": s.Process = Process(p.Value, at); break;
                case "root": s.Root = Root(p.Value, at); break;
                case "hostname": s.Hostname = m.Str(p.Value, at); break;
                case "domainname": s.Domainname = m.Str(p.Value, at); break;
                case "mounts": s.Mounts = m.List(p.Value, at, (x, q) => Mount(x, q)!); break;
                case "hooks": s.Hooks = Hooks(p.Value, at); break;
                case "annotations": s.Annotations = m.StrMap(p.Value, at); break;
                case "linux": s.Linux = Linux(p.Value, at); break;
            }
        }
        return s;
    }

    private Root? Root(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Root();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "path": r.Path = m.Str(p.Value, at); break;
                case "readonly": r.Readonly = m.Bool(p.Value, at); break;
            }
        }
        return r;
    }

    public Process? Process(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Process();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "terminal": r.Terminal = m.Bool(v, at); break;
                case "consoleSize":
                    if (m.IsObject(v, at))
                    {
                        r.ConsoleSize = new Box();
                        foreach (var q in v.EnumerateObject())
                        {
                            if (q.Name == "height") r.ConsoleSize.Height = m.UInt32(q.Value, $"{at}.height") ?? 0;
                            else if (q.Name == "width") r.ConsoleSize.Width = m.UInt32(q.Value, $"{at}.width") ?? 0;
                        }
                    }
                    break;
                case "user": r.User = User(v, at); break;
                case "args": r.Args = m.StrList(v, at); break;
                case "commandLine": r.CommandLine = m.Str(v, at); break;
                case "env": r.Env = m.StrList(v, at); break;
                case "cwd": r.Cwd = m.Str(v, at); break;
                case "capabilities": r.Capabilities = Capabilities(v, at); break;
                case "rlimits": r.Rlimits = m.List(v, at, (x, q) => Rlimit(x, q)!); break;
                case "noNewPrivileges": r.NoNewPrivileges = m.Bool(v, at); break;
                case "apparmorProfile": r.ApparmorProfile = m.Str(v, at); break;
                case "oomScoreAdj": r.OomScoreAdj = m.Int32(v, at); break;
                case "selinuxLabel": r.SelinuxLabel = m.Str(v, at); break;
                case "ioPriority":
                    if (m.IsObject(v, at))
                    {
                        r.IoPriority = new IoPriority();
                        foreach (var q in v.EnumerateObject())
                        {
                            if (q.Name == "class") r.IoPriority.Class = m.Str(q.Value, $"{at}.class") ?? "";
                            else if (q.Name == "priority") r.IoPriority.Priority = m.Int32(q.Value, $"{at}.priority") ?? 0;
                        }
                    }
                    break;
                case "scheduler": r.Scheduler = Scheduler(v, at); break;
                case "execCPUAffinity":
                    if (m.IsObject(v, at))
                    {
                        r.ExecCpuAffinity = new CpuAffinity();
                        foreach (var q in v.EnumerateObject())
                        {
                            if (q.Name == "initial") r.ExecCpuAffinity.Initial = m.Str(q.Value, $"{at}.initial");
                            else if (q.Name == "final") r.ExecCpuAffinity.Final = m.Str(q.Value, $"{at}.final");
                        }
                    }
                    break;
            }
        }
        return r;
    }

    private User? User(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var u = new User();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "uid": u.Uid = m.UInt32(p.Value, at) ?? 0; break;
                case "gid": u.Gid = m.UInt32(p.Value, at) ?? 0; break;
                case "umask": u.Umask = m.UInt32(p.Value, at); break;
                case "additionalGids": u.AdditionalGids = m.List(p.Value, at, (x, q) => m.UInt32(x, q) ?? 0); break;
                case "username": u.Username = m.Str(p.Value, at); break;
            }
        }
        return u;
    }

    private Capabilities? Capabilities(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var c = new Capabilities();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "bounding": c.Bounding = m.StrList(p.Value, at); break;
                case "effective": c.Effective = m.StrList(p.Value, at); break;
                case "inheritable": c.Inheritable = m.StrList(p.Value, at); break;
                case "permitted": c.Permitted = m.StrList(p.Value, at); break;
                case "ambient": c.Ambient = m.StrList(p.Value, at); break;
            }
        }
        return c;
    }

    private Rlimit? Rlimit(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Rlimit();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "type": r.Type = m.Str(p.Value, at) ?? ""; break;
                case "hard": r.Hard = m.UInt64(p.Value, at) ?? 0; break;
                case "soft": r.Soft = m.UInt64(p.Value, at) ?? 0; break;
            }
        }
        return r;
    }

    private Scheduler? Scheduler(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new Scheduler();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "policy": s.Policy = m.Str(p.Value, at) ?? ""; break;
                case "nice": s.Nice = m.Int32(p.Value, at); break;
                case "priority": s.Priority = m.Int32(p.Value, at); break;
                case "flags": s.Flags = m.StrList(p.Value, at); break;
                case "runtime": s.Runtime = m.UInt64(p.Value, at); break;
                case "deadline": s.Deadline = m.UInt64(p.Value, at); break;
                case "period": s.Period = m.UInt64(p.Value, at); break;
            }
        }
        return s;
    }

    private Mount? Mount(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Mount();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "destination": r.Destination = m.Str(p.Value, at) ?? ""; break;
                case "type": r.Type = m.Str(p.Value, at); break;
                case "source": r.Source = m.Str(p.Value, at); break;
                case "options": r.Options = m.StrList(p.Value, at); break;
                case "uidMappings": r.UidMappings = m.List(p.Value, at, (x, q) => IdMapping(x, q)!); break;
                case "gidMappings": r.GidMappings = m.List(p.Value, at, (x, q) => IdMapping(x, q)!); break;
            }
        }
        return r;
    }

    private Hooks? Hooks(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var h = new Hooks();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "prestart": h.Prestart = HookList(p.Value, at); break;
                case "createRuntime": h.CreateRuntime = HookList(p.Value, at); break;
                case "createContainer": h.CreateContainer = HookList(p.Value, at); break;
                case "startContainer": h.StartContainer = HookList(p.Value, at); break;
                case "poststart": h.Poststart = HookList(p.Value, at); break;
                case "poststop": h.Poststop = HookList(p.Value, at); break;
            }
        }
        return h;
    }

    private List<Hook>? HookList(JsonElement e, string path) => m.List(e, path, (x, q) => Hook(x, q)!);

    private Hook? Hook(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var h = new Hook();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "path": h.Path = m.Str(p.Value, at) ?? ""; break;
                case "args": h.Args = m.StrList(p.Value, at); break;
                case "env": h.Env = m.StrList(p.Value, at); break;
                case "timeout": h.Timeout = m.Int32(p.Value, at); break;
            }
        }
        return h;
    }

    private Linux? Linux(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var l = new Linux();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "uidMappings": l.UidMappings = m.List(v, at, (x, q) => IdMapping(x, q)!); break;
                case "gidMappings": l.GidMappings = m.List(v, at, (x, q) => IdMapping(x, q)!); break;
                case "sysctl": l.Sysctl = m.StrMap(v, at); break;
                case "resources": l.Resources = Resources(v, at); break;
                case "cgroupsPath": l.CgroupsPath = m.Str(v, at); break;
                case "namespaces": l.Namespaces = m.List(v, at, (x, q) => Namespace(x, q)!); break;
                case "devices": l.Devices = m.List(v, at, (x, q) => Device(x, q)!); break;
                case "seccomp": l.Seccomp = Seccomp(v, at); break;
                case "rootfsPropagation": l.RootfsPropagation = m.Str(v, at); break;
                case "maskedPaths": l.MaskedPaths = m.StrList(v, at); break;
                case "readonlyPaths": l.ReadonlyPaths = m.StrList(v, at); break;
                case "mountLabel": l.MountLabel = m.Str(v, at); break;
                case "intelRdt":
                    if (m.IsObject(v, at))
                    {
                        l.IntelRdt = new IntelRdt();
                        foreach (var q in v.EnumerateObject())
                        {
                            var a = $"{at}.{q.Name}";
                            if (q.Name == "closID") l.IntelRdt.ClosID = m.Str(q.Value, a);
                            else if (q.Name == "l3CacheSchema") l.IntelRdt.L3CacheSchema = m.Str(q.Value, a);
                            else if (q.Name == "memBwSchema") l.IntelRdt.MemBwSchema = m.Str(q.Value, a);
                        }
                    }
                    break;
                case "personality":
                    if (m.IsObject(v, at))
                    {
                        l.Personality = new Personality();
                        foreach (var q in v.EnumerateObject())
                        {
                            if (q.Name == "domain") l.Personality.Domain = m.Str(q.Value, $"{at}.domain") ?? "";
                            else if (q.Name == "flags") l.Personality.Flags = m.StrList(q.Value, $"{at}.flags");
                        }
                    }
                    break;
                case "timeOffsets":
                    l.TimeOffsets = m.Map(v, at, (x, q) =>
                    {
                        var o = new TimeOffset();
                        if (!m.IsObject(x, q)) return o;
                        foreach (var f in x.EnumerateObject())
                        {
                            if (f.Name == "secs") o.Secs = m.Int64(f.Value, $"{q}.secs") ?? 0;
                            else if (f.Name == "nanosecs") o.Nanosecs = m.UInt32(f.Value, $"{q}.nanosecs") ?? 0;
                        }
                        return o;
                    });
                    break;
            }
        }
        return l;
    }

    private IdMapping? IdMapping(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new IdMapping();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "containerID": r.ContainerId = m.UInt32(p.Value, at) ?? 0; break;
                case "hostID": r.HostId = m.UInt32(p.Value, at) ?? 0; break;
                case "size": r.Size = m.UInt32(p.Value, at) ?? 0; break;
            }
        }
        return r;
    }

    private Namespace? Namespace(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Namespace();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            if (p.Name == "type") r.Type = m.Str(p.Value, at) ?? "";
            else if (p.Name == "path") r.Path = m.Str(p.Value, at);
        }
        return r;
    }

    private Device? Device(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var d = new Device();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "type": d.Type = m.Str(p.Value, at) ?? ""; break;
                case "path": d.Path = m.Str(p.Value, at) ?? ""; break;
                case "major": d.Major = m.Int64(p.Value, at) ?? 0; break;
                case "minor": d.Minor = m.Int64(p.Value, at) ?? 0; break;
                case "fileMode": d.FileMode = m.UInt32(p.Value, at); break;
                case "uid": d.Uid = m.UInt32(p.Value, at); break;
                case "gid": d.Gid = m.UInt32(p.Value, at); break;
            }
        }
        return d;
    }

    public Resources? Resources(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Resources();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "devices": r.Devices = m.List(v, at, (x, q) => DeviceCgroup(x, q)!); break;
                case "memory": r.Memory = Memory(v, at); break;
                case "cpu": r.Cpu = Cpu(v, at); break;
                case "pids":
                    if (m.IsObject(v, at))
                    {
                        r.Pids = new Pids();
                        foreach (var q in v.EnumerateObject())
                            if (q.Name == "limit") r.Pids.Limit = m.Int64(q.Value, $"{at}.limit") ?? 0;
                    }
                    break;
                case "blockIO": r.BlockIO = BlockIo(v, at); break;
                case "hugepageLimits":
                    r.HugepageLimits = m.List(v, at, (x, q) =>
                    {
                        var h = new HugepageLimit();
                        if (!m.IsObject(x, q)) return h;
                        foreach (var f in x.EnumerateObject())
                        {
                            if (f.Name == "pageSize") h.PageSize = m.Str(f.Value, $"{q}.pageSize") ?? "";
                            else if (f.Name == "limit") h.Limit = m.UInt64(f.Value, $"{q}.limit") ?? 0;
                        }
                        return h;
                    });
                    break;
                case "network":
                    if (m.IsObject(v, at))
                    {
                        r.Network = new Network();
                        foreach (var q in v.EnumerateObject())
                        {
                            var a = $"{at}.{q.Name}";
                            if (q.Name == "classID") r.Network.ClassId = m.UInt32(q.Value, a);
                            else if (q.Name == "priorities")
                                r.Network.Priorities = m.List(q.Value, a, (x, qq) =>
                                {
                                    var ip = new InterfacePriority();
                                    if (!m.IsObject(x, qq)) return ip;
                                    foreach (var f in x.EnumerateObject())
                                    {
                                        if (f.Name == "name") ip.Name = m.Str(f.Value, $"{qq}.name") ?? "";
                                        else if (f.Name == "priority") ip.Priority = m.UInt32(f.Value, $"{qq}.priority") ?? 0;
                                    }
                                    return ip;
                                });
                        }
                    }
                    break;
                case "rdma":
                    r.Rdma = m.Map(v, at, (x, q) =>
                    {
                        var l = new RdmaLimit();
                        if (!m.IsObject(x, q)) return l;
                        foreach (var f in x.EnumerateObject())
                        {
                            if (f.Name == "hcaHandles") l.HcaHandles = m.UInt32(f.Value, $"{q}.hcaHandles");
                            else if (f.Name == "hcaObjects") l.HcaObjects = m.UInt32(f.Value, $"{q}.hcaObjects");
                        }
                        return l;
                    });
                    break;
                case "unified": r.Unified = m.StrMap(v, at); break;
            }
        }
        return r;
    }

    private DeviceCgroup? DeviceCgroup(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var d = new DeviceCgroup();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "allow": d.Allow = m.Bool(p.Value, at); break;
                case "type": d.Type = m.Str(p.Value, at); break;
                case "major": d.Major = m.Int64(p.Value, at); break;
                case "minor": d.Minor = m.Int64(p.Value, at); break;
                case "access": d.Access = m.Str(p.Value, at); break;
            }
        }
        return d;
    }

    private Memory? Memory(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Memory();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "limit": r.Limit = m.Int64(p.Value, at); break;
                case "reservation": r.Reservation = m.Int64(p.Value, at); break;
                case "swap": r.Swap = m.Int64(p.Value, at); break;
                case "kernel": r.Kernel = m.Int64(p.Value, at); break;
                case "kernelTCP": r.KernelTcp = m.Int64(p.Value, at); break;
                case "swappiness": r.Swappiness = m.UInt64(p.Value, at); break;
                case "disableOOMKiller": r.DisableOomKiller = m.BoolOpt(p.Value, at); break;
                case "useHierarchy": r.UseHierarchy = m.BoolOpt(p.Value, at); break;
                case "checkBeforeUpdate": r.CheckBeforeUpdate = m.BoolOpt(p.Value, at); break;
            }
        }
        return r;
    }

    private Cpu? Cpu(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Cpu();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "shares": r.Shares = m.UInt64(p.Value, at); break;
                case "quota": r.Quota = m.Int64(p.Value, at); break;
                case "burst": r.Burst = m.UInt64(p.Value, at); break;
                case "period": r.Period = m.UInt64(p.Value, at); break;
                case "realtimeRuntime": r.RealtimeRuntime = m.Int64(p.Value, at); break;
                case "realtimePeriod": r.RealtimePeriod = m.UInt64(p.Value, at); break;
                case "cpus": r.Cpus = m.Str(p.Value, at); break;
                case "mems": r.Mems = m.Str(p.Value, at); break;
                case "idle": r.Idle = m.Int64(p.Value, at); break;
            }
        }
        return r;
    }

    private BlockIo? BlockIo(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var b = new BlockIo();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "weight": b.Weight = m.UInt16(v, at); break;
                case "leafWeight": b.LeafWeight = m.UInt16(v, at); break;
                case "weightDevice":
                    b.WeightDevice = m.List(v, at, (x, q) =>
                    {
                        var w = new WeightDevice();
                        if (!m.IsObject(x, q)) return w;
                        foreach (var f in x.EnumerateObject())
                        {
                            var a = $"{q}.{f.Name}";
                            switch (f.Name)
                            {
                                case "major": w.Major = m.Int64(f.Value, a) ?? 0; break;
                                case "minor": w.Minor = m.Int64(f.Value, a) ?? 0; break;
                                case "weight": w.Weight = m.UInt16(f.Value, a); break;
                                case "leafWeight": w.LeafWeight = m.UInt16(f.Value, a); break;
                            }
                        }
                        return w;
                    });
                    break;
                case "throttleReadBpsDevice": b.ThrottleReadBpsDevice = Throttle(v, at); break;
                case "throttleWriteBpsDevice": b.ThrottleWriteBpsDevice = Throttle(v, at); break;
                case "throttleReadIOPSDevice": b.ThrottleReadIopsDevice = Throttle(v, at); break;
                case "throttleWriteIOPSDevice": b.ThrottleWriteIopsDevice = Throttle(v, at); break;
            }
        }
        return b;
    }

    private List<ThrottleDevice>? Throttle(JsonElement e, string path) => m.List(e, path, (x, q) =>
    {
        var t = new ThrottleDevice();
        if (!m.IsObject(x, q)) return t;
        foreach (var f in x.EnumerateObject())
        {
            var a = $"{q}.{f.Name}";
            switch (f.Name)
            {
                case "major": t.Major = m.Int64(f.Value, a) ?? 0; break;
                case "minor": t.Minor = m.Int64(f.Value, a) ?? 0; break;
                case "rate": t.Rate = m.UInt64(f.Value, a) ?? 0; break;
            }
        }
        return t;
    });

    private Seccomp? Seccomp(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new Seccomp();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "defaultAction": s.DefaultAction = m.Str(p.Value, at) ?? ""; break;
                case "defaultErrnoRet": s.DefaultErrnoRet = m.UInt32(p.Value, at); break;
                case "architectures": s.Architectures = m.StrList(p.Value, at); break;
                case "flags": s.Flags = m.StrList(p.Value, at); break;
                case "listenerPath": s.ListenerPath = m.Str(p.Value, at); break;
                case "listenerMetadata": s.ListenerMetadata = m.Str(p.Value, at); break;
                case "syscalls": s.Syscalls = m.List(p.Value, at, (x, q) => SyscallRule(x, q)!); break;
            }
        }
        return s;
    }

    private SyscallRule? SyscallRule(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new SyscallRule();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "names": r.Names = m.StrList(p.Value, at) ?? []; break;
                case "action": r.Action = m.Str(p.Value, at) ?? ""; break;
                case "errnoRet": r.ErrnoRet = m.UInt32(p.Value, at); break;
                case "args":
                    r.Args = m.List(p.Value, at, (x, q) =>
                    {
                        var a = new SyscallArg();
                        if (!m.IsObject(x, q)) return a;
                        foreach (var f in x.EnumerateObject())
                        {
                            var fa = $"{q}.{f.Name}";
                            switch (f.Name)
                            {
                                case "index": a.Index = m.UInt32(f.Value, fa) ?? 0; break;
                                case "value": a.Value = m.UInt64(f.Value, fa) ?? 0; break;
                                case "valueTwo": a.ValueTwo = m.UInt64(f.Value, fa) ?? 0; break;
                                case "op": a.Op = m.Str(f.Value, fa) ?? ""; break;
                            }
                        }
                        return a;
                    });
                    break;
            }
        }
        return r;
    }
}
