using System.Text.Json;

namespace Hcs.Schema.Oci;

/// <summary>
/// Writes the OCI types with a <see cref="Utf8JsonWriter"/>, the mirror of <see cref="OciReader"/>.
/// By hand for the same reason (see <see cref="JsonMapper"/>), and because the serializer's
/// generated metadata for this graph is about a megabyte of code in every NativeAOT binary
/// that references it: runhcs must stay under 5 MiB of memory. Null members are omitted;
/// property order follows the spec. The unit tests compare it with the serializer's output.
/// </summary>
public static class OciWriter
{
    public static byte[] ToUtf8(Spec spec, bool indented = false)
    {
        using var ms = new MemoryStream(4096);
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
            Write(w, spec);
        return ms.ToArray();
    }

    public static void Write(Utf8JsonWriter w, Spec s)
    {
        w.WriteStartObject();
        Str(w, "ociVersion", s.OciVersion);
        if (s.Process is { } p) { w.WritePropertyName("process"); Write(w, p); }
        if (s.Root is { } root)
        {
            w.WriteStartObject("root");
            Str(w, "path", root.Path);
            w.WriteBoolean("readonly", root.Readonly);
            w.WriteEndObject();
        }
        Str(w, "hostname", s.Hostname);
        Str(w, "domainname", s.Domainname);
        List(w, "mounts", s.Mounts, Write);
        if (s.Hooks is { } h)
        {
            w.WriteStartObject("hooks");
            List(w, "prestart", h.Prestart, Write);
            List(w, "createRuntime", h.CreateRuntime, Write);
            List(w, "createContainer", h.CreateContainer, Write);
            List(w, "startContainer", h.StartContainer, Write);
            List(w, "poststart", h.Poststart, Write);
            List(w, "poststop", h.Poststop, Write);
            w.WriteEndObject();
        }
        Map(w, "annotations", s.Annotations);
        if (s.Linux is { } l) { w.WritePropertyName("linux"); Write(w, l); }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, Process p)
    {
        w.WriteStartObject();
        w.WriteBoolean("terminal", p.Terminal);
        if (p.ConsoleSize is { } box)
        {
            w.WriteStartObject("consoleSize");
            w.WriteNumber("height", box.Height);
            w.WriteNumber("width", box.Width);
            w.WriteEndObject();
        }
        if (p.User is { } u)
        {
            w.WriteStartObject("user");
            w.WriteNumber("uid", u.Uid);
            w.WriteNumber("gid", u.Gid);
            if (u.Umask is { } umask) w.WriteNumber("umask", umask);
            List(w, "additionalGids", u.AdditionalGids, (ww, g) => ww.WriteNumberValue(g));
            Str(w, "username", u.Username);
            w.WriteEndObject();
        }
        Strings(w, "args", p.Args);
        Str(w, "commandLine", p.CommandLine);
        Strings(w, "env", p.Env);
        Str(w, "cwd", p.Cwd);
        if (p.Capabilities is { } c)
        {
            w.WriteStartObject("capabilities");
            Strings(w, "bounding", c.Bounding);
            Strings(w, "effective", c.Effective);
            Strings(w, "inheritable", c.Inheritable);
            Strings(w, "permitted", c.Permitted);
            Strings(w, "ambient", c.Ambient);
            w.WriteEndObject();
        }
        List(w, "rlimits", p.Rlimits, (ww, r) =>
        {
            ww.WriteStartObject();
            ww.WriteString("type", r.Type);
            ww.WriteNumber("hard", r.Hard);
            ww.WriteNumber("soft", r.Soft);
            ww.WriteEndObject();
        });
        w.WriteBoolean("noNewPrivileges", p.NoNewPrivileges);
        Str(w, "apparmorProfile", p.ApparmorProfile);
        if (p.OomScoreAdj is { } oom) w.WriteNumber("oomScoreAdj", oom);
        Str(w, "selinuxLabel", p.SelinuxLabel);
        if (p.IoPriority is { } io)
        {
            w.WriteStartObject("ioPriority");
            w.WriteString("class", io.Class);
            w.WriteNumber("priority", io.Priority);
            w.WriteEndObject();
        }
        if (p.Scheduler is { } sch)
        {
            w.WriteStartObject("scheduler");
            w.WriteString("policy", sch.Policy);
            Num(w, "nice", sch.Nice);
            Num(w, "priority", sch.Priority);
            Strings(w, "flags", sch.Flags);
            Num(w, "runtime", sch.Runtime);
            Num(w, "deadline", sch.Deadline);
            Num(w, "period", sch.Period);
            w.WriteEndObject();
        }
        if (p.ExecCpuAffinity is { } aff)
        {
            w.WriteStartObject("execCPUAffinity");
            Str(w, "initial", aff.Initial);
            Str(w, "final", aff.Final);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, Mount m)
    {
        w.WriteStartObject();
        w.WriteString("destination", m.Destination);
        Str(w, "type", m.Type);
        Str(w, "source", m.Source);
        Strings(w, "options", m.Options);
        List(w, "uidMappings", m.UidMappings, Write);
        List(w, "gidMappings", m.GidMappings, Write);
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, Hook h)
    {
        w.WriteStartObject();
        w.WriteString("path", h.Path);
        Strings(w, "args", h.Args);
        Strings(w, "env", h.Env);
        Num(w, "timeout", h.Timeout);
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, IdMapping m)
    {
        w.WriteStartObject();
        w.WriteNumber("containerID", m.ContainerId);
        w.WriteNumber("hostID", m.HostId);
        w.WriteNumber("size", m.Size);
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, Linux l)
    {
        w.WriteStartObject();
        List(w, "uidMappings", l.UidMappings, Write);
        List(w, "gidMappings", l.GidMappings, Write);
        Map(w, "sysctl", l.Sysctl);
        if (l.Resources is { } r) { w.WritePropertyName("resources"); Write(w, r); }
        Str(w, "cgroupsPath", l.CgroupsPath);
        List(w, "namespaces", l.Namespaces, (ww, n) =>
        {
            ww.WriteStartObject();
            ww.WriteString("type", n.Type);
            Str(ww, "path", n.Path);
            ww.WriteEndObject();
        });
        List(w, "devices", l.Devices, (ww, d) =>
        {
            ww.WriteStartObject();
            ww.WriteString("type", d.Type);
            ww.WriteString("path", d.Path);
            ww.WriteNumber("major", d.Major);
            ww.WriteNumber("minor", d.Minor);
            Num(ww, "fileMode", d.FileMode);
            Num(ww, "uid", d.Uid);
            Num(ww, "gid", d.Gid);
            ww.WriteEndObject();
        });
        if (l.Seccomp is { } sc) { w.WritePropertyName("seccomp"); Write(w, sc); }
        Str(w, "rootfsPropagation", l.RootfsPropagation);
        Strings(w, "maskedPaths", l.MaskedPaths);
        Strings(w, "readonlyPaths", l.ReadonlyPaths);
        Str(w, "mountLabel", l.MountLabel);
        if (l.IntelRdt is { } rdt)
        {
            w.WriteStartObject("intelRdt");
            Str(w, "closID", rdt.ClosID);
            Str(w, "l3CacheSchema", rdt.L3CacheSchema);
            Str(w, "memBwSchema", rdt.MemBwSchema);
            w.WriteEndObject();
        }
        if (l.Personality is { } pers)
        {
            w.WriteStartObject("personality");
            w.WriteString("domain", pers.Domain);
            Strings(w, "flags", pers.Flags);
            w.WriteEndObject();
        }
        if (l.TimeOffsets is { } offsets)
        {
            w.WriteStartObject("timeOffsets");
            foreach (var (clock, o) in offsets)
            {
                w.WriteStartObject(clock);
                w.WriteNumber("secs", o.Secs);
                w.WriteNumber("nanosecs", o.Nanosecs);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, Resources r)
    {
        w.WriteStartObject();
        List(w, "devices", r.Devices, (ww, d) =>
        {
            ww.WriteStartObject();
            ww.WriteBoolean("allow", d.Allow);
            Str(ww, "type", d.Type);
            Num(ww, "major", d.Major);
            Num(ww, "minor", d.Minor);
            Str(ww, "access", d.Access);
            ww.WriteEndObject();
        });
        if (r.Memory is { } m)
        {
            w.WriteStartObject("memory");
            Num(w, "limit", m.Limit);
            Num(w, "reservation", m.Reservation);
            Num(w, "swap", m.Swap);
            Num(w, "kernel", m.Kernel);
            Num(w, "kernelTCP", m.KernelTcp);
            Num(w, "swappiness", m.Swappiness);
            Bool(w, "disableOOMKiller", m.DisableOomKiller);
            Bool(w, "useHierarchy", m.UseHierarchy);
            Bool(w, "checkBeforeUpdate", m.CheckBeforeUpdate);
            w.WriteEndObject();
        }
        if (r.Cpu is { } c)
        {
            w.WriteStartObject("cpu");
            Num(w, "shares", c.Shares);
            Num(w, "quota", c.Quota);
            Num(w, "burst", c.Burst);
            Num(w, "period", c.Period);
            Num(w, "realtimeRuntime", c.RealtimeRuntime);
            Num(w, "realtimePeriod", c.RealtimePeriod);
            Str(w, "cpus", c.Cpus);
            Str(w, "mems", c.Mems);
            Num(w, "idle", c.Idle);
            w.WriteEndObject();
        }
        if (r.Pids is { } pids)
        {
            w.WriteStartObject("pids");
            w.WriteNumber("limit", pids.Limit);
            w.WriteEndObject();
        }
        if (r.BlockIO is { } b)
        {
            w.WriteStartObject("blockIO");
            Num(w, "weight", b.Weight);
            Num(w, "leafWeight", b.LeafWeight);
            List(w, "weightDevice", b.WeightDevice, (ww, d) =>
            {
                ww.WriteStartObject();
                ww.WriteNumber("major", d.Major);
                ww.WriteNumber("minor", d.Minor);
                Num(ww, "weight", d.Weight);
                Num(ww, "leafWeight", d.LeafWeight);
                ww.WriteEndObject();
            });
            List(w, "throttleReadBpsDevice", b.ThrottleReadBpsDevice, Write);
            List(w, "throttleWriteBpsDevice", b.ThrottleWriteBpsDevice, Write);
            List(w, "throttleReadIOPSDevice", b.ThrottleReadIopsDevice, Write);
            List(w, "throttleWriteIOPSDevice", b.ThrottleWriteIopsDevice, Write);
            w.WriteEndObject();
        }
        List(w, "hugepageLimits", r.HugepageLimits, (ww, h) =>
        {
            ww.WriteStartObject();
            ww.WriteString("pageSize", h.PageSize);
            ww.WriteNumber("limit", h.Limit);
            ww.WriteEndObject();
        });
        if (r.Network is { } n)
        {
            w.WriteStartObject("network");
            Num(w, "classID", n.ClassId);
            List(w, "priorities", n.Priorities, (ww, ip) =>
            {
                ww.WriteStartObject();
                ww.WriteString("name", ip.Name);
                ww.WriteNumber("priority", ip.Priority);
                ww.WriteEndObject();
            });
            w.WriteEndObject();
        }
        if (r.Rdma is { } rdma)
        {
            w.WriteStartObject("rdma");
            foreach (var (dev, lim) in rdma)
            {
                w.WriteStartObject(dev);
                Num(w, "hcaHandles", lim.HcaHandles);
                Num(w, "hcaObjects", lim.HcaObjects);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        Map(w, "unified", r.Unified);
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, ThrottleDevice t)
    {
        w.WriteStartObject();
        w.WriteNumber("major", t.Major);
        w.WriteNumber("minor", t.Minor);
        w.WriteNumber("rate", t.Rate);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, Seccomp s)
    {
        w.WriteStartObject();
        w.WriteString("defaultAction", s.DefaultAction);
        Num(w, "defaultErrnoRet", s.DefaultErrnoRet);
        Strings(w, "architectures", s.Architectures);
        Strings(w, "flags", s.Flags);
        Str(w, "listenerPath", s.ListenerPath);
        Str(w, "listenerMetadata", s.ListenerMetadata);
        List(w, "syscalls", s.Syscalls, (ww, r) =>
        {
            ww.WriteStartObject();
            Strings(ww, "names", r.Names);
            ww.WriteString("action", r.Action);
            Num(ww, "errnoRet", r.ErrnoRet);
            List(ww, "args", r.Args, (www, a) =>
            {
                www.WriteStartObject();
                www.WriteNumber("index", a.Index);
                www.WriteNumber("value", a.Value);
                www.WriteNumber("valueTwo", a.ValueTwo);
                www.WriteString("op", a.Op);
                www.WriteEndObject();
            });
            ww.WriteEndObject();
        });
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, State s)
    {
        w.WriteStartObject();
        w.WriteString("ociVersion", s.OciVersion);
        w.WriteString("id", s.Id);
        w.WriteString("status", s.Status);
        w.WriteNumber("pid", s.Pid);
        w.WriteString("bundle", s.Bundle);
        Map(w, "annotations", s.Annotations);
        w.WriteEndObject();
    }

    private static void Str(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null) w.WriteString(name, value);
    }

    private static void Num(Utf8JsonWriter w, string name, long? value) { if (value is { } v) w.WriteNumber(name, v); }
    private static void Num(Utf8JsonWriter w, string name, ulong? value) { if (value is { } v) w.WriteNumber(name, v); }
    private static void Num(Utf8JsonWriter w, string name, int? value) { if (value is { } v) w.WriteNumber(name, v); }
    private static void Num(Utf8JsonWriter w, string name, uint? value) { if (value is { } v) w.WriteNumber(name, v); }
    private static void Bool(Utf8JsonWriter w, string name, bool? value) { if (value is { } v) w.WriteBoolean(name, v); }

    private static void Strings(Utf8JsonWriter w, string name, List<string>? values) =>
        List(w, name, values, (ww, s) => ww.WriteStringValue(s));

    private static void List<T>(Utf8JsonWriter w, string name, List<T>? items, Action<Utf8JsonWriter, T> write)
    {
        if (items is null) return;
        w.WriteStartArray(name);
        foreach (var item in items) write(w, item);
        w.WriteEndArray();
    }

    private static void Map(Utf8JsonWriter w, string name, Dictionary<string, string>? map)
    {
        if (map is null) return;
        w.WriteStartObject(name);
        foreach (var (k, v) in map) w.WriteString(k, v);
        w.WriteEndObject();
    }
}
