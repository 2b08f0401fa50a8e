using System.Text.Json;
using Hcs.Schema.Hcs;

namespace Hcs.Client;

/// <summary>Response bodies read leniently (a newer hcsd's extra fields are ignored); a body that
/// does not read at all is an HCS protocol error, not a parser's exception.</summary>
internal static class Responses
{
    public static T Read<T>(HcsConnection connection, byte[] body, Func<ReadOnlyMemory<byte>, T> read, CancellationToken ct)
    {
        try
        {
            return read(body);
        }
        catch (Exception e) when (connection.Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
    }

    /// <summary>The answer of POST .../processes: {"ProcessId": pid}.</summary>
    public static uint ReadProcessId(ReadOnlyMemory<byte> body)
    {
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.ValueKind == JsonValueKind.Object
            && doc.RootElement.TryGetProperty("ProcessId", out var pid) && pid.TryGetUInt32(out var value))
            return value;
        throw new JsonException("expected {\"ProcessId\": number}");
    }

    /// <summary>One line of GET .../logs: {"Time", "Stream", "Data"}.</summary>
    public static LogEntry ReadLogEntry(ReadOnlyMemory<byte> line)
    {
        using var doc = JsonDocument.Parse(line);
        var e = doc.RootElement;
        if (e.ValueKind != JsonValueKind.Object) throw new JsonException("a log entry must be a JSON object");
        DateTime time = default;
        string stream = "", data = "";
        foreach (var p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "Time" when p.Value.ValueKind == JsonValueKind.String && p.Value.TryGetDateTime(out var t):
                    time = t.ToUniversalTime();
                    break;
                case "Stream" when p.Value.ValueKind == JsonValueKind.String:
                    stream = p.Value.GetString()!;
                    break;
                case "Data" when p.Value.ValueKind == JsonValueKind.String:
                    data = p.Value.GetString()!;
                    break;
            }
        }
        return new LogEntry(time, stream, data);
    }

    public static Notification ReadNotification(ReadOnlyMemory<byte> line) => HcsReader.ReadNotification(line);
}
