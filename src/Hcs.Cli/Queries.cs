using System.Globalization;
using System.Text;
using Hcs.Client;
using Hcs.Schema.Hcs;

namespace Hcs.Cli;

/// <summary>ps, inspect, stats, logs, events, version: the verbs that print data.</summary>
internal static class Queries
{
    public static async Task<int> Ps(Globals g, bool all, bool quiet, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var list = await hcs.ListComputeSystemsAsync(null, ct);
        // docker ps: running (and paused) ones unless -a
        var shown = list.Where(s => all || s.State is "Running" or "Paused").OrderByDescending(s => s.Created).ToList();
        if (quiet)
        {
            var sb = new StringBuilder();
            foreach (var s in shown) sb.Append(s.Id).Append('\n');
            Output.Out(sb.ToString());
            return 0;
        }
        if (g.Json)
        {
            Output.JsonArray(shown, HcsWriter.Write);
            return 0;
        }
        var now = DateTime.UtcNow;
        Output.Table(["CONTAINER ID", "STATUS", "CREATED", "PID", "ISOLATION", "OWNER"],
            [.. shown.Select(s => new[]
            {
                s.Id, Status(s.State, s.ExitCode), Ago(now - s.Created), s.InitProcessId == 0 ? "-" : s.InitProcessId.ToString(),
                s.IsolationType, s.Owner ?? "",
            })]);
        return 0;
    }

    public static string Status(string state, int? exitCode) => state switch
    {
        "Stopped" or "Exited" when exitCode is { } code => $"Exited ({code})",
        _ => state,
    };

    /// <summary>docker's "5 seconds ago", "3 minutes ago", ...</summary>
    public static string Ago(TimeSpan t)
    {
        if (t < TimeSpan.Zero) t = TimeSpan.Zero;
        static string Unit(int n, string unit) => n == 1 ? $"1 {unit} ago" : $"{n} {unit}s ago";
        if (t.TotalSeconds < 60) return Unit((int)t.TotalSeconds, "second");
        if (t.TotalMinutes < 60) return Unit((int)t.TotalMinutes, "minute");
        if (t.TotalHours < 48) return Unit((int)t.TotalHours, "hour");
        return Unit((int)t.TotalDays, "day");
    }

    /// <summary>The containers' Properties; JSON (an array, as docker inspect) unless
    /// `--format table` asks for a key/value table.</summary>
    public static async Task<int> Inspect(Globals g, string[] ids, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var found = new List<Properties>();
        bool failed = false;
        foreach (var id in ids)
        {
            try
            {
                await using var system = await hcs.OpenComputeSystemAsync(id, ct);
                found.Add(await system.GetPropertiesAsync([], ct));
            }
            catch (HcsException e)
            {
                Output.Error(Commands.FromDaemon(e));
                failed = true;
            }
        }
        if (g.Format == "table")
        {
            foreach (var p in found)
                Output.Table(["FIELD", "VALUE"],
                [
                    ["Id", p.Id], ["State", p.State], ["Stopped", p.Stopped ? "true" : "false"],
                    ["ExitType", p.ExitType ?? ""], ["ExitCode", p.ExitCode?.ToString() ?? ""],
                    ["Created", p.Created.ToString("u", CultureInfo.InvariantCulture)],
                    ["InitProcessId", p.InitProcessId.ToString()], ["IsolationType", p.IsolationType],
                    ["SystemType", p.SystemType], ["RuntimeOsType", p.RuntimeOsType], ["Owner", p.Owner ?? ""],
                ]);
        }
        else
        {
            Output.JsonArray(found, HcsWriter.Write);
        }
        return failed ? ExitCodes.HcsFailed : 0;
    }

    public static void WriteLogEntry(LogEntry entry)
    {
        var target = entry.Stream == "stderr" ? Output.StderrStream : Output.StdoutStream;
        target.Write(Encoding.UTF8.GetBytes(entry.Data));
        target.Flush();
    }

    public static async Task<int> Logs(Globals g, string id, bool follow, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        await using var system = await hcs.OpenComputeSystemAsync(id, ct);
        await foreach (var entry in system.GetLogsAsync(follow, ct))
            WriteLogEntry(entry);
        return 0;
    }

    /// <summary>One line per event until interrupted; NDJSON with --format json.</summary>
    public static async Task<int> Events(Globals g, string[] ids, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        await foreach (var n in hcs.GetEventsAsync(ids.Length > 0 ? ids : null, ct))
        {
            if (g.Json)
            {
                Output.StdoutStream.Write(HcsWriter.ToUtf8(w => HcsWriter.Write(w, n)));
                Output.StdoutStream.Write("\n"u8);
            }
            else
            {
                Output.Line(EventLine(n));
            }
            Output.StdoutStream.Flush();
        }
        return 0;
    }

    public static string EventLine(Notification n)
    {
        var sb = new StringBuilder();
        sb.Append(n.Time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture))
          .Append(' ').Append(n.Type).Append(' ').Append(n.Id);
        if (n.ProcessId is { } pid) sb.Append(" pid=").Append(pid);
        if (n.SystemExitStatus is { } s)
        {
            if (s.ExitCode is { } code) sb.Append(" exitCode=").Append(code);
            if (s.ExitType is { } type) sb.Append(" exitType=").Append(type);
        }
        if (n.ProcessStatus is { } p) sb.Append(" exitCode=").Append(p.ExitCode);
        return sb.ToString();
    }

    public static async Task<int> Version(Globals g, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        ServiceInfo info;
        try
        {
            info = await hcs.GetServiceInfoAsync(ct);
        }
        catch (Exception)
        {
            // the client's version is still worth printing when the daemon is unreachable
            if (!g.Json) Output.Line($"Client: hcs {Program.Version}");
            throw;
        }
        if (g.Json)
        {
            Output.Json(w =>
            {
                w.WriteStartObject();
                w.WriteStartObject("Client");
                w.WriteString("Version", Program.Version);
                w.WriteEndObject();
                w.WritePropertyName("Server");
                HcsWriter.Write(w, info);
                w.WriteEndObject();
            });
            return 0;
        }
        var schemas = string.Join(", ", info.SupportedSchemaVersions.Select(v => $"{v.Major}.{v.Minor}"));
        Output.Out($"""
            Client: hcs {Program.Version}
            Server: hcsd {info.Version}
             Socket:          {g.Socket}
             Schema versions: {schemas}
             Isolation:       {string.Join(", ", info.IsolationKinds)}
             Cgroups:         {info.CgroupMode}

            """);
        return 0;
    }

    // ---- stats ------------------------------------------------------------------------------

    /// <summary>docker stats: CPU (share of one CPU over the last interval), memory, processes
    /// and block I/O per container, refreshed each second until interrupted.</summary>
    public static async Task<int> Stats(Globals g, string[] ids, bool noStream, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var previous = new Dictionary<string, Sample>();
        // one sample alone gives no CPU rate: --no-stream measures over a short interval
        var interval = noStream ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(1);
        var samples = await SampleAsync(hcs, ids, ct);
        foreach (var s in samples) previous[s.Id] = s;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var sigint = noStream ? null : System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });

        if (!noStream && Output.StdoutIsTerminal && !g.Json)
            return await LiveStats.RunAsync(() => NextRows(hcs, ids, previous, stop.Token), interval, stop.Token);

        try
        {
            do
            {
                await Task.Delay(interval, stop.Token);
                var rows = await NextRows(hcs, ids, previous, stop.Token);
                if (g.Json) Output.JsonArray(rows.Samples, WriteSample);
                else Output.Table(StatsHeaders, rows.Cells);
            } while (!noStream);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        return 0;
    }

    public static readonly string[] StatsHeaders = ["CONTAINER ID", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS", "BLOCK I/O"];

    public sealed record Sample(string Id, DateTime Time, Properties Properties);

    public sealed record StatsRows(List<(Sample Now, double CpuPercent)> Samples, List<string[]> Cells);

    private static async Task<StatsRows> NextRows(HostComputeService hcs, string[] ids, Dictionary<string, Sample> previous, CancellationToken ct)
    {
        var samples = await SampleAsync(hcs, ids, ct);
        var result = new List<(Sample, double)>();
        foreach (var s in samples)
        {
            double cpu = 0;
            if (previous.TryGetValue(s.Id, out var before) && s.Properties.Statistics is { } now && before.Properties.Statistics is { } then)
            {
                var used = (double)(now.Processor.TotalRuntime100ns - Math.Min(now.Processor.TotalRuntime100ns, then.Processor.TotalRuntime100ns));
                var elapsed = (s.Time - before.Time).Ticks; // ticks are 100 ns too
                if (elapsed > 0) cpu = used / elapsed * 100;
            }
            previous[s.Id] = s;
            result.Add((s, cpu));
        }
        return new StatsRows(result, [.. result.Select(r => Cells(r.Item1, r.Item2))]);
    }

    private static async Task<List<Sample>> SampleAsync(HostComputeService hcs, string[] ids, CancellationToken ct)
    {
        IEnumerable<string> targets = ids;
        if (ids.Length == 0)
            targets = (await hcs.ListComputeSystemsAsync(new ComputeSystemQuery(State: "Running"), ct)).Select(s => s.Id).ToList();
        var samples = new List<Sample>();
        foreach (var id in targets)
        {
            try
            {
                await using var system = await hcs.OpenComputeSystemAsync(id, ct);
                var p = await system.GetPropertiesAsync(["Statistics", "Memory", "ProcessList"], ct);
                samples.Add(new Sample(id, DateTime.UtcNow, p));
            }
            catch (HcsException) when (ids.Length == 0)
            {
                // stopped or deleted between the list and the query: not shown
            }
        }
        return samples;
    }

    private static string[] Cells(Sample s, double cpu)
    {
        var p = s.Properties;
        ulong usage = p.Statistics?.Memory.MemoryUsagePrivateWorkingSetBytes ?? 0;
        if (usage == 0) usage = p.Statistics?.Memory.MemoryUsageCommitBytes ?? 0;
        ulong limit = p.Memory?.CommitLimitBytes ?? 0;
        // no limit (cgroup v1 says 2^63 rounded to pages): the host's memory is the limit, as docker shows it
        if (HostMemory > 0 && (limit == 0 || limit > HostMemory)) limit = HostMemory;
        var memPercent = limit > 0 ? (double)usage / limit * 100 : 0;
        var io = p.Statistics?.Storage;
        return
        [
            s.Id,
            cpu.ToString("0.00", CultureInfo.InvariantCulture) + "%",
            $"{Bytes(usage)} / {(limit > 0 ? Bytes(limit) : "-")}",
            memPercent.ToString("0.00", CultureInfo.InvariantCulture) + "%",
            (p.ProcessList?.Count ?? 0).ToString(CultureInfo.InvariantCulture),
            $"{Bytes(io?.ReadSizeBytes ?? 0)} / {Bytes(io?.WriteSizeBytes ?? 0)}",
        ];
    }

    private static ulong? _hostMemory;

    /// <summary>MemTotal of /proc/meminfo (hcs runs on hcsd's host), 0 if unreadable.</summary>
    private static ulong HostMemory => _hostMemory ??= ReadMemTotal();

    private static ulong ReadMemTotal()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                var kb = line["MemTotal:".Length..].Trim().Split(' ')[0];
                return ulong.TryParse(kb, out var v) ? v * 1024 : 0;
            }
        }
        catch (IOException) { }
        return 0;
    }

    private static void WriteSample(System.Text.Json.Utf8JsonWriter w, (Sample Now, double CpuPercent) x)
    {
        w.WriteStartObject();
        w.WriteString("Id", x.Now.Id);
        w.WriteNumber("CpuPercent", Math.Round(x.CpuPercent, 2));
        w.WritePropertyName("Properties");
        HcsWriter.Write(w, x.Now.Properties);
        w.WriteEndObject();
    }

    /// <summary>docker's sizes: binary units, three significant digits ("12.3MiB").</summary>
    public static string Bytes(ulong n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        var text = u == 0 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString(v < 10 ? "0.##" : v < 100 ? "0.#" : "0", CultureInfo.InvariantCulture);
        return text + units[u];
    }
}
