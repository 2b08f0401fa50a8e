using System.Buffers;
using System.Text.Json;
using Hcs.Schema.Oci;

namespace Hcs.Schema.Hcs;

/// <summary>Writes HCS documents (the mirror of <see cref="HcsReader"/>; by hand for the same
/// reasons as <see cref="OciWriter"/>). Null members are left out.</summary>
public static class HcsWriter
{
    public static byte[] ToUtf8(Action<Utf8JsonWriter> write, bool indented = false)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        // JSON's own escaping only: these documents are never embedded in HTML, and a message
        // reading \u0022 where a quote belongs helps nobody (see JsonEscaping).
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, Encoder = JsonEscaping.Minimal }))
            write(w);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Utf8JsonWriter w, CreateComputeSystemRequest r)
    {
        w.WriteStartObject();
        Str(w, "Id", r.Id);
        if (r.Document is { } d) { w.WritePropertyName("Document"); Write(w, d); }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ComputeSystem c)
    {
        w.WriteStartObject();
        Str(w, "Owner", c.Owner);
        if (c.SchemaVersion is { } v) { w.WritePropertyName("SchemaVersion"); Write(w, v); }
        Str(w, "HostingSystemId", c.HostingSystemId);
        if (c.Container is { } ct) { w.WritePropertyName("Container"); Write(w, ct); }
        if (c.ShouldTerminateOnLastHandleClosed) w.WriteBoolean("ShouldTerminateOnLastHandleClosed", true);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, SchemaVersion v)
    {
        w.WriteStartObject();
        w.WriteNumber("Major", v.Major);
        w.WriteNumber("Minor", v.Minor);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, Container c)
    {
        w.WriteStartObject();
        if (c.GuestOs is { } g)
        {
            w.WriteStartObject("GuestOs");
            Str(w, "HostName", g.HostName);
            w.WriteEndObject();
        }
        if (c.Storage is { } s)
        {
            w.WriteStartObject("Storage");
            if (s.Layers is { } layers)
            {
                w.WriteStartArray("Layers");
                foreach (var l in layers)
                {
                    w.WriteStartObject();
                    Str(w, "Id", l.Id);
                    Str(w, "Path", l.Path);
                    Str(w, "PathType", l.PathType);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            Str(w, "Path", s.Path);
            Str(w, "Image", s.Image);
            w.WriteEndObject();
        }
        if (c.MappedDirectories is { } dirs)
        {
            w.WriteStartArray("MappedDirectories");
            foreach (var d in dirs) Write(w, d);
            w.WriteEndArray();
        }
        if (c.Memory is { } m)
        {
            w.WriteStartObject("Memory");
            w.WriteNumber("SizeInMB", m.SizeInMB);
            w.WriteEndObject();
        }
        if (c.Processor is { } p) { w.WritePropertyName("Processor"); Write(w, p); }
        if (c.Networking is { } n)
        {
            w.WriteStartObject("Networking");
            Str(w, "Namespace", n.Namespace);
            if (n.AllowUnqualifiedDnsQuery) w.WriteBoolean("AllowUnqualifiedDnsQuery", true);
            Str(w, "DnsSearchList", n.DnsSearchList);
            Str(w, "NetworkSharedContainerName", n.NetworkSharedContainerName);
            if (n.NetworkAdapters is { } a)
            {
                w.WriteStartArray("NetworkAdapters");
                foreach (var x in a) w.WriteStringValue(x);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        Str(w, "IsolationType", c.IsolationType);
        if (c.OciSpecification is { } spec) { w.WritePropertyName("OciSpecification"); OciWriter.Write(w, spec); }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, MappedDirectory d)
    {
        w.WriteStartObject();
        Str(w, "HostPath", d.HostPath);
        Str(w, "HostPathType", d.HostPathType);
        Str(w, "ContainerPath", d.ContainerPath);
        if (d.ReadOnly) w.WriteBoolean("ReadOnly", true);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ContainerProcessor p)
    {
        w.WriteStartObject();
        if (p.Count is { } c) w.WriteNumber("Count", c);
        if (p.Maximum is { } m) w.WriteNumber("Maximum", m);
        if (p.Weight is { } x) w.WriteNumber("Weight", x);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ProcessParameters p)
    {
        w.WriteStartObject();
        Str(w, "ApplicationName", p.ApplicationName);
        Str(w, "CommandLine", p.CommandLine);
        if (p.CommandArgs is { } args)
        {
            w.WriteStartArray("CommandArgs");
            foreach (var a in args) w.WriteStringValue(a);
            w.WriteEndArray();
        }
        Str(w, "User", p.User);
        Str(w, "WorkingDirectory", p.WorkingDirectory);
        if (p.Environment is { } env)
        {
            w.WriteStartObject("Environment");
            foreach (var (k, v) in env) w.WriteString(k, v);
            w.WriteEndObject();
        }
        if (p.RestrictedToken) w.WriteBoolean("RestrictedToken", true);
        if (p.EmulateConsole) w.WriteBoolean("EmulateConsole", true);
        if (p.CreateStdInPipe) w.WriteBoolean("CreateStdInPipe", true);
        if (p.CreateStdOutPipe) w.WriteBoolean("CreateStdOutPipe", true);
        if (p.CreateStdErrPipe) w.WriteBoolean("CreateStdErrPipe", true);
        if (p.ConsoleSize is { } size)
        {
            w.WriteStartArray("ConsoleSize");
            foreach (var x in size) w.WriteNumberValue(x);
            w.WriteEndArray();
        }
        if (p.OciProcess is { } oci) { w.WritePropertyName("OciProcess"); OciWriter.Write(w, oci); }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ModifySettingRequest r)
    {
        w.WriteStartObject();
        Str(w, "ResourcePath", r.ResourcePath);
        Str(w, "RequestType", r.RequestType);
        if (r.Settings is { } s) { w.WritePropertyName("Settings"); s.WriteTo(w); }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ProcessModifyRequest r)
    {
        w.WriteStartObject();
        Str(w, "Operation", r.Operation);
        if (r.ConsoleSize is { } c)
        {
            w.WriteStartObject("ConsoleSize");
            w.WriteNumber("Height", c.Height);
            w.WriteNumber("Width", c.Width);
            w.WriteEndObject();
        }
        if (r.CloseHandle is { } h)
        {
            w.WriteStartObject("CloseHandle");
            Str(w, "Handle", h.Handle);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, SignalProcessOptions s)
    {
        w.WriteStartObject();
        w.WriteNumber("Signal", s.Signal);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ProcessStatus s)
    {
        w.WriteStartObject();
        w.WriteNumber("ProcessId", s.ProcessId);
        w.WriteBoolean("Exited", s.Exited);
        w.WriteNumber("ExitCode", s.ExitCode);
        w.WriteNumber("LastWaitResult", s.LastWaitResult);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, SystemExitStatus s)
    {
        w.WriteStartObject();
        w.WriteNumber("Status", s.Status);
        Str(w, "ExitType", s.ExitType);
        if (s.ExitCode is { } c) w.WriteNumber("ExitCode", c);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, Properties p)
    {
        w.WriteStartObject();
        w.WriteString("Id", p.Id);
        w.WriteString("SystemType", p.SystemType);
        w.WriteString("RuntimeOsType", p.RuntimeOsType);
        Str(w, "Owner", p.Owner);
        Str(w, "RuntimeId", p.RuntimeId);
        w.WriteString("State", p.State);
        w.WriteBoolean("Stopped", p.Stopped);
        Str(w, "ExitType", p.ExitType);
        Str(w, "HostingSystemId", p.HostingSystemId);
        w.WriteString("IsolationType", p.IsolationType);
        w.WriteString("Created", p.Created);
        w.WriteNumber("InitProcessId", p.InitProcessId);
        if (p.ExitCode is { } code) w.WriteNumber("ExitCode", code);
        if (p.Statistics is { } s)
        {
            w.WriteStartObject("Statistics");
            w.WriteString("Timestamp", s.Timestamp);
            w.WriteString("ContainerStartTime", s.ContainerStartTime);
            w.WriteNumber("Uptime100ns", s.Uptime100ns);
            w.WriteStartObject("Processor");
            w.WriteNumber("TotalRuntime100ns", s.Processor.TotalRuntime100ns);
            w.WriteNumber("RuntimeUser100ns", s.Processor.RuntimeUser100ns);
            w.WriteNumber("RuntimeKernel100ns", s.Processor.RuntimeKernel100ns);
            w.WriteEndObject();
            w.WriteStartObject("Memory");
            w.WriteNumber("MemoryUsageCommitBytes", s.Memory.MemoryUsageCommitBytes);
            w.WriteNumber("MemoryUsageCommitPeakBytes", s.Memory.MemoryUsageCommitPeakBytes);
            w.WriteNumber("MemoryUsagePrivateWorkingSetBytes", s.Memory.MemoryUsagePrivateWorkingSetBytes);
            w.WriteEndObject();
            w.WriteStartObject("Storage");
            w.WriteNumber("ReadCountNormalized", s.Storage.ReadCountNormalized);
            w.WriteNumber("ReadSizeBytes", s.Storage.ReadSizeBytes);
            w.WriteNumber("WriteCountNormalized", s.Storage.WriteCountNormalized);
            w.WriteNumber("WriteSizeBytes", s.Storage.WriteSizeBytes);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        if (p.ProcessList is { } list)
        {
            w.WriteStartArray("ProcessList");
            foreach (var d in list)
            {
                w.WriteStartObject();
                w.WriteNumber("ProcessId", d.ProcessId);
                w.WriteString("ImageName", d.ImageName);
                w.WriteString("CreateTimestamp", d.CreateTimestamp);
                w.WriteNumber("UserTime100ns", d.UserTime100ns);
                w.WriteNumber("KernelTime100ns", d.KernelTime100ns);
                w.WriteNumber("MemoryCommitBytes", d.MemoryCommitBytes);
                w.WriteNumber("MemoryWorkingSetPrivateBytes", d.MemoryWorkingSetPrivateBytes);
                w.WriteNumber("MemoryWorkingSetSharedBytes", d.MemoryWorkingSetSharedBytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (p.Memory is { } m)
        {
            w.WriteStartObject("Memory");
            w.WriteNumber("TotalPhysicalBytes", m.TotalPhysicalBytes);
            w.WriteNumber("TotalUsage", m.TotalUsage);
            w.WriteNumber("CommittedBytes", m.CommittedBytes);
            w.WriteNumber("SharedCommittedBytes", m.SharedCommittedBytes);
            w.WriteNumber("CommitLimitBytes", m.CommitLimitBytes);
            w.WriteNumber("PeakCommitmentBytes", m.PeakCommitmentBytes);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ComputeSystemSummary s)
    {
        w.WriteStartObject();
        w.WriteString("Id", s.Id);
        Str(w, "Owner", s.Owner);
        w.WriteString("State", s.State);
        w.WriteString("SystemType", s.SystemType);
        w.WriteString("IsolationType", s.IsolationType);
        w.WriteString("Created", s.Created);
        w.WriteNumber("InitProcessId", s.InitProcessId);
        if (s.ExitCode is { } c) w.WriteNumber("ExitCode", c);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ServiceInfo s)
    {
        w.WriteStartObject();
        w.WriteString("Version", s.Version);
        w.WriteStartArray("SupportedSchemaVersions");
        foreach (var v in s.SupportedSchemaVersions) Write(w, v);
        w.WriteEndArray();
        w.WriteStartArray("IsolationKinds");
        foreach (var k in s.IsolationKinds) w.WriteStringValue(k);
        w.WriteEndArray();
        w.WriteString("CgroupMode", s.CgroupMode);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, Notification n)
    {
        w.WriteStartObject();
        w.WriteString("Type", n.Type);
        w.WriteString("Id", n.Id);
        w.WriteString("Time", n.Time);
        if (n.ProcessId is { } pid) w.WriteNumber("ProcessId", pid);
        if (n.SystemExitStatus is { } s) { w.WritePropertyName("SystemExitStatus"); Write(w, s); }
        if (n.ProcessStatus is { } p) { w.WritePropertyName("ProcessStatus"); Write(w, p); }
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, ErrorResponse e)
    {
        w.WriteStartObject();
        w.WriteString("Error", e.Error);
        w.WriteString("Message", e.Message);
        Str(w, "Path", e.Path);
        if (e.Errors is { Count: > 0 } errors)
        {
            w.WriteStartArray("Errors");
            foreach (var x in errors)
            {
                w.WriteStartObject();
                w.WriteString("Path", x.Path);
                w.WriteString("Message", x.Message);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void Str(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null) w.WriteString(name, value);
    }
}
