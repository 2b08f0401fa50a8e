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
    private readonly HttpMessageInvoker _invoker;

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
        _invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
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

    /// <summary>Opens a WebSocket on <paramref name="path"/> over the same socket. An answer other
    /// than the upgrade throws <see cref="UpgradeRefusedException"/> with its HTTP status.</summary>
    public async Task<ClientWebSocket> ConnectWebSocketAsync(string path, CancellationToken ct)
    {
        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        try
        {
            await ws.ConnectAsync(new Uri("ws://hcs/" + path), _invoker, ct).ConfigureAwait(false);
            return ws;
        }
        catch (WebSocketException e) when (ws.HttpStatusCode != 0)
        {
            throw new UpgradeRefusedException((int)ws.HttpStatusCode, e);
        }
        catch (WebSocketException e) when (e.InnerException is { } inner && Translate(inner, ct) is { } hcs)
        {
            throw hcs; // could not connect at all, or lost the connection: the inner error says which
        }
        catch (Exception e) when (Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
        finally
        {
            if (ws.State != WebSocketState.Open) ws.Dispose();
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
        _invoker.Dispose();
        _http.Dispose();
        _handler.Dispose();
    }
}

/// <summary>hcsd answered a WebSocket upgrade with an HTTP status instead of switching protocols.</summary>
internal sealed class UpgradeRefusedException(int status, Exception inner)
    : Exception($"the upgrade was answered with HTTP {status}", inner)
{
    public int Status { get; } = status;
}
