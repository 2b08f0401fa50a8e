using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Images;

/// <summary>
/// Debian's docker-registry (distribution 2.8) on 127.0.0.1 and a free port, storing in a temp
/// directory; with <c>htpasswd</c> it wants Basic auth. Images are pushed into it with skopeo
/// from OCI layouts the tests build.
/// </summary>
public sealed class TestRegistry : IDisposable
{
    public const string Binary = "/usr/bin/docker-registry";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hcs-registry-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly Process _process;

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public string LogPath => Path.Combine(_dir, "registry.log");
    public (string User, string Password)? Credentials { get; }

    /// <summary>Why registry tests cannot run here, or null.</summary>
    public static string? Missing() =>
        !File.Exists(Binary) ? $"{Binary} is not installed (apt-get install docker-registry)"
        : !Tools.Exists("skopeo") ? "skopeo is not installed (apt-get install skopeo)"
        : null;

    public TestRegistry(bool basicAuth = false)
    {
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        Port = FreePort();
        var auth = "";
        if (basicAuth)
        {
            Credentials = ("hcs", "s3cret-" + Guid.NewGuid().ToString("N")[..6]);
            var r = Tools.Run("htpasswd", ["-Bbn", Credentials.Value.User, Credentials.Value.Password]);
            Assert.True(r.ExitCode == 0, $"htpasswd (apache2-utils): {r}");
            File.WriteAllText(Path.Combine(_dir, "htpasswd"), r.Stdout);
            auth = $"auth:\n  htpasswd:\n    realm: hcs-test\n    path: {_dir}/htpasswd\n";
        }
        File.WriteAllText(Path.Combine(_dir, "config.yml"), $"""
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: {_dir}/data
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}
              secret: hcs-test
            {auth}
            """);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var a in new[] { "-c", $"exec {Binary} serve {_dir}/config.yml >>{LogPath} 2>&1 </dev/null" }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        using var http = new HttpClient();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = http.GetAsync($"http://{Host}/v2/").GetAwaiter().GetResult();
                break; // 200 or 401: it serves
            }
            catch (HttpRequestException) when (sw.ElapsedMilliseconds < 15_000 && !_process.HasExited)
            {
                Thread.Sleep(50);
            }
            catch (HttpRequestException e)
            {
                throw new InvalidOperationException($"docker-registry did not start: {e.Message}\n{File.ReadAllText(LogPath)}");
            }
        }
    }

    /// <summary>skopeo copy of a whole layout entry (an index: every platform) to NAME:TAG here.</summary>
    public void Push(string layoutDir, string layoutTag, string repository)
    {
        var args = new List<string> { "copy", "--all", "--dest-tls-verify=false", "--preserve-digests" };
        if (Credentials is { } c) args.Add($"--dest-creds={c.User}:{c.Password}");
        args.Add($"oci:{layoutDir}:{layoutTag}");
        args.Add($"docker://{Host}/{repository}");
        var r = Tools.Run("skopeo", args, timeoutMs: 120_000);
        Assert.True(r.ExitCode == 0, $"skopeo {string.Join(' ', args)}: {r}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// An HTTP proxy in front of a registry, for what a real registry will not do on demand: it
/// counts what is fetched (requests, Range headers, body bytes per path), cuts a blob's download
/// after N bytes (the connection is reset), flips a byte of a blob, and can play a Docker token
/// service: with <see cref="RequireBearer"/> it answers 401 + WWW-Authenticate: Bearer to requests
/// without its token and hands tokens out at /token (checking Basic credentials if set).
/// </summary>
public sealed partial class RegistryProxy : IDisposable
{
    public sealed record Request(string Method, string Path, string? Range, string? Authorization, int Status, long BodyBytes);

    private readonly HttpListener _listener = new();
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None });
    private readonly string _upstreamHost;
    private readonly Task _loop;
    private int _cutsLeft;
    private int _tokens;

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public ConcurrentQueue<Request> Requests { get; } = new();

    /// <summary>Blob digest whose download is cut after <see cref="CutAfter"/> body bytes, <see cref="Cuts"/> times.</summary>
    public string? CutDigest { get; set; }
    public long CutAfter { get; set; }
    public int Cuts { set => _cutsLeft = value; }

    /// <summary>Blob digest one byte of which (at absolute offset <see cref="CorruptAt"/>) is flipped.</summary>
    public string? CorruptDigest { get; set; }
    public long CorruptAt { get; set; }

    public bool RequireBearer { get; set; }
    public (string User, string Password)? TokenCredentials { get; set; }
    public int TokenRequests => Volatile.Read(ref _tokens);
    public ConcurrentQueue<string> TokenScopes { get; } = new();

    public RegistryProxy(string upstreamHost)
    {
        _upstreamHost = upstreamHost;
        for (int attempt = 0; ; attempt++)
        {
            Port = TestRegistry.FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Requests for one blob (GET), in order.</summary>
    public List<Request> BlobRequests(string digest) => Requests.Where(r => r.Method == "GET" && r.Path.EndsWith("/blobs/" + digest, StringComparison.Ordinal)).ToList();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    [GeneratedRegex("^/v2/(.+)/(manifests|blobs)/([^/]+)$")]
    private static partial Regex RegistryPath();

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Url!.AbsolutePath;
        var authorization = request.Headers["Authorization"];
        try
        {
            if (path == "/token")
            {
                Interlocked.Increment(ref _tokens);
                TokenScopes.Enqueue(request.QueryString["scope"] ?? "");
                if (TokenCredentials is { } c
                    && authorization != "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")))
                {
                    await Answer(response, 401, """{"details":"bad credentials"}""");
                }
                else
                {
                    await Answer(response, 200, $$"""{"token":"test-token-{{Guid.NewGuid():N}}","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}""");
                }
                Requests.Enqueue(new Request(request.HttpMethod, path, null, authorization, response.StatusCode, 0));
                return;
            }
            var match = RegistryPath().Match(path);
            if (RequireBearer && authorization?.StartsWith("Bearer test-token-", StringComparison.Ordinal) != true)
            {
                var scope = match.Success ? $",scope=\"repository:{match.Groups[1].Value}:pull\"" : "";
                response.AddHeader("WWW-Authenticate", $"Bearer realm=\"http://{Host}/token\",service=\"hcs-test\"{scope}");
                await Answer(response, 401, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""");
                Requests.Enqueue(new Request(request.HttpMethod, path, request.Headers["Range"], authorization, 401, 0));
                return;
            }
            await ForwardAsync(request, response, path, match, authorization);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // the client went away
        }
    }

    private async Task ForwardAsync(HttpListenerRequest request, HttpListenerResponse response, string path, Match match, string? authorization)
    {
        using var upstream = new HttpRequestMessage(new HttpMethod(request.HttpMethod), $"http://{_upstreamHost}{request.Url!.PathAndQuery}");
        foreach (var name in new[] { "Accept", "Range" })
            if (request.Headers.GetValues(name) is { } values) upstream.Headers.TryAddWithoutValidation(name, values);
        if (!RequireBearer && authorization is not null) upstream.Headers.TryAddWithoutValidation("Authorization", authorization);
        using var answer = await _upstream.SendAsync(upstream, HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode = (int)answer.StatusCode;
        foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
        {
            if (name is "Content-Length" or "Transfer-Encoding" or "Connection" or "Date" or "Keep-Alive") continue;
            foreach (var v in values) response.AddHeader(name, v);
        }
        if (answer.Content.Headers.ContentLength is { } length) response.ContentLength64 = length;

        bool isBlob = match.Success && match.Groups[2].Value == "blobs";
        var digest = isBlob ? match.Groups[3].Value : null;
        long start = answer.Content.Headers.ContentRange?.From ?? 0;
        bool cut = digest is not null && digest == CutDigest && request.HttpMethod == "GET" && Interlocked.Decrement(ref _cutsLeft) >= 0;
        long sent = 0;
        await using (var body = await answer.Content.ReadAsStreamAsync())
        {
            var buffer = new byte[64 << 10];
            int n;
            while ((n = await body.ReadAsync(buffer)) > 0)
            {
                if (cut && sent + n >= CutAfter)
                {
                    int keep = (int)(CutAfter - sent);
                    await response.OutputStream.WriteAsync(buffer.AsMemory(0, keep));
                    await response.OutputStream.FlushAsync();
                    sent += keep;
                    Requests.Enqueue(new Request(request.HttpMethod, path, request.Headers["Range"], authorization, response.StatusCode, sent));
                    response.Abort(); // reset: the client sees the body end early
                    return;
                }
                if (digest is not null && digest == CorruptDigest)
                {
                    long at = CorruptAt - (start + sent);
                    if (at >= 0 && at < n) buffer[at] ^= 0x01;
                }
                await response.OutputStream.WriteAsync(buffer.AsMemory(0, n));
                sent += n;
            }
        }
        Requests.Enqueue(new Request(request.HttpMethod, path, request.Headers["Range"], authorization, response.StatusCode, sent));
        response.Close();
    }

    private static async Task Answer(HttpListenerResponse response, int status, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
        response.Close();
    }

    public void Dispose()
    {
        try { _listener.Stop(); } catch (ObjectDisposedException) { }
        _listener.Close();
        try { _loop.Wait(5000); } catch (AggregateException) { }
        _upstream.Dispose();
    }
}
