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

    private readonly Lazy<(SocketsHttpHandler Handler, HttpClient Client)> _httpClient;
    /// <summary>Idle connections of <see cref="SendAsync"/>, newest on top.</summary>
    private readonly Stack<Stream> _idle = new();
    private bool _disposed;

    private HttpClient _http => _httpClient.Value.Client;

    public string SocketPath { get; }

    /// <summary>Requests block the thread that makes them, attach sessions a thread of their own
    /// (<see cref="HostComputeServiceOptions.BlockingTransport"/>); streams through HttpClient
    /// stay asynchronous.</summary>
    public bool Blocking { get; }

    public HcsConnection(string socketPath, bool blocking = false)
    {
        SocketPath = socketPath;
        Blocking = blocking;
        // only streams (events, logs, archives) use HttpClient: made on their first use
        _httpClient = new(MakeHttpClient);
    }

    private (SocketsHttpHandler, HttpClient) MakeHttpClient()
    {
        var handler = new SocketsHttpHandler
        {
            // The host name in the URI (http://hcs/) is only a label: every connection is the socket.
            ConnectCallback = ConnectAsync,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        var client = new HttpClient(handler, disposeHandler: false)
        {
            BaseAddress = new Uri("http://hcs/"),
            // waits, event streams and log follows last as long as the caller wants: callers cancel
            Timeout = Timeout.InfiniteTimeSpan,
        };
        return (handler, client);
    }

    private ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct) => Connect(blocking: false, ct);

    private async ValueTask<Stream> Connect(bool blocking, CancellationToken ct)
    {
        if (blocking)
        {
            // (a connect to a Unix socket waits only while the listener's backlog is full)
            ct.ThrowIfCancellationRequested();
            return BlockingUnixStream.Connect(SocketPath);
        }
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

    /// <summary>
    /// Sends a request and returns the body of its 2xx answer; anything else throws.
    ///
    /// Written and read here, on connections of our own, rather than with HttpClient: its first
    /// request in the NativeAOT CLI runs about 1.5 ms of cold code (measured: a new connection and
    /// a request to hcsd take 0.37 ms from a script), and every `hcs` command starts with one.
    /// What hcsd's answers need of HTTP/1.1 is small: a status line, headers, a body of
    /// Content-Length bytes or chunked, keep-alive. Streams (events, logs, archives) stay with
    /// HttpClient, WebSockets with <see cref="ConnectWebSocketAsync"/>.
    /// </summary>
    public async Task<byte[]> SendAsync(HttpMethod method, string path, byte[]? body, CancellationToken ct)
    {
        // callers escape every id and value (Uri.EscapeDataString); a space or control character
        // here would end the request line early
        if (path.Any(ch => ch is <= ' ' or > '~')) throw new ArgumentException($"not an escaped request path: \"{path}\"", nameof(path));
        var headText = $"{method.Method} /{path} HTTP/1.1\r\nHost: hcs\r\n" +
            (body is null ? "Content-Length: 0\r\n" : $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\n") + "\r\n";
        // one write: hcsd reads the head and the body in one go, not in two wake-ups
        var request = new byte[headText.Length + (body?.Length ?? 0)];
        System.Text.Encoding.ASCII.GetBytes(headText, request);
        body?.CopyTo(request, headText.Length);
        for (int attempt = 0; ; attempt++)
        {
            var (stream, reused) = await TakeConnectionAsync(ct).ConfigureAwait(false);
            bool answering = false;
            int status;
            byte[] bytes;
            try
            {
                bool keep;
                // cancelling closes the connection: the pending read or write ends at once
                using (ct.UnsafeRegister(static o => ((Stream)o!).Dispose(), stream))
                {
                    await stream.WriteAsync(request, ct).ConfigureAwait(false);
                    var (code, headers, after) = await ReadHeadAsync(stream, ct).ConfigureAwait(false);
                    answering = true;
                    status = code;
                    (bytes, keep) = code is 204 or 304
                        ? ([], after.Length == 0) // no body, whatever the headers say (RFC 9112 6.3)
                        : await ReadBodyAsync(stream, headers, after, ct).ConfigureAwait(false);
                    keep &= !(headers.TryGetValue("connection", out var c) && c.Equals("close", StringComparison.OrdinalIgnoreCase));
                }
                // (the registration is gone: a cancellation from here on cannot close a pooled connection)
                ct.ThrowIfCancellationRequested();
                if (keep) ReturnConnection(stream);
                else stream.Dispose();
            }
            catch (Exception e) when (ClosedWhileIdle(e, reused, answering, attempt, ct))
            {
                stream.Dispose();
                continue;
            }
            catch (Exception e)
            {
                stream.Dispose();
                if (ct.IsCancellationRequested) throw new OperationCanceledException(ct); // however the read ended
                if (Translate(e, ct) is { } hcs) throw hcs;
                throw;
            }
            if (status is < 200 or > 299) throw ErrorFrom((HttpStatusCode)status, bytes);
            return bytes;
        }
    }

    /// <summary>An idle pooled connection hcsd had closed meanwhile (restart, keep-alive
    /// timeout) fails before any answer: hcsd never saw the request, so it goes once more, on a
    /// new connection (only once, and never after a cancellation).</summary>
    private static bool ClosedWhileIdle(Exception e, bool reused, bool answering, int attempt, CancellationToken ct) =>
        reused && !answering && attempt == 0 && !ct.IsCancellationRequested && e is IOException or ObjectDisposedException;

    private async Task<(Stream Stream, bool Reused)> TakeConnectionAsync(CancellationToken ct)
    {
        lock (_idle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_idle.TryPop(out var idle)) return (idle, true);
        }
        try
        {
            return (await Connect(Blocking, ct).ConfigureAwait(false), false);
        }
        catch (Exception e) when (Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
    }

    private void ReturnConnection(Stream stream)
    {
        lock (_idle)
        {
            if (!_disposed && _idle.Count < 4)
            {
                _idle.Push(stream);
                return;
            }
        }
        stream.Dispose();
    }

    /// <summary>The body after the headers: Content-Length bytes, chunks, or (neither) up to the
    /// end of the connection. Whether the connection can carry another request.</summary>
    private static async Task<(byte[] Body, bool KeepAlive)> ReadBodyAsync(Stream stream, Dictionary<string, string> headers, byte[] after, CancellationToken ct)
    {
        var reader = new BodyReader(stream, after);
        if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var body = new MemoryStream();
            for (;;)
            {
                var line = await reader.ReadLineAsync(ct).ConfigureAwait(false);
                int semi = line.IndexOf(';');
                if (!long.TryParse(semi < 0 ? line : line[..semi], System.Globalization.NumberStyles.HexNumber, null, out long size) || size < 0)
                    throw new IOException($"a malformed chunk size in hcsd's answer: \"{line}\"");
                if (size == 0)
                {
                    while ((await reader.ReadLineAsync(ct).ConfigureAwait(false)).Length > 0) { } // trailers
                    return (body.ToArray(), reader.Drained);
                }
                await reader.CopyAsync(body, size, ct).ConfigureAwait(false);
                if ((await reader.ReadLineAsync(ct).ConfigureAwait(false)).Length != 0)
                    throw new IOException("a chunk of hcsd's answer does not end where its size says");
            }
        }
        if (headers.TryGetValue("content-length", out var text))
        {
            if (!long.TryParse(text, out long length) || length < 0) throw new IOException($"a malformed Content-Length in hcsd's answer: {text}");
            var body = new MemoryStream((int)Math.Min(length, 1 << 20));
            await reader.CopyAsync(body, length, ct).ConfigureAwait(false);
            return (body.ToArray(), reader.Drained);
        }
        var rest = new MemoryStream();
        await reader.CopyAsync(rest, long.MaxValue, ct).ConfigureAwait(false);
        return (rest.ToArray(), false);
    }

    /// <summary>Reads an answer's body: first what came with the headers, then the stream.</summary>
    private sealed class BodyReader(Stream stream, byte[] after)
    {
        private byte[] _buffer = after;
        private int _start, _end = after.Length;

        /// <summary>Nothing read ahead beyond this answer (the connection can be reused).</summary>
        public bool Drained => _start == _end;

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            if (_start < _end) return true;
            if (_buffer.Length < 8192) _buffer = new byte[8192];
            _start = 0;
            _end = await stream.ReadAsync(_buffer, ct).ConfigureAwait(false);
            return _end > 0;
        }

        public async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var line = new System.Text.StringBuilder();
            for (;;)
            {
                if (!await FillAsync(ct).ConfigureAwait(false)) throw new IOException("hcsd closed the connection in the middle of an answer");
                int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                int stop = nl < 0 ? _end : nl;
                line.Append(System.Text.Encoding.ASCII.GetString(_buffer, _start, stop - _start));
                _start = nl < 0 ? _end : nl + 1;
                if (nl >= 0) return line.ToString().TrimEnd('\r');
                if (line.Length > 8192) throw new IOException("a line of hcsd's answer is longer than 8 KiB");
            }
        }

        /// <summary>Copies count bytes (long.MaxValue: up to the end of the stream).</summary>
        public async Task CopyAsync(Stream to, long count, CancellationToken ct)
        {
            while (count > 0)
            {
                if (!await FillAsync(ct).ConfigureAwait(false))
                {
                    if (count == long.MaxValue) return;
                    throw new IOException("hcsd closed the connection in the middle of an answer");
                }
                int n = (int)Math.Min(count, _end - _start);
                to.Write(_buffer, _start, n);
                _start += n;
                if (count != long.MaxValue) count -= n;
            }
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
    /// Opens a WebSocket on <paramref name="path"/>: an idle connection of the pool when there is
    /// one (`hcs run` upgrades the connection its create went on: no connect, and no new
    /// connection for hcsd to accept, 0.13 ms measured), else a new one; the HTTP/1.1 upgrade
    /// written here, then .NET's WebSocket protocol over the stream
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
            Span<byte> nonce = stackalloc byte[16];
            Random.Shared.NextBytes(nonce); // a nonce, not a secret: it only has to differ per request
            var request = System.Text.Encoding.ASCII.GetBytes(
                $"GET /{path} HTTP/1.1\r\nHost: hcs\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
                $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Convert.ToBase64String(nonce)}\r\n\r\n");
            byte[] rest;
            for (int attempt = 0; ; attempt++)
            {
                (stream, bool reused) = await TakeConnectionAsync(ct).ConfigureAwait(false);
                bool answering = false;
                try
                {
                    // cancelling closes the connection: a read waiting for the answer (which comes
                    // after the start, for .../start/attach) ends at once, a blocking one too
                    using (ct.UnsafeRegister(static o => ((Stream)o!).Dispose(), stream))
                    {
                        await stream.WriteAsync(request, ct).ConfigureAwait(false);
                        (var status, var headers, rest) = await ReadHeadAsync(stream, ct).ConfigureAwait(false);
                        answering = true;
                        if (status != 101)
                        {
                            // the refusal: its body is the HCS error (with a length, or chunked: error answers are)
                            var (body, _) = await ReadBodyAsync(stream, headers, rest, ct).ConfigureAwait(false);
                            throw ErrorFrom((HttpStatusCode)status, body);
                        }
                    }
                    break;
                }
                catch (Exception e) when (ClosedWhileIdle(e, reused, answering, attempt, ct))
                {
                    stream.Dispose();
                    stream = null;
                }
            }
            ct.ThrowIfCancellationRequested(); // (then the registration may have closed the stream)
            var ws = WebSocket.CreateFromStream(rest.Length == 0 ? stream : new PrefixedStream(rest, stream),
                                                new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
            var transport = stream;
            stream = null; // the WebSocket owns it now
            return (ws, transport);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is IOException or ObjectDisposedException or SocketException)
        {
            throw new OperationCanceledException(ct); // however the read ended
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
        // hcsd's heads are a few hundred bytes: a small buffer first (a fresh 16 KiB is measurable
        // in a short-lived CLI), grown when a head is larger
        var buffer = new byte[4 * 1024];
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
            if (count == buffer.Length)
            {
                if (buffer.Length >= 16 * 1024) throw new IOException("the answer's headers are larger than 16 KiB");
                Array.Resize(ref buffer, buffer.Length * 2);
            }
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
            case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } or SocketException:
                // (a missing socket file comes back as "Cannot assign requested address")
                var why = File.Exists(SocketPath) ? Innermost(e).Message : "no such socket";
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
        lock (_idle)
        {
            _disposed = true;
            while (_idle.TryPop(out var stream)) stream.Dispose();
        }
        if (_httpClient.IsValueCreated)
        {
            _httpClient.Value.Client.Dispose();
            _httpClient.Value.Handler.Dispose();
        }
    }
}
