using System.Text.Json;
using Hcs.Schema;

namespace Hcs.Linux.Containers;

/// <summary>state.json by hand: read on every runhcs command, so it avoids the serializer's
/// first-use cost (see Hcs.Schema.JsonMapper).</summary>
public static class RecordJson
{
    public static byte[] Write(ContainerRecord r)
    {
        using var ms = new MemoryStream(512);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("id", r.Id);
            w.WriteNumber("pid", r.Pid);
            w.WriteNumber("pidStartTime", r.PidStartTime);
            w.WriteString("bundle", r.Bundle);
            w.WriteString("rootfs", r.Rootfs);
            w.WriteString("created", r.Created);
            w.WriteString("owner", r.Owner);
            w.WriteBoolean("systemdCgroup", r.SystemdCgroup);
            w.WriteStartObject("cgroupPaths");
            foreach (var (k, v) in r.CgroupPaths) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    public static ContainerRecord Read(byte[] utf8, string source)
    {
        using var doc = JsonMapper.Parse(utf8, source);
        var errors = new DocumentErrors();
        var m = new JsonMapper(errors);
        var r = new ContainerRecord();
        if (!m.IsObject(doc.RootElement, "$")) errors.Add("$", "expected an object");
        else
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var at = "$." + p.Name;
                switch (p.Name)
                {
                    case "id": r.Id = m.Str(p.Value, at) ?? ""; break;
                    case "pid": r.Pid = m.Int32(p.Value, at) ?? 0; break;
                    case "pidStartTime": r.PidStartTime = m.UInt64(p.Value, at) ?? 0; break;
                    case "bundle": r.Bundle = m.Str(p.Value, at) ?? ""; break;
                    case "rootfs": r.Rootfs = m.Str(p.Value, at) ?? ""; break;
                    case "created": r.Created = p.Value.ValueKind == JsonValueKind.String && p.Value.TryGetDateTime(out var t) ? t.ToUniversalTime() : default; break;
                    case "owner": r.Owner = m.Str(p.Value, at) ?? ""; break;
                    case "systemdCgroup": r.SystemdCgroup = m.Bool(p.Value, at); break;
                    case "cgroupPaths": r.CgroupPaths = m.StrMap(p.Value, at) ?? []; break;
                }
            }
        errors.ThrowIfAny(source);
        return r;
    }
}
