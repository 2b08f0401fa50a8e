using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// Resource usage of a container cgroup, shaped like the "data" object of runc's
/// <c>events --stats</c> (libcontainer's types.Stats), so runhcs can serialize it directly and
/// tools that parse runc's output read ours. CPU times are nanoseconds on v1 and v2 alike.
/// Fields runc omits when zero are omitted here too (the context's default ignore condition);
/// the ones it always prints say so with <see cref="JsonIgnoreCondition.Never"/>.
/// </summary>
public sealed class CgroupStats
{
    public CpuStats Cpu { get; set; } = new();
    public MemoryStats Memory { get; set; } = new();
    public PidsStats Pids { get; set; } = new();
    public BlkioStats Blkio { get; set; } = new();

    /// <summary>By page size as the kernel names it ("2MB", "1GB").</summary>
    public Dictionary<string, HugetlbStats> Hugetlb { get; set; } = [];

    /// <summary>Parses a flat-keyed file ("key value" lines) such as memory.stat.</summary>
    internal static Dictionary<string, ulong> ParseFlat(string text)
    {
        var d = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            int sp = line.IndexOf(' ');
            if (sp <= 0) continue;
            d[line[..sp].ToString()] = CgroupFs.ParseU64(line[(sp + 1)..]);
        }
        return d;
    }
}

public sealed class CpuStats
{
    public CpuUsage Usage { get; set; } = new();
    public CpuThrottling Throttling { get; set; } = new();
}

public sealed class CpuUsage
{
    public ulong Total { get; set; }
    /// <summary>Per-CPU totals (v1 cpuacct only; v2 does not account per CPU).</summary>
    public List<ulong>? Percpu { get; set; }
    [JsonPropertyName("percpu_kernel")]
    public List<ulong>? PercpuKernel { get; set; }
    [JsonPropertyName("percpu_user")]
    public List<ulong>? PercpuUser { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ulong Kernel { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ulong User { get; set; }
}

public sealed class CpuThrottling
{
    public ulong Periods { get; set; }
    public ulong ThrottledPeriods { get; set; }
    /// <summary>Nanoseconds.</summary>
    public ulong ThrottledTime { get; set; }
}

public sealed class MemoryStats
{
    /// <summary>Page cache bytes (v1 total_cache, v2 file).</summary>
    public ulong Cache { get; set; }
    public MemoryEntry Usage { get; set; } = new();
    /// <summary>Memory+swap, on v2 too (v1's memsw meaning).</summary>
    public MemoryEntry Swap { get; set; } = new();
    public MemoryEntry Kernel { get; set; } = new();
    [JsonPropertyName("kernelTCP")]
    public MemoryEntry KernelTcp { get; set; } = new();
    /// <summary>memory.stat as read.</summary>
    public Dictionary<string, ulong>? Raw { get; set; }
}

public sealed class MemoryEntry
{
    /// <summary>Bytes; "unlimited" reads as the kernel's huge value (v1) or ulong.MaxValue (v2 "max").</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ulong Limit { get; set; }
    public ulong Usage { get; set; }
    public ulong Max { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ulong Failcnt { get; set; }
}

public sealed class PidsStats
{
    public ulong Current { get; set; }
    /// <summary>0 when unlimited.</summary>
    public ulong Limit { get; set; }
}

public sealed class BlkioStats
{
    public List<BlkioEntry>? IoServiceBytesRecursive { get; set; }
    public List<BlkioEntry>? IoServicedRecursive { get; set; }
}

public sealed class BlkioEntry
{
    public ulong Major { get; set; }
    public ulong Minor { get; set; }
    /// <summary>"Read", "Write", ... as the v1 files name them.</summary>
    public string? Op { get; set; }
    public ulong Value { get; set; }
}

public sealed class HugetlbStats
{
    public ulong Usage { get; set; }
    /// <summary>Peak usage (v1 only).</summary>
    public ulong Max { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ulong Failcnt { get; set; }
}

/// <summary>
/// Writes <see cref="CgroupStats"/> as runc's `events` data object. By hand rather than with a
/// source-generated serializer context: that context's metadata costs NativeAOT binaries code
/// and memory on every start (see Hcs.Schema.JsonMapper). Zero values runc omits are omitted.
/// </summary>
public static class CgroupStatsJson
{
    public static string ToJson(CgroupStats s)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(2048);
        using (var w = new Utf8JsonWriter(buffer)) Write(w, s);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static void Write(Utf8JsonWriter w, CgroupStats s)
    {
        w.WriteStartObject();
        w.WriteStartObject("cpu");
        w.WriteStartObject("usage");
        U(w, "total", s.Cpu.Usage.Total);
        List(w, "percpu", s.Cpu.Usage.Percpu);
        List(w, "percpu_kernel", s.Cpu.Usage.PercpuKernel);
        List(w, "percpu_user", s.Cpu.Usage.PercpuUser);
        w.WriteNumber("kernel", s.Cpu.Usage.Kernel);
        w.WriteNumber("user", s.Cpu.Usage.User);
        w.WriteEndObject();
        w.WriteStartObject("throttling");
        U(w, "periods", s.Cpu.Throttling.Periods);
        U(w, "throttledPeriods", s.Cpu.Throttling.ThrottledPeriods);
        U(w, "throttledTime", s.Cpu.Throttling.ThrottledTime);
        w.WriteEndObject();
        w.WriteEndObject();

        w.WriteStartObject("memory");
        U(w, "cache", s.Memory.Cache);
        Entry(w, "usage", s.Memory.Usage);
        Entry(w, "swap", s.Memory.Swap);
        Entry(w, "kernel", s.Memory.Kernel);
        Entry(w, "kernelTCP", s.Memory.KernelTcp);
        if (s.Memory.Raw is { } raw)
        {
            w.WriteStartObject("raw");
            foreach (var (k, v) in raw) w.WriteNumber(k, v);
            w.WriteEndObject();
        }
        w.WriteEndObject();

        w.WriteStartObject("pids");
        U(w, "current", s.Pids.Current);
        U(w, "limit", s.Pids.Limit);
        w.WriteEndObject();

        w.WriteStartObject("blkio");
        Blkio(w, "ioServiceBytesRecursive", s.Blkio.IoServiceBytesRecursive);
        Blkio(w, "ioServicedRecursive", s.Blkio.IoServicedRecursive);
        w.WriteEndObject();

        w.WriteStartObject("hugetlb");
        foreach (var (size, h) in s.Hugetlb)
        {
            w.WriteStartObject(size);
            U(w, "usage", h.Usage);
            U(w, "max", h.Max);
            w.WriteNumber("failcnt", h.Failcnt);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void U(Utf8JsonWriter w, string name, ulong v)
    {
        if (v != 0) w.WriteNumber(name, v);
    }

    private static void List(Utf8JsonWriter w, string name, List<ulong>? values)
    {
        if (values is not { Count: > 0 }) return;
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static void Entry(Utf8JsonWriter w, string name, MemoryEntry e)
    {
        w.WriteStartObject(name);
        w.WriteNumber("limit", e.Limit);
        U(w, "usage", e.Usage);
        U(w, "max", e.Max);
        w.WriteNumber("failcnt", e.Failcnt);
        w.WriteEndObject();
    }

    private static void Blkio(Utf8JsonWriter w, string name, List<BlkioEntry>? entries)
    {
        if (entries is not { Count: > 0 }) return;
        w.WriteStartArray(name);
        foreach (var e in entries)
        {
            w.WriteStartObject();
            w.WriteNumber("major", e.Major);
            w.WriteNumber("minor", e.Minor);
            if (e.Op is not null) w.WriteString("op", e.Op);
            w.WriteNumber("value", e.Value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
