using System.Buffers.Binary;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Hcs.Schema.Hcs;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>One HTTP answer of hcsd: status and body as sent. The JSON is parsed by the tests
/// themselves (member names as written on the wire), not by the schema reader.</summary>
public sealed record ApiResponse(string Request, int Status, string Text)
{
    public JsonNode? Json => Text.Length == 0 ? null : JsonNode.Parse(Text);
    public override string ToString() => $"{Request} -> {Status} {Text}";
}

/// <summary>Raw-HTTP helpers over a test hcsd: the wire contract of docs/design/0003-hcsd-api.md.</summary>
public static class DaemonApi
{
    public static string NewId(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    public static async Task<ApiResponse> SendAsync(this Hcsd d, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = Hcsd.Body(json);
        using var response = await d.Http.SendAsync(request);
        return new ApiResponse($"{method} {path}", (int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static Task<ApiResponse> GetAsync(this Hcsd d, string path) => d.SendAsync(HttpMethod.Get, path);
    public static Task<ApiResponse> PostAsync(this Hcsd d, string path, string? json = null) => d.SendAsync(HttpMethod.Post, path, json);
    public static Task<ApiResponse> DeleteAsync(this Hcsd d, string path) => d.SendAsync(HttpMethod.Delete, path);

    public static async Task<ApiResponse> CreateSystemAsync(this Hcsd d, string id, ComputeSystem doc)
    {
        using var response = await d.CreateAsync(id, doc);
        return new ApiResponse($"POST v2/compute-systems ({id})", (int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Asserts the status and returns the parsed body.</summary>
    public static JsonNode? Expect(this ApiResponse r, int status)
    {
        Assert.True(r.Status == status, $"expected {status}: {r}");
        return r.Json;
    }

    /// <summary>Asserts an HCS error document: status, error name and (when given) the path.</summary>
    public static JsonNode ExpectError(this ApiResponse r, int status, string error, string? path = null)
    {
        Assert.True(r.Status == status, $"expected {status} {error}: {r}");
        var body = r.Json ?? throw new Xunit.Sdk.XunitException($"no error body: {r}");
        Assert.True(body["Error"]?.GetValue<string>() == error, $"expected Error {error}: {r}");
        Assert.False(string.IsNullOrEmpty(body["Message"]?.GetValue<string>()), $"no Message: {r}");
        if (path is not null) Assert.True(body["Path"]?.GetValue<string>() == path, $"expected Path {path}: {r}");
        return body;
    }

    public static async Task CreateAndStartAsync(this Hcsd d, string id, ComputeSystem doc)
    {
        (await d.CreateSystemAsync(id, doc)).Expect(201);
        (await d.PostAsync($"v2/compute-systems/{id}/start")).Expect(200);
    }

    /// <summary>POST .../processes with stdout and stderr pipes; returns the pid.</summary>
    public static async Task<int> ExecAsync(this Hcsd d, string id, params string[] args)
    {
        var body = new JsonObject
        {
            ["CommandArgs"] = new JsonArray([.. args.Select(a => (JsonNode)a)]),
            ["CreateStdOutPipe"] = true,
            ["CreateStdErrPipe"] = true,
        };
        var created = (await d.PostAsync($"v2/compute-systems/{id}/processes", body.ToJsonString())).Expect(201)!;
        return created["ProcessId"]!.GetValue<int>();
    }

    /// <summary>Execs args, attaches, and collects everything until the exit frame.</summary>
    public static async Task<AttachOutput> RunAsync(this Hcsd d, string id, params string[] args)
    {
        var pid = await d.ExecAsync(id, args);
        await using var a = await Attachment.OpenAsync(d, id, pid);
        return await a.ReadToExitAsync(TimeSpan.FromSeconds(20));
    }

    public static async Task<List<string>> ListIdsAsync(this Hcsd d)
    {
        var list = (await d.GetAsync("v2/compute-systems")).Expect(200)!.AsArray();
        return [.. list.Select(s => s!["Id"]!.GetValue<string>())];
    }

    public static async Task<string> StateOfAsync(this Hcsd d, string id) =>
        (await d.GetAsync($"v2/compute-systems/{id}")).Expect(200)!["State"]!.GetValue<string>();

    public static string ProcessKey(int pid) => File.ReadAllText($"/proc/{pid}/stat").Split(' ')[21];

    /// <summary>Whether the process with that pid (and start time, so a reused pid does not count) lives.</summary>
    public static bool Alive(int pid, string startTime)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // the state letter follows the ")" ending the command; a zombie is dead already
            var afterName = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return afterName[0] != "Z" && afterName[19] == startTime;
        }
        catch (IOException) { return false; }
    }
}

public sealed record AttachOutput(string Stdout, string Stderr, int? ExitCode);

/// <summary>A WebSocket attach (0003 "Attach"): binary messages whose first byte is the stream.</summary>
public sealed class Attachment : IAsyncDisposable
{
    private readonly HttpMessageInvoker _invoker;
    public ClientWebSocket Socket { get; }

    private Attachment(HttpMessageInvoker invoker, ClientWebSocket socket)
    {
        _invoker = invoker;
        Socket = socket;
    }

    public static async Task<Attachment> OpenAsync(Hcsd d, string id, int pid)
    {
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(d.SocketPath), ct);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        });
        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await ws.ConnectAsync(new Uri($"ws://hcs/v2/compute-systems/{id}/processes/{pid}/attach"), invoker, cts.Token);
        }
        catch (WebSocketException e)
        {
            var status = (int)ws.HttpStatusCode;
            ws.Dispose();
            invoker.Dispose();
            throw new Xunit.Sdk.XunitException($"attach to {id}/{pid} refused ({status}): {e.Message}");
        }
        return new Attachment(invoker, ws);
    }

    /// <summary>The next whole message: (stream, payload); null when the server closed.</summary>
    public async Task<(byte Stream, byte[] Payload)?> ReadFrameAsync(CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        for (;;)
        {
            var r = await Socket.ReceiveAsync(buffer, ct);
            if (r.MessageType == WebSocketMessageType.Close) return null;
            message.Write(buffer, 0, r.Count);
            if (!r.EndOfMessage) continue;
            var bytes = message.ToArray();
            Assert.True(bytes.Length > 0, "an empty attach message (no stream byte)");
            return (bytes[0], bytes[1..]);
        }
    }

    public async Task<AttachOutput> ReadToExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        int? exit = null;
        try
        {
            while (exit is null && await ReadFrameAsync(cts.Token) is { } frame)
            {
                switch (frame.Stream)
                {
                    case 1: stdout.Append(Encoding.UTF8.GetString(frame.Payload)); break;
                    case 2: stderr.Append(Encoding.UTF8.GetString(frame.Payload)); break;
                    case 3:
                        Assert.True(frame.Payload.Length == 4, $"exit frame of {frame.Payload.Length} bytes, not 4");
                        exit = BinaryPrimitives.ReadInt32LittleEndian(frame.Payload);
                        break;
                    default: throw new Xunit.Sdk.XunitException($"unknown stream byte {frame.Stream} from the server");
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no exit frame within {timeout.TotalSeconds:0} s; stdout \"{stdout}\", stderr \"{stderr}\"");
        }
        return new AttachOutput(stdout.ToString(), stderr.ToString(), exit);
    }

    /// <summary>Reads output frames until the text seen on stdout contains what.</summary>
    public async Task<string> ReadUntilAsync(string what, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var stdout = new StringBuilder();
        try
        {
            while (!stdout.ToString().Contains(what))
            {
                var frame = await ReadFrameAsync(cts.Token)
                    ?? throw new Xunit.Sdk.XunitException($"attach closed before \"{what}\"; stdout \"{stdout}\"");
                if (frame.Stream == 1) stdout.Append(Encoding.UTF8.GetString(frame.Payload));
                Assert.True(frame.Stream != 3, $"the process exited before \"{what}\"; stdout \"{stdout}\"");
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"\"{what}\" not seen within {timeout.TotalSeconds:0} s; stdout \"{stdout}\"");
        }
        return stdout.ToString();
    }

    public ValueTask DisposeAsync()
    {
        Socket.Abort();
        Socket.Dispose();
        _invoker.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// What a compute system leaves on the host, seen from outside hcsd: cgroup directories
/// /sys/fs/cgroup/*/hcs/&lt;id&gt;, mounts under the daemon's directory, processes in such a
/// cgroup, the bundle directory and the log file.
/// </summary>
public static class HostTraces
{
    public static List<string> Of(Hcsd d, string id)
    {
        var found = new List<string>();
        foreach (var hierarchy in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var dir = Path.Combine(hierarchy, "hcs", id);
            if (Directory.Exists(dir)) found.Add("cgroup " + dir);
        }
        found.AddRange(MountsUnder(d.Dir).Where(m => m.Contains(id)).Select(m => "mount " + m));
        found.AddRange(ProcessesInCgroupOf(id).Select(p => "process " + p));
        var bundle = Path.Combine(d.RunDir, "systems", id);
        if (Directory.Exists(bundle)) found.Add("bundle " + bundle);
        var log = Path.Combine(d.StateDir, "logs", id + ".log");
        if (File.Exists(log)) found.Add("log " + log);
        return found;
    }

    /// <summary>Everything of the daemon's systems: every mount under its directory, every bundle,
    /// every log file.</summary>
    public static List<string> All(Hcsd d)
    {
        var found = MountsUnder(d.Dir).Select(m => "mount " + m).ToList();
        var systems = Path.Combine(d.RunDir, "systems");
        if (Directory.Exists(systems)) found.AddRange(Directory.GetFileSystemEntries(systems).Select(b => "bundle " + b));
        var logs = Path.Combine(d.StateDir, "logs");
        if (Directory.Exists(logs)) found.AddRange(Directory.GetFiles(logs).Select(l => "log " + l));
        return found;
    }

    public static List<string> MountsUnder(string dir) =>
        [.. File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(dir + "/"))];

    /// <summary>Processes whose cgroup (any hierarchy) is /hcs/&lt;id&gt; or below it.</summary>
    public static List<string> ProcessesInCgroupOf(string id)
    {
        var found = new List<string>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cgroups = File.ReadAllText(Path.Combine(dir, "cgroup"));
                if (cgroups.Split('\n').Any(l => l.EndsWith($"/hcs/{id}") || l.Contains($"/hcs/{id}/")))
                    found.Add($"{pid} {File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim()}");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    public static void AssertNone(Hcsd d, string id)
    {
        var left = Of(d, id);
        Assert.True(left.Count == 0, $"{id} left behind:\n  " + string.Join("\n  ", left));
    }
}
