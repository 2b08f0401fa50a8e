using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hcs.Schema.Monitor;

// The internal protocol between hcsd and hcs-monitor (docs/design/0004-monitor.md): frames of
// a 4-byte little-endian length and a payload on a Unix stream socket. A connection carries
// request/response pairs of JSON payloads, until an "attach" or "subscribe" request turns it
// into a stream: attach frames are [stream byte][data] exactly as the WebSocket attach
// protocol of the public API (so hcsd relays them unchanged); subscribe frames are
// MonitorEvent JSON.

public static class MonitorOps
{
    public const string Ping = "ping";
    public const string Create = "create";
    public const string Start = "start";
    public const string Exec = "exec";
    public const string Signal = "signal";        // one process (Pid; 0 = the init)
    public const string KillAll = "kill-all";     // every process of the system
    public const string Delete = "delete";
    public const string List = "list";
    public const string Attach = "attach";
    public const string Resize = "resize";
    public const string CloseStdin = "close-stdin";
    public const string Subscribe = "subscribe";
}

/// <summary>Stream ids of attach frames (first byte of each frame's payload).</summary>
public static class AttachStream
{
    public const byte Stdin = 0, Stdout = 1, Stderr = 2, Exit = 3, CloseStdin = 4, Resize = 5;

    /// <summary>hcsd to its client only, just before Exit: the system was deleted, as the
    /// start/attach with remove=true asked (`hcs run --rm`).</summary>
    public const byte Removed = 6;
}

public sealed class MonitorRequest
{
    public string Op { get; set; } = "";
    public string? Id { get; set; }
    public int Pid { get; set; }
    public int Signal { get; set; }
    public bool Force { get; set; }
    /// <summary>create: the bundle directory (config.json inside; rootfs per the config).</summary>
    public string? Bundle { get; set; }
    /// <summary>create: an overlay to mount at the config's root path first (unmounted at delete).</summary>
    public OverlayRequest? Overlay { get; set; }
    /// <summary>create: the host binary to exec as the init instead of process.args[0].</summary>
    public string? InitExecPath { get; set; }
    public StdioRequest? Stdio { get; set; }
    /// <summary>exec: the OCI process, as JSON.</summary>
    public string? ProcessJson { get; set; }
    public ushort Rows { get; set; }
    public ushort Cols { get; set; }
}

public sealed class OverlayRequest
{
    /// <summary>The mount data ("lowerdir=...,upperdir=...,workdir=...").</summary>
    public string Options { get; set; } = "";
    /// <summary>Created before mounting (null: a read-only stack without a scratch).</summary>
    public string? Upper { get; set; }
    public string? Work { get; set; }
}

public sealed class StdioRequest
{
    public bool Stdin { get; set; }
    public bool Stdout { get; set; }
    public bool Stderr { get; set; }
    public bool Terminal { get; set; }
    public ushort Rows { get; set; }
    public ushort Cols { get; set; }
    /// <summary>Output is also appended here as NDJSON {"Time","Stream","Data"} (the init's log).</summary>
    public string? LogPath { get; set; }
}

public sealed class MonitorResponse
{
    /// <summary>An HCS error name (HCS_E_...) when the request failed.</summary>
    public string? Error { get; set; }
    public string? Message { get; set; }
    public List<MonitorError>? Errors { get; set; }
    public int Pid { get; set; }
    public List<SystemState>? Systems { get; set; }
    public bool Terminal { get; set; }
}

public sealed class MonitorError
{
    public string Path { get; set; } = "";
    public string Message { get; set; } = "";
}

public sealed class SystemState
{
    public string Id { get; set; } = "";
    public int InitPid { get; set; }
    /// <summary>created, running, stopped (paused is a cgroup state hcsd reads itself).</summary>
    public string State { get; set; } = "";
    public int? ExitCode { get; set; }
    public DateTime? ExitTime { get; set; }
    /// <summary>The init was killed by kill-all/SIGKILL from us (a forced exit).</summary>
    public bool Forced { get; set; }
    public List<ProcessState> Processes { get; set; } = [];
}

public sealed class ProcessState
{
    public int Pid { get; set; }
    public bool Exited { get; set; }
    public int ExitCode { get; set; }
    public DateTime? ExitTime { get; set; }
}

/// <summary>Pushed on a subscribe connection when a process exits.</summary>
public sealed class MonitorEvent
{
    public string Type { get; set; } = "exit";
    public string Id { get; set; } = "";
    public int Pid { get; set; }
    public bool Init { get; set; }
    public int ExitCode { get; set; }
    public bool Forced { get; set; }
    public DateTime Time { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(MonitorRequest))]
[JsonSerializable(typeof(MonitorResponse))]
[JsonSerializable(typeof(MonitorEvent))]
public sealed partial class MonitorJsonContext : JsonSerializerContext;

/// <summary>Length-prefixed frames over a stream.</summary>
public static class Frames
{
    public const int MaxFrame = 16 << 20;

    /// <summary>The payload with its length in front: one frame, for one write.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var buf = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(buf, payload.Length);
        payload.CopyTo(buf.AsSpan(4));
        return buf;
    }

    public static async ValueTask WriteAsync(Stream s, ReadOnlyMemory<byte> payload, CancellationToken ct = default) =>
        await s.WriteAsync(Frame(payload.Span), ct).ConfigureAwait(false);

    /// <summary>Blocking: for a thread that serves one connection (hcs-monitor's requests).</summary>
    public static void Write(Stream s, ReadOnlySpan<byte> payload) => s.Write(Frame(payload));

    /// <summary>A frame's payload length from its header, checked.</summary>
    private static int PayloadLength(ReadOnlySpan<byte> header)
    {
        int len = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (len < 0 || len > MaxFrame) throw new InvalidDataException($"monitor frame of {len} bytes");
        return len;
    }

    /// <summary>Blocking; null at a clean end of stream.</summary>
    public static byte[]? Read(Stream s)
    {
        Span<byte> header = stackalloc byte[4];
        int got = s.ReadAtLeast(header, 4, throwOnEndOfStream: false);
        if (got == 0) return null;
        if (got < 4) throw new EndOfStreamException("monitor connection closed mid-frame");
        var payload = new byte[PayloadLength(header)];
        s.ReadExactly(payload);
        return payload;
    }

    /// <summary>Null at a clean end of stream.</summary>
    public static async ValueTask<byte[]?> ReadAsync(Stream s, CancellationToken ct = default)
    {
        var header = new byte[4];
        int got = 0;
        while (got < 4)
        {
            int n = await s.ReadAsync(header.AsMemory(got), ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (got == 0) return null;
                throw new EndOfStreamException("monitor connection closed mid-frame");
            }
            got += n;
        }
        var payload = new byte[PayloadLength(header)];
        await s.ReadExactlyAsync(payload, ct).ConfigureAwait(false);
        return payload;
    }

    public static byte[] Json(MonitorRequest r) => JsonSerializer.SerializeToUtf8Bytes(r, MonitorJsonContext.Default.MonitorRequest);
    public static byte[] Json(MonitorResponse r) => JsonSerializer.SerializeToUtf8Bytes(r, MonitorJsonContext.Default.MonitorResponse);
    public static byte[] Json(MonitorEvent e) => JsonSerializer.SerializeToUtf8Bytes(e, MonitorJsonContext.Default.MonitorEvent);
    public static MonitorRequest? Request(byte[] b) => JsonSerializer.Deserialize(b, MonitorJsonContext.Default.MonitorRequest);
    public static MonitorResponse? Response(byte[] b) => JsonSerializer.Deserialize(b, MonitorJsonContext.Default.MonitorResponse);
    public static MonitorEvent? Event(byte[] b) => JsonSerializer.Deserialize(b, MonitorJsonContext.Default.MonitorEvent);
}
