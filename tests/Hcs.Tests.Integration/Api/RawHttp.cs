using System.Net.Sockets;
using System.Text;

namespace Hcs.Tests.Integration.Api;

public sealed record RawResponse(int Status, Dictionary<string, string> Headers, byte[] Body)
{
    public string? ContentType => Headers.GetValueOrDefault("content-type");
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// HTTP/1.1 written by hand over the Unix socket, for requests HttpClient will not send
/// (invalid UTF-8, a body larger than the server reads, any content type) and for reading the
/// answer of a server that stops reading the body early: the body is written while the response
/// is read, so an early "413" is seen instead of a broken pipe. One connection per request
/// (Connection: close), every step bounded by the timeout.
/// </summary>
public static class RawHttp
{
    public sealed record Request(string Method, string Target, byte[]? Body = null, string? ContentType = "application/json",
                                 bool Chunked = false, long RepeatBodyTo = 0);

    public static async Task<RawResponse> SendAsync(string socketPath, Request r, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cts.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        var body = r.Body ?? [];
        long length = r.RepeatBodyTo > 0 ? r.RepeatBodyTo : body.Length;
        var head = new StringBuilder();
        head.Append($"{r.Method} {r.Target} HTTP/1.1\r\nHost: hcs\r\nConnection: close\r\n");
        if (r.ContentType is not null) head.Append($"Content-Type: {r.ContentType}\r\n");
        if (r.Chunked) head.Append("Transfer-Encoding: chunked\r\n");
        else if (r.Body is not null || r.Method is "POST") head.Append($"Content-Length: {length}\r\n");
        head.Append("\r\n");

        var writing = WriteAsync(stream, Encoding.ASCII.GetBytes(head.ToString()), body, length, r.Chunked, cts.Token);
        try
        {
            return await ReadResponseAsync(stream, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no complete answer to {r.Method} {Short(r.Target)} within {timeout.TotalSeconds:0} s");
        }
        finally
        {
            // the server may have answered without reading everything: stop writing
            cts.Cancel();
            try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
            try { await writing; } catch (Exception) { }
        }
    }

    private static async Task WriteAsync(NetworkStream s, byte[] head, byte[] body, long length, bool chunked, CancellationToken ct)
    {
        await s.WriteAsync(head, ct);
        long written = 0;
        while (written < length)
        {
            int n = (int)Math.Min(body.Length, length - written);
            if (n == 0) break;
            if (chunked) await s.WriteAsync(Encoding.ASCII.GetBytes($"{n:x}\r\n"), ct);
            await s.WriteAsync(body.AsMemory(0, n), ct);
            if (chunked) await s.WriteAsync("\r\n"u8.ToArray(), ct);
            written += n;
        }
        if (chunked) await s.WriteAsync("0\r\n\r\n"u8.ToArray(), ct);
    }

    private static async Task<RawResponse> ReadResponseAsync(NetworkStream s, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int headerEnd = -1;
        bool eof = false;
        async Task<bool> More()
        {
            if (eof) return false;
            int n;
            try { n = await s.ReadAsync(chunk, ct); }
            catch (IOException) { n = 0; } // a reset after the answer (unread request data) ends it like EOF
            if (n == 0) { eof = true; return false; }
            buffer.Write(chunk, 0, n);
            return true;
        }
        while ((headerEnd = IndexOf(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), "\r\n\r\n"u8)) < 0)
            if (!await More()) throw new IOException($"connection closed before a complete response head ({buffer.Length} bytes)");

        var headText = Encoding.ASCII.GetString(buffer.GetBuffer(), 0, headerEnd);
        var lines = headText.Split("\r\n");
        var statusParts = lines[0].Split(' ', 3);
        if (statusParts.Length < 2 || !int.TryParse(statusParts[1], out var status))
            throw new IOException($"not an HTTP status line: {lines[0]}");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        int bodyStart = headerEnd + 4;
        byte[] Rest() => buffer.GetBuffer().AsSpan(bodyStart, (int)buffer.Length - bodyStart).ToArray();
        if (status is 101 or 204 or 304) return new RawResponse(status, headers, []);
        if (headers.TryGetValue("content-length", out var cl) && long.TryParse(cl, out var contentLength))
        {
            while (buffer.Length - bodyStart < contentLength)
                if (!await More()) throw new IOException($"body ended after {buffer.Length - bodyStart} of {contentLength} bytes");
            return new RawResponse(status, headers, Rest()[..(int)contentLength]);
        }
        if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var decoded = new MemoryStream();
            int pos = bodyStart;
            for (;;)
            {
                int lineEnd;
                while ((lineEnd = IndexOf(buffer.GetBuffer().AsSpan(pos, (int)buffer.Length - pos), "\r\n"u8)) < 0)
                    if (!await More()) throw new IOException("chunked body ended early");
                var sizeText = Encoding.ASCII.GetString(buffer.GetBuffer(), pos, lineEnd).Split(';')[0];
                int size = Convert.ToInt32(sizeText, 16);
                pos += lineEnd + 2;
                while (buffer.Length - pos < size + 2)
                    if (!await More()) throw new IOException("chunked body ended early");
                if (size == 0) break;
                decoded.Write(buffer.GetBuffer(), pos, size);
                pos += size + 2;
            }
            return new RawResponse(status, headers, decoded.ToArray());
        }
        while (await More()) { }
        return new RawResponse(status, headers, Rest());
    }

    private static int IndexOf(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) => haystack.IndexOf(needle);

    public static string Short(string s, int max = 160) => s.Length <= max ? s : s[..max] + $"...({s.Length} chars)";
}
