using System.Text.Json;
using Hcs.Schema.Oci;

namespace Hcs.Schema.Hcs;

/// <summary>
/// Reads HCS documents. Requests are read strictly: an unknown field is an error at its JSON
/// path (a misspelt "MemoryInMB" silently ignored would be a container without its limit), and
/// every error is reported. Responses (read by the client) are read leniently, so a newer
/// daemon's extra fields do not break an older client. The embedded OCI parts follow the OCI
/// rule (unknown fields ignored).
/// </summary>
public sealed class HcsReader(JsonMapper m, bool strict)
{
    // ---- entry points: requests (strict) ------------------------------------------------

    public static CreateComputeSystemRequest ReadCreateRequest(ReadOnlyMemory<byte> utf8) =>
        Read(utf8, strict: true, (r, e) => r.CreateRequest(e, "$"));

    public static ComputeSystem ReadComputeSystem(ReadOnlyMemory<byte> utf8, bool strict = true) =>
        Read(utf8, strict, (r, e) => r.ComputeSystem(e, "$"));

    public static ProcessParameters ReadProcessParameters(ReadOnlyMemory<byte> utf8) =>
        Read(utf8, strict: true, (r, e) => r.ProcessParameters(e, "$"));

    public static ModifySettingRequest ReadModifySettingRequest(ReadOnlyMemory<byte> utf8) =>
        Read(utf8, strict: true, (r, e) => r.ModifySettingRequest(e, "$"));

    public static ProcessModifyRequest ReadProcessModifyRequest(ReadOnlyMemory<byte> utf8) =>
        Read(utf8, strict: true, (r, e) => r.ProcessModifyRequest(e, "$"));

    public static SignalProcessOptions ReadSignal(ReadOnlyMemory<byte> utf8) =>
        Read(utf8, strict: true, (r, e) => r.Signal(e, "$"));

    // ---- entry points: responses (lenient) ----------------------------------------------

    public static Properties ReadProperties(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.Properties(e, "$"));
    public static ProcessStatus ReadProcessStatus(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.ProcessStatus(e, "$"));
    public static SystemExitStatus ReadSystemExitStatus(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.ExitStatus(e, "$"));
    public static ServiceInfo ReadServiceInfo(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.ServiceInfo(e, "$"));
    public static Notification ReadNotification(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.Notification(e, "$"));
    public static ErrorResponse ReadError(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.Error(e, "$"));

    public static ComputeSystemSummary ReadSummary(ReadOnlyMemory<byte> utf8) => Read(utf8, false, (r, e) => r.Summary(e, "$"));

    public static List<ComputeSystemSummary> ReadSummaries(ReadOnlyMemory<byte> utf8)
    {
        using var doc = JsonMapper.Parse(utf8, "response");
        var errors = new DocumentErrors();
        var r = new HcsReader(new JsonMapper(errors), strict: false);
        var list = r.Summaries(doc.RootElement, "$") ?? [];
        errors.ThrowIfAny("response");
        return list;
    }

    private static T Read<T>(ReadOnlyMemory<byte> utf8, bool strict, Func<HcsReader, JsonElement, T?> read) where T : class
    {
        var source = strict ? "request body" : "response";
        using var doc = JsonMapper.Parse(utf8, source);
        var errors = new DocumentErrors();
        var reader = new HcsReader(new JsonMapper(errors), strict);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new DocumentException(source, [new DocumentError("$", "expected a JSON object")]);
        T? result;
        try { result = read(reader, doc.RootElement); }
        catch (InvalidOperationException e)
        {
            // an escaped lone surrogate ("\ud800") is valid JSON text but no string
            throw new DocumentException(source, [new DocumentError("$", "a string is not valid Unicode: " + e.Message)]);
        }
        errors.ThrowIfAny(source);
        return result!;
    }

    private List<ComputeSystemSummary>? Summaries(JsonElement e, string path) => m.List(e, path, (x, p) => Summary(x, p)!);

    private void Unknown(string path, string name)
    {
        if (strict) m.Errors.Add(JsonMapper.Child(path, name), "unknown field");
    }

    // ---- documents -------------------------------------------------------------------

    public CreateComputeSystemRequest? CreateRequest(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new CreateComputeSystemRequest();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Id": r.Id = m.Str(p.Value, at); break;
                case "Document": r.Document = ComputeSystem(p.Value, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return r;
    }

    public ComputeSystem? ComputeSystem(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var c = new ComputeSystem();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Owner": c.Owner = m.Str(p.Value, at); break;
                case "SchemaVersion": c.SchemaVersion = Version(p.Value, at); break;
                case "HostingSystemId": c.HostingSystemId = m.Str(p.Value, at); break;
                case "Container": c.Container = Container(p.Value, at); break;
                case "ShouldTerminateOnLastHandleClosed": c.ShouldTerminateOnLastHandleClosed = m.Bool(p.Value, at); break;
                case "VirtualMachine":
                    if (p.Value.ValueKind != JsonValueKind.Null)
                        m.Errors.Add(at, "virtual machine compute systems are not supported yet: use Container (with IsolationType)");
                    break;
                default: Unknown(path, p.Name); break;
            }
        }
        return c;
    }

    private SchemaVersion? Version(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var v = new SchemaVersion { Major = 0, Minor = 0 };
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Major": v.Major = m.UInt32(p.Value, at) ?? 0; break;
                case "Minor": v.Minor = m.UInt32(p.Value, at) ?? 0; break;
                default: Unknown(path, p.Name); break;
            }
        }
        return v;
    }

    private Container? Container(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var c = new Container();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "GuestOs":
                    if (m.IsObject(v, at))
                    {
                        c.GuestOs = new GuestOs();
                        foreach (var q in v.EnumerateObject())
                            if (q.Name == "HostName") c.GuestOs.HostName = m.Str(q.Value, $"{at}.HostName");
                            else Unknown(at, q.Name);
                    }
                    break;
                case "Storage": c.Storage = Storage(v, at); break;
                case "MappedDirectories": c.MappedDirectories = m.List(v, at, (x, q) => MappedDirectory(x, q)!); break;
                case "Memory":
                    if (m.IsObject(v, at))
                    {
                        c.Memory = new ContainerMemory();
                        foreach (var q in v.EnumerateObject())
                            if (q.Name == "SizeInMB") c.Memory.SizeInMB = m.UInt64(q.Value, $"{at}.SizeInMB") ?? 0;
                            else Unknown(at, q.Name);
                    }
                    break;
                case "Processor": c.Processor = Processor(v, at); break;
                case "Networking": c.Networking = Networking(v, at); break;
                case "IsolationType": c.IsolationType = m.Str(v, at); break;
                case "OciSpecification": c.OciSpecification = new OciReader(m).Spec(v, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return c;
    }

    private Storage? Storage(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new Storage();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Layers":
                    s.Layers = m.List(p.Value, at, (x, q) =>
                    {
                        var l = new Layer();
                        if (!m.IsObject(x, q)) return l;
                        foreach (var f in x.EnumerateObject())
                        {
                            var fa = $"{q}.{f.Name}";
                            switch (f.Name)
                            {
                                case "Id": l.Id = m.Str(f.Value, fa); break;
                                case "Path": l.Path = m.Str(f.Value, fa); break;
                                case "PathType": l.PathType = m.Str(f.Value, fa); break;
                                case "Cache": m.Str(f.Value, fa); break; // accepted, no meaning on Linux
                                default: Unknown(q, f.Name); break;
                            }
                        }
                        return l;
                    });
                    break;
                case "Path": s.Path = m.Str(p.Value, at); break;
                case "Image": s.Image = m.Str(p.Value, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return s;
    }

    public MappedDirectory? MappedDirectory(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var d = new MappedDirectory();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "HostPath": d.HostPath = m.Str(p.Value, at); break;
                case "HostPathType": d.HostPathType = m.Str(p.Value, at); break;
                case "ContainerPath": d.ContainerPath = m.Str(p.Value, at); break;
                case "ReadOnly": d.ReadOnly = m.Bool(p.Value, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return d;
    }

    public ContainerProcessor? Processor(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var c = new ContainerProcessor();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Count": c.Count = m.UInt32(p.Value, at); break;
                case "Maximum": c.Maximum = m.Int64(p.Value, at); break;
                case "Weight": c.Weight = m.Int64(p.Value, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return c;
    }

    private Networking? Networking(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var n = new Networking();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Namespace": n.Namespace = m.Str(p.Value, at); break;
                case "AllowUnqualifiedDnsQuery": n.AllowUnqualifiedDnsQuery = m.Bool(p.Value, at); break;
                case "DnsSearchList": n.DnsSearchList = m.Str(p.Value, at); break;
                case "NetworkSharedContainerName": n.NetworkSharedContainerName = m.Str(p.Value, at); break;
                case "NetworkAdapters": n.NetworkAdapters = m.StrList(p.Value, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return n;
    }

    public ProcessParameters? ProcessParameters(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new ProcessParameters();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "ApplicationName": r.ApplicationName = m.Str(v, at); break;
                case "CommandLine": r.CommandLine = m.Str(v, at); break;
                case "CommandArgs": r.CommandArgs = m.StrList(v, at); break;
                case "User": r.User = m.Str(v, at); break;
                case "WorkingDirectory": r.WorkingDirectory = m.Str(v, at); break;
                case "Environment": r.Environment = m.StrMap(v, at); break;
                case "RestrictedToken": r.RestrictedToken = m.Bool(v, at); break;
                case "EmulateConsole": r.EmulateConsole = m.Bool(v, at); break;
                case "CreateStdInPipe": r.CreateStdInPipe = m.Bool(v, at); break;
                case "CreateStdOutPipe": r.CreateStdOutPipe = m.Bool(v, at); break;
                case "CreateStdErrPipe": r.CreateStdErrPipe = m.Bool(v, at); break;
                case "ConsoleSize": r.ConsoleSize = m.List(v, at, (x, q) => m.UInt16(x, q) ?? 0); break;
                case "OciProcess": r.OciProcess = new OciReader(m).Process(v, at); break;
                default: Unknown(path, p.Name); break;
            }
        }
        return r;
    }

    public ModifySettingRequest? ModifySettingRequest(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new ModifySettingRequest();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "ResourcePath": r.ResourcePath = m.Str(p.Value, at); break;
                case "RequestType": r.RequestType = m.Str(p.Value, at); break;
                case "Settings": r.Settings = p.Value.Clone(); break;
                case "GuestRequest":
                    if (p.Value.ValueKind != JsonValueKind.Null) m.Errors.Add(at, "guest requests need a utility VM");
                    break;
                default: Unknown(path, p.Name); break;
            }
        }
        return r;
    }

    public ProcessModifyRequest? ProcessModifyRequest(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new ProcessModifyRequest();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "Operation": r.Operation = m.Str(v, at); break;
                case "ConsoleSize":
                    if (m.IsObject(v, at))
                    {
                        r.ConsoleSize = new ConsoleSize();
                        foreach (var q in v.EnumerateObject())
                        {
                            if (q.Name == "Height") r.ConsoleSize.Height = m.UInt16(q.Value, $"{at}.Height") ?? 0;
                            else if (q.Name == "Width") r.ConsoleSize.Width = m.UInt16(q.Value, $"{at}.Width") ?? 0;
                            else Unknown(at, q.Name);
                        }
                    }
                    break;
                case "CloseHandle":
                    if (m.IsObject(v, at))
                    {
                        r.CloseHandle = new CloseHandle();
                        foreach (var q in v.EnumerateObject())
                            if (q.Name == "Handle") r.CloseHandle.Handle = m.Str(q.Value, $"{at}.Handle");
                            else Unknown(at, q.Name);
                    }
                    break;
                default: Unknown(path, p.Name); break;
            }
        }
        return r;
    }

    /// <summary>{"Signal": 15} or {"Signal": "SIGTERM"}; the name is resolved by the caller.</summary>
    public SignalProcessOptions? Signal(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new SignalProcessOptions();
        bool seen = false;
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            if (p.Name != "Signal") { Unknown(path, p.Name); continue; }
            seen = true;
            if (p.Value.ValueKind == JsonValueKind.String)
            {
                var name = p.Value.GetString()!;
                if (SignalNames.TryParse(name, out var sig)) r.Signal = sig;
                else m.Errors.Add(at, $"unknown signal \"{name}\"");
            }
            else r.Signal = m.Int32(p.Value, at) ?? 0;
        }
        if (!seen) m.Errors.Add($"{path}.Signal", "required");
        else if (r.Signal is < 1 or > 64) m.Errors.Add($"{path}.Signal", $"must be a signal number from 1 to 64, not {r.Signal}");
        return r;
    }

    // ---- responses ---------------------------------------------------------------------

    public Properties? Properties(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new Properties();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            var v = p.Value;
            switch (p.Name)
            {
                case "Id": r.Id = m.Str(v, at) ?? ""; break;
                case "SystemType": r.SystemType = m.Str(v, at) ?? ""; break;
                case "RuntimeOsType": r.RuntimeOsType = m.Str(v, at) ?? ""; break;
                case "Owner": r.Owner = m.Str(v, at); break;
                case "RuntimeId": r.RuntimeId = m.Str(v, at); break;
                case "State": r.State = m.Str(v, at) ?? ""; break;
                case "Stopped": r.Stopped = m.Bool(v, at); break;
                case "ExitType": r.ExitType = m.Str(v, at); break;
                case "HostingSystemId": r.HostingSystemId = m.Str(v, at); break;
                case "IsolationType": r.IsolationType = m.Str(v, at) ?? ""; break;
                case "Created": r.Created = Time(v); break;
                case "InitProcessId": r.InitProcessId = m.UInt32(v, at) ?? 0; break;
                case "ExitCode": r.ExitCode = m.Int32(v, at); break;
                case "Statistics": r.Statistics = Statistics(v, at); break;
                case "ProcessList": r.ProcessList = m.List(v, at, (x, q) => ProcessDetails(x, q)!); break;
                case "Memory": r.Memory = MemoryInformation(v, at); break;
            }
        }
        return r;
    }

    private Statistics? Statistics(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new Statistics();
        foreach (var p in e.EnumerateObject())
        {
            var v = p.Value;
            switch (p.Name)
            {
                case "Timestamp": s.Timestamp = Time(v); break;
                case "ContainerStartTime": s.ContainerStartTime = Time(v); break;
                case "Uptime100ns": s.Uptime100ns = U64(v); break;
                case "Processor":
                    if (v.ValueKind == JsonValueKind.Object)
                        foreach (var q in v.EnumerateObject())
                            switch (q.Name)
                            {
                                case "TotalRuntime100ns": s.Processor.TotalRuntime100ns = U64(q.Value); break;
                                case "RuntimeUser100ns": s.Processor.RuntimeUser100ns = U64(q.Value); break;
                                case "RuntimeKernel100ns": s.Processor.RuntimeKernel100ns = U64(q.Value); break;
                            }
                    break;
                case "Memory":
                    if (v.ValueKind == JsonValueKind.Object)
                        foreach (var q in v.EnumerateObject())
                            switch (q.Name)
                            {
                                case "MemoryUsageCommitBytes": s.Memory.MemoryUsageCommitBytes = U64(q.Value); break;
                                case "MemoryUsageCommitPeakBytes": s.Memory.MemoryUsageCommitPeakBytes = U64(q.Value); break;
                                case "MemoryUsagePrivateWorkingSetBytes": s.Memory.MemoryUsagePrivateWorkingSetBytes = U64(q.Value); break;
                            }
                    break;
                case "Storage":
                    if (v.ValueKind == JsonValueKind.Object)
                        foreach (var q in v.EnumerateObject())
                            switch (q.Name)
                            {
                                case "ReadCountNormalized": s.Storage.ReadCountNormalized = U64(q.Value); break;
                                case "ReadSizeBytes": s.Storage.ReadSizeBytes = U64(q.Value); break;
                                case "WriteCountNormalized": s.Storage.WriteCountNormalized = U64(q.Value); break;
                                case "WriteSizeBytes": s.Storage.WriteSizeBytes = U64(q.Value); break;
                            }
                    break;
            }
        }
        return s;
    }

    private ProcessDetails? ProcessDetails(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var d = new ProcessDetails();
        foreach (var p in e.EnumerateObject())
        {
            var v = p.Value;
            switch (p.Name)
            {
                case "ProcessId": d.ProcessId = (uint)U64(v); break;
                case "ImageName": d.ImageName = v.ValueKind == JsonValueKind.String ? v.GetString()! : ""; break;
                case "CreateTimestamp": d.CreateTimestamp = Time(v); break;
                case "UserTime100ns": d.UserTime100ns = U64(v); break;
                case "KernelTime100ns": d.KernelTime100ns = U64(v); break;
                case "MemoryCommitBytes": d.MemoryCommitBytes = U64(v); break;
                case "MemoryWorkingSetPrivateBytes": d.MemoryWorkingSetPrivateBytes = U64(v); break;
                case "MemoryWorkingSetSharedBytes": d.MemoryWorkingSetSharedBytes = U64(v); break;
            }
        }
        return d;
    }

    private MemoryInformation? MemoryInformation(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var i = new MemoryInformation();
        foreach (var p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "TotalPhysicalBytes": i.TotalPhysicalBytes = U64(p.Value); break;
                case "TotalUsage": i.TotalUsage = U64(p.Value); break;
                case "CommittedBytes": i.CommittedBytes = U64(p.Value); break;
                case "SharedCommittedBytes": i.SharedCommittedBytes = U64(p.Value); break;
                case "CommitLimitBytes": i.CommitLimitBytes = U64(p.Value); break;
                case "PeakCommitmentBytes": i.PeakCommitmentBytes = U64(p.Value); break;
            }
        }
        return i;
    }

    public ProcessStatus? ProcessStatus(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new ProcessStatus();
        foreach (var p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "ProcessId": s.ProcessId = (uint)U64(p.Value); break;
                case "Exited": s.Exited = p.Value.ValueKind == JsonValueKind.True; break;
                case "ExitCode": s.ExitCode = (uint)U64(p.Value); break;
                case "LastWaitResult": s.LastWaitResult = p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetInt32() : 0; break;
            }
        }
        return s;
    }

    public SystemExitStatus? ExitStatus(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new SystemExitStatus();
        foreach (var p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "Status": s.Status = p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetInt32() : 0; break;
                case "ExitType": s.ExitType = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null; break;
                case "ExitCode": s.ExitCode = p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetInt32() : null; break;
            }
        }
        return s;
    }

    public ServiceInfo? ServiceInfo(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new ServiceInfo();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Version": s.Version = m.Str(p.Value, at) ?? ""; break;
                case "SupportedSchemaVersions": s.SupportedSchemaVersions = m.List(p.Value, at, (x, q) => Version(x, q)!) ?? []; break;
                case "IsolationKinds": s.IsolationKinds = m.StrList(p.Value, at) ?? []; break;
                case "CgroupMode": s.CgroupMode = m.Str(p.Value, at) ?? ""; break;
            }
        }
        return s;
    }

    public ComputeSystemSummary? Summary(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var s = new ComputeSystemSummary();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Id": s.Id = m.Str(p.Value, at) ?? ""; break;
                case "Owner": s.Owner = m.Str(p.Value, at); break;
                case "State": s.State = m.Str(p.Value, at) ?? ""; break;
                case "SystemType": s.SystemType = m.Str(p.Value, at) ?? ""; break;
                case "IsolationType": s.IsolationType = m.Str(p.Value, at) ?? ""; break;
                case "Created": s.Created = Time(p.Value); break;
                case "InitProcessId": s.InitProcessId = m.UInt32(p.Value, at) ?? 0; break;
                case "ExitCode": s.ExitCode = m.Int32(p.Value, at); break;
            }
        }
        return s;
    }

    public Notification? Notification(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var n = new Notification();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Type": n.Type = m.Str(p.Value, at) ?? ""; break;
                case "Id": n.Id = m.Str(p.Value, at) ?? ""; break;
                case "Time": n.Time = Time(p.Value); break;
                case "ProcessId": n.ProcessId = m.UInt32(p.Value, at); break;
                case "SystemExitStatus": n.SystemExitStatus = ExitStatus(p.Value, at); break;
                case "ProcessStatus": n.ProcessStatus = ProcessStatus(p.Value, at); break;
            }
        }
        return n;
    }

    public ErrorResponse? Error(JsonElement e, string path)
    {
        if (!m.IsObject(e, path)) return null;
        var r = new ErrorResponse();
        foreach (var p in e.EnumerateObject())
        {
            var at = $"{path}.{p.Name}";
            switch (p.Name)
            {
                case "Error": r.Error = m.Str(p.Value, at) ?? ""; break;
                case "Message": r.Message = m.Str(p.Value, at) ?? ""; break;
                case "Path": r.Path = m.Str(p.Value, at); break;
                case "Errors":
                    r.Errors = m.List(p.Value, at, (x, q) =>
                    {
                        string ep = "", msg = "";
                        if (x.ValueKind == JsonValueKind.Object)
                            foreach (var f in x.EnumerateObject())
                            {
                                if (f.Name == "Path") ep = f.Value.GetString() ?? "";
                                else if (f.Name == "Message") msg = f.Value.GetString() ?? "";
                            }
                        return new DocumentError(ep, msg);
                    });
                    break;
            }
        }
        return r;
    }

    private static ulong U64(JsonElement v) => v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out var x) ? x : 0;

    private static DateTime Time(JsonElement v) =>
        v.ValueKind == JsonValueKind.String && v.TryGetDateTime(out var t) ? t.ToUniversalTime() : default;
}

/// <summary>Signal names as HCS clients may send them: "SIGTERM", "TERM", or a number.</summary>
public static class SignalNames
{
    private static readonly Dictionary<string, int> Names = new(StringComparer.Ordinal)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["BUS"] = 7, ["FPE"] = 8,
        ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14, ["TERM"] = 15,
        ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21, ["TTOU"] = 22,
        ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28, ["IO"] = 29,
        ["PWR"] = 30, ["SYS"] = 31,
        // the HCS (Windows) names, for clients written against HCS: Ctrl-C is an interrupt
        ["CTRLC"] = 2, ["CTRLBREAK"] = 3, ["CTRLCLOSE"] = 1, ["CTRLLOGOFF"] = 1, ["CTRLSHUTDOWN"] = 15,
    };

    public static bool TryParse(string text, out int signal)
    {
        if (int.TryParse(text, out signal)) return signal is > 0 and <= 64;
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        return Names.TryGetValue(name, out signal);
    }
}
