using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using Hcs.Schema;
using Hcs.Schema.Hcs;

namespace Hcs.Client;

/// <summary>
/// HTTP/1.1 to hcsd over its Unix socket: one connection pool shared by every handle of a
/// <see cref="HostComputeService"/>, request/response helpers, and the one place where failures
/// become <see cref="HcsException"/>s.
/// </summary>
internal sealed class HcsConnection : IDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly SocketsHttpHandler _handler;
    private readonly HttpClient _http;

    public string SocketPath { get; }

    public HcsConnection(string socketPath)
    {
        SocketPath = socketPath;
        _handler = new SocketsHttpHandler
        {
            // The host name in the URI (http://hcs/) is only a label: every connection is the socket.
            ConnectCallback = ConnectAsync,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(_handler, disposeHandler: false)
        {
            BaseAddress = new Uri("http://hcs/"),
            // waits, event streams and log follows last as long as the caller wants: callers cancel
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // ---- requests --------------------------------------------------------------------

    /// <summary>Sends a request and returns the body of its 2xx answer; anything else throws.</summary>
    public async Task<byte[]> SendAsync(HttpMethod method, string path, byte[]? body, CancellationToken ct)
    {
        using var request = Request(method, path, body);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw ErrorFrom(response.StatusCode, bytes);
            return bytes;
        }
        catch (Exception e) when (Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
    }

    /// <summary>Sends a request whose answer is a stream (events, logs): returns once the headers
    /// of a 2xx answer are in; the caller owns (and disposes) the response.</summary>
    public async Task<HttpResponseMessage> SendStreamingAsync(HttpMethod method, string path, CancellationToken ct, HttpContent? content = null)
    {
        using var request = Request(method, path, null);
        request.Content = content;
        HttpResponseMessage? response = null;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
                throw ErrorFrom(response.StatusCode, bytes);
            }
            return response;
        }
        catch (Exception e) when (Translate(e, ct) is { } hcs)
        {
            response?.Dispose();
            throw hcs;
        }
        catch
        {
            response?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens a WebSocket on <paramref name="path"/>: a connection of its own to the socket, the
    /// HTTP/1.1 upgrade written here, then .NET's WebSocket protocol over the stream
    /// (<see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/>). By hand rather
    /// than ClientWebSocket because (1) ClientWebSocket checks Sec-WebSocket-Accept with SHA-1,
    /// which loads OpenSSL: about 5 ms of every `hcs run` in the NativeAOT CLI, for a check against
    /// HTTP intermediaries there cannot be on a Unix socket to hcsd; and (2) it hides the body of a
    /// refusal, so the HCS error hcsd sent could not be reported. A refusal throws that error.
    /// The transport is returned too, for the one frame the caller writes itself (see
    /// <see cref="AttachSession"/>'s close).
    /// </summary>
    public async Task<(WebSocket Socket, Stream Transport)> ConnectWebSocketAsync(string path, CancellationToken ct)
    {
        Stream? stream = null;
        try
        {
            stream = await ConnectAsync(null!, ct).ConfigureAwait(false);
            Span<byte> nonce = stackalloc byte[16];
            Random.Shared.NextBytes(nonce); // a nonce, not a secret: it only has to differ per request
            var request = $"GET /{path} HTTP/1.1\r\nHost: hcs\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
                          $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Convert.ToBase64String(nonce)}\r\n\r\n";
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request), ct).ConfigureAwait(false);
            var (status, headers, rest) = await ReadHeadAsync(stream, ct).ConfigureAwait(false);
            if (status == 101)
            {
                var ws = WebSocket.CreateFromStream(rest.Length == 0 ? stream : new PrefixedStream(rest, stream),
                                                    new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
                var transport = stream;
                stream = null; // the WebSocket owns it now
                return (ws, transport);
            }
            // the refusal: its body is the HCS error (Content-Length bounded; hcsd always sends one)
            var body = new MemoryStream();
            body.Write(rest);
            if (headers.TryGetValue("content-length", out var lengthText) && long.TryParse(lengthText, out var length))
            {
                var buffer = new byte[8192];
                while (body.Length < Math.Min(length, 1 << 20))
                {
                    int n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - body.Length)), ct).ConfigureAwait(false);
                    if (n == 0) break;
                    body.Write(buffer, 0, n);
                }
            }
            throw ErrorFrom((HttpStatusCode)status, body.ToArray());
        }
        catch (Exception e) when (Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
        finally
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The status line and headers of an HTTP/1.1 answer, and whatever came after them
    /// in the same reads (the first WebSocket frames, or the start of a body).</summary>
    private static async Task<(int Status, Dictionary<string, string> Headers, byte[] After)> ReadHeadAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        int count = 0;
        while (true)
        {
            int end = buffer.AsSpan(0, count).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var lines = System.Text.Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
                var first = lines[0].Split(' ', 3);
                if (first.Length < 2 || !first[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(first[1], out var status))
                    throw new IOException($"not an HTTP answer: {lines[0]}");
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var line in lines.Skip(1))
                    if (line.IndexOf(':') is var colon and > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                return (status, headers, buffer.AsSpan(end + 4, count - end - 4).ToArray());
            }
            if (count == buffer.Length) throw new IOException("the answer's headers are larger than 16 KiB");
            int n = await stream.ReadAsync(buffer.AsMemory(count), ct).ConfigureAwait(false);
            if (n == 0) throw new IOException("the connection closed before the answer's headers were complete");
            count += n;
        }
    }

    /// <summary>Bytes read ahead with the headers, then the rest of the stream.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private int _offset;

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_offset < prefix.Length) return Take(buffer);
            return inner.Read(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            _offset < prefix.Length ? ValueTask.FromResult(Take(buffer.Span)) : inner.ReadAsync(buffer, ct);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        private int Take(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, prefix.Length - _offset);
            prefix.AsSpan(_offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => inner.WriteAsync(buffer, ct);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.WriteAsync(buffer, offset, count, ct);
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, byte[]? body)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = Json;
        }
        return request;
    }

    // ---- errors ----------------------------------------------------------------------

    /// <summary>The ErrorResponse body of a non-2xx answer as an exception; the HCS name is kept
    /// even when this client does not know it (a newer daemon), with the HTTP status it came with.</summary>
    public static HcsException ErrorFrom(HttpStatusCode status, byte[] body)
    {
        ErrorResponse? response = null;
        try
        {
            if (body.Length > 0) response = HcsReader.ReadError(body);
        }
        catch (DocumentException) { }
        int code = (int)status;
        if (response is null || response.Error.Length == 0)
        {
            // not hcsd's error shape (a proxy, a crash mid-answer): say what came back
            var text = body.Length == 0 ? "(empty body)" : System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 512));
            return new HcsException(new HcsError(HcsError.ProtocolError.Name, HcsError.ProtocolError.HResult, code),
                $"hcsd answered HTTP {code} without an HCS error: {text}");
        }
        var known = HcsError.ByName(response.Error);
        var error = known is not null && known.HttpStatus == code
            ? known
            : new HcsError(response.Error, known?.HResult ?? 0x80004005 /* E_FAIL */, code);
        return new HcsException(error, response.Message, response.Path, response.Errors);
    }

    /// <summary>Transport failures (no daemon, connection lost, an answer that does not parse) as
    /// HCS errors with HTTP status 0 (no answer); cancellation by the caller stays an
    /// OperationCanceledException. Null: leave the exception as it is.</summary>
    public HcsException? Translate(Exception e, CancellationToken ct)
    {
        switch (e)
        {
            case HcsException:
                return null;
            case OperationCanceledException when ct.IsCancellationRequested:
                return null;
            case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } h:
                // (a missing socket file comes back as "Cannot assign requested address")
                var why = File.Exists(SocketPath) ? Innermost(h).Message : "no such socket";
                return new HcsException(HcsError.ServiceNotAvailable with { HttpStatus = 0 },
                    $"cannot connect to hcsd at {SocketPath}: {why} (is hcsd running, and may this user use its socket?)");
            case HttpRequestException or IOException or WebSocketException:
                return ConnectionLost(e);
            case DocumentException d:
                return new HcsException(HcsError.ProtocolError with { HttpStatus = 0 }, $"hcsd's answer does not read: {d.Message}");
            case JsonException j:
                return new HcsException(HcsError.ProtocolError with { HttpStatus = 0 }, $"hcsd's answer is not JSON: {j.Message}");
            default:
                return null;
        }
    }

    public HcsException ConnectionLost(Exception e) =>
        new(HcsError.ConnectionClosed with { HttpStatus = 0 }, $"the connection to hcsd at {SocketPath} was lost: {Innermost(e).Message}");

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    public void Dispose()
    {
        _http.Dispose();
        _handler.Dispose();
    }
}
