using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hcs.Schema.Hcs;
using Hcs.Tests.Api;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Api;

/// <summary>
/// A real hcsd answers as docs/api/openapi.json says: a realistic session over every route
/// (service, create, list, properties, start, processes, attach, signal, wait, modify,
/// pause/resume, shutdown, terminate, logs, events, delete, and the 404/408/409/400 errors)
/// where every status must be declared for its route and every body must match the declared
/// schema. Mismatches are collected and reported together; the session also checks that it
/// exercised every operation of the document.
/// </summary>
public sealed class OpenApiConformanceTests(ITestOutputHelper output)
{
    private readonly OpenApiContract _contract = OpenApiContract.Load();
    private readonly List<string> _problems = [];
    private readonly HashSet<string> _covered = [];

    private sealed record Answer(int Status, byte[] Body)
    {
        public JsonNode? Json
        {
            get
            {
                try { return Body.Length == 0 ? null : JsonNode.Parse(Body); }
                catch (JsonException) { return null; } // CheckResponse has said so already
            }
        }
        public string Text => Encoding.UTF8.GetString(Body);
    }

    [RootFact]
    public async Task EveryResponse_OfARealisticSession_MatchesTheDocument()
    {
        if (Missing() is { } why) { output.WriteLine("skipped: " + why); return; }
        await using var d = await Hcsd.StartAsync();
        var suffix = Guid.NewGuid().ToString("N")[..6];
        string id1 = "conf-" + suffix, id2 = "conf2-" + suffix;

        using var events = new EventRecorder(d.SocketPath, $"v2/events?Ids={id1},{id2}", this);
        await events.StartAsync();

        // ---- the service ----
        await Expect(d, HttpMethod.Get, "v2/service", 200);
        var doc = await Expect(d, HttpMethod.Get, "v2/openapi.json", 200);
        if (!JsonNode.DeepEquals(doc.Json, JsonNode.Parse(_contract.Text)))
            Problem("GET /v2/openapi.json is not docs/api/openapi.json");

        // ---- create, list, properties ----
        var create = Create(id1, Hcsd.ContainerDocument());
        await Expect(d, HttpMethod.Post, "v2/compute-systems", 201, create, requestSchema: "CreateComputeSystemRequest");
        await Expect(d, HttpMethod.Post, "v2/compute-systems", 409, create, error: "HCS_E_SYSTEM_ALREADY_EXISTS");
        var list = await Expect(d, HttpMethod.Get, "v2/compute-systems", 200);
        if (list.Json?.AsArray().Any(s => s!["Id"]!.GetValue<string>() == id1) != true) Problem($"the list lacks {id1}: {list.Text}");
        var filtered = await Expect(d, HttpMethod.Get, $"v2/compute-systems?Ids={id1}&Owners=tests&State=Created", 200);
        if (filtered.Json?.AsArray().Count != 1) Problem($"filtered list: {filtered.Text}");
        await Expect(d, HttpMethod.Get, "v2/compute-systems?State=Sleeping", 400, error: "HCS_E_INVALID_JSON");
        await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}?properties=Statistics,ProcessList,Memory", 200);
        await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}?properties=Nope", 400, error: "HCS_E_INVALID_JSON");

        // ---- start, processes, attach ----
        var started = await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/start", 200);
        ExpectMember(started, "State", "Running");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/start", 409, error: "HCS_E_INVALID_STATE");
        await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}?properties=Statistics,ProcessList,Memory", 200);

        var process = Json(w => HcsWriter.Write(w, new ProcessParameters
        {
            CommandArgs = ["sh", "-c", "echo out; echo err >&2; exec sleep 600"],
            CreateStdInPipe = true, CreateStdOutPipe = true, CreateStdErrPipe = true,
        }));
        var created = await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/processes", 201, process, requestSchema: "ProcessParameters");
        var pid = created.Json?["ProcessId"]?.GetValue<uint>() ?? 0;
        var p = $"v2/compute-systems/{id1}/processes/{pid}";
        var status = await Expect(d, HttpMethod.Get, p, 200);
        ExpectMember(status, "Exited", false);
        await AttachAsync(d, $"{p}/attach");
        await Expect(d, HttpMethod.Get, $"{p}/attach", 400, error: "HCS_E_INVALID_JSON"); // not a WebSocket upgrade
        await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}/processes/999999999", 404, error: "HCS_E_PROCESS_INFO_NOT_AVAILABLE");
        await Expect(d, HttpMethod.Post, $"{p}/modify", 204,
            Json(w => HcsWriter.Write(w, new ProcessModifyRequest { Operation = "CloseHandle", CloseHandle = new CloseHandle { Handle = "StdIn" } })),
            requestSchema: "ProcessModifyRequest");
        await Expect(d, HttpMethod.Post, $"{p}/modify", 409,
            Json(w => HcsWriter.Write(w, new ProcessModifyRequest { Operation = "ConsoleSize", ConsoleSize = new ConsoleSize { Height = 40, Width = 100 } })),
            requestSchema: "ProcessModifyRequest", error: "HCS_E_INVALID_STATE"); // no console to resize
        await Expect(d, HttpMethod.Post, $"{p}/wait?timeoutMs=100", 408, error: "HCS_E_OPERATION_TIMEOUT");
        await Expect(d, HttpMethod.Post, $"{p}/signal", 204, """{"Signal":"SIGTERM"}""", requestSchema: "SignalRequest");
        var exited = await Expect(d, HttpMethod.Post, $"{p}/wait?timeoutMs=10000", 200);
        ExpectMember(exited, "Exited", true);
        await Expect(d, HttpMethod.Get, p, 200);
        await Expect(d, HttpMethod.Post, $"{p}/signal", 409, """{"Signal":9}""", requestSchema: "SignalRequest", error: "HCS_E_PROCESS_ALREADY_STOPPED");

        // ---- modify, pause, resume ----
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/modify", 200,
            """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":256}""", requestSchema: "ModifySettingRequest");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/modify", 200,
            """{"ResourcePath":"Container/Processor","RequestType":"Update","Settings":{"Weight":200}}""", requestSchema: "ModifySettingRequest");
        var shared = Hcsd.NewScratch();
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/modify", 200,
            $$$"""{"ResourcePath":"Container/MappedDirectories","RequestType":"Add","Settings":{"HostPath":"{{{shared}}}","ContainerPath":"/mnt/shared","ReadOnly":true}}""",
            requestSchema: "ModifySettingRequest");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/modify", 200,
            """{"ResourcePath":"Container/MappedDirectories","RequestType":"Remove","Settings":{"ContainerPath":"/mnt/shared"}}""",
            requestSchema: "ModifySettingRequest");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/modify", 400,
            """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":"lots"}""", error: "HCS_E_INVALID_JSON", path: "$.Settings");
        ExpectMember(await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/pause", 200), "State", "Paused");
        ExpectMember(await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}", 200), "State", "Paused");
        ExpectMember(await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/resume", 200), "State", "Running");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/wait?timeoutMs=100", 408, error: "HCS_E_OPERATION_TIMEOUT");

        // ---- errors ----
        await Expect(d, HttpMethod.Get, "v2/compute-systems/no-such-system", 404, error: "HCS_E_SYSTEM_NOT_FOUND");
        await Expect(d, HttpMethod.Post, "v2/compute-systems/no-such-system/start", 404, error: "HCS_E_SYSTEM_NOT_FOUND");
        await Expect(d, HttpMethod.Delete, $"v2/compute-systems/{id1}", 409, error: "HCS_E_INVALID_STATE");
        await Expect(d, HttpMethod.Post, "v2/compute-systems", 400,
            """{"Id":"bad-memory","Document":{"Container":{"Memory":{"SizeInMB":"lots"}}}}""", error: "HCS_E_INVALID_JSON", path: "$.Document.Container.Memory.SizeInMB");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/start", 400, "x", error: "HCS_E_INVALID_JSON");
        await UndescribedRoute(d, HttpMethod.Get, "v2/no-such-route", 404, "HCS_E_NOT_FOUND");

        // ---- shutdown, stopped state, delete ----
        var shutdown = await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/shutdown?timeoutMs=5000", 200);
        ExpectMember(shutdown, "ExitType", "GracefulExit");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/shutdown", 409, error: "HCS_E_SYSTEM_ALREADY_STOPPED");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/terminate", 409, error: "HCS_E_SYSTEM_ALREADY_STOPPED");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id1}/wait", 200);
        var stopped = await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}?properties=Statistics,ProcessList,Memory", 200);
        ExpectMember(stopped, "Stopped", true);
        await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}/logs", 200);
        await Expect(d, HttpMethod.Delete, $"v2/compute-systems/{id1}", 204);
        await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id1}", 404, error: "HCS_E_SYSTEM_NOT_FOUND");

        // ---- a second system: its own init started attached, logs, terminate ----
        var second = await Expect(d, HttpMethod.Post, "v2/compute-systems", 201,
            Create(id2, Hcsd.ContainerDocument("sh", "-c", "echo out; echo err >&2; echo hello-logs; exec sleep 600")),
            requestSchema: "CreateComputeSystemRequest");
        if (second.Status == 201)
        {
            await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id2}/start/attach", 400, error: "HCS_E_INVALID_JSON"); // not an upgrade
            ExpectMember(await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id2}", 200), "State", "Created");
            await AttachAsync(d, $"v2/compute-systems/{id2}/start/attach");
            ExpectMember(await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id2}", 200), "State", "Running");
            // the init's output reaches the log asynchronously
            for (int i = 0; i < 50 && !(await d.Http.GetStringAsync($"v2/compute-systems/{id2}/logs")).Contains("hello-logs"); i++)
                await Task.Delay(100);
            if (!(await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id2}/logs", 200)).Text.Contains("hello-logs"))
                Problem($"{id2}'s logs never showed its output");
            ExpectMember(await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id2}/terminate", 200), "ExitType", "ForcedExit");
            await Expect(d, HttpMethod.Get, $"v2/compute-systems/{id2}/logs?follow=true", 200);
            await Expect(d, HttpMethod.Delete, $"v2/compute-systems/{id2}?force=true", 204);
        }

        // ---- images and layers (docs/design/0006) ----
        await ImagesAndLayersAsync(d, "conf3-" + suffix);

        // ---- events ----
        var seen = await events.WaitForAsync(second.Status == 201 ? id2 : id1, "SystemDeleted", TimeSpan.FromSeconds(10));
        foreach (var type in new[] { "SystemCreated", "SystemStarted", "ProcessCreated", "ProcessExited", "SystemModified",
                                     "SystemPaused", "SystemResumed", "SystemExited", "SystemDeleted" })
            if (!seen.Contains((id1, type))) Problem($"no {type} event for {id1}");

        // ---- every operation was exercised ----
        foreach (var (template, item) in _contract.Paths)
            foreach (var (method, _) in item!.AsObject().Where(kv => kv.Key != "parameters"))
                if (!Covered($"{method.ToUpperInvariant()} {template}"))
                    Problem($"the session never called {method.ToUpperInvariant()} {template}");

        lock (_problems) Assert.True(_problems.Count == 0, $"{_problems.Count} problems:\n" + string.Join("\n", _problems));
    }

    private async Task ImagesAndLayersAsync(Hcsd d, string id)
    {
        var busybox = File.ReadAllBytes(Images.ImageApiTests.BusyboxTar);
        var imported = await ExpectBytes(d, HttpMethod.Post, "v2/images/import?reference=busybox", 200, busybox, "application/x-tar");
        if (!imported.Text.Contains("\"Complete\"")) Problem($"the import's progress has no Complete line: {imported.Text}");
        await ExpectBytes(d, HttpMethod.Post, "v2/images/import", 400, new byte[4096], "application/x-tar", error: "HCS_E_INVALID_LAYER");
        await Expect(d, HttpMethod.Get, "v2/images", 200);
        await Expect(d, HttpMethod.Get, "v2/images/inspect?reference=busybox", 200);
        await Expect(d, HttpMethod.Get, "v2/images/inspect?reference=no-such-image:1", 404, error: "HCS_E_IMAGE_NOT_FOUND");
        await Expect(d, HttpMethod.Get, "v2/images/inspect?reference=Not/A/Reference", 400, error: "HCS_E_INVALID_JSON", path: "reference");
        await Expect(d, HttpMethod.Post, "v2/images/tag?source=busybox&target=conformance:1", 204);
        await Expect(d, HttpMethod.Get, "v2/images/export?reference=conformance:1", 200);
        await Expect(d, HttpMethod.Get, "v2/images/export?reference=no-such-image:1", 404, error: "HCS_E_IMAGE_NOT_FOUND");
        await Expect(d, HttpMethod.Delete, "v2/images?reference=conformance:1", 204);
        // nothing listens on port 9: the registry cannot be reached
        await Expect(d, HttpMethod.Post, "v2/images/pull", 502, """{"Reference":"127.0.0.1:9/nothing:1"}""", requestSchema: "PullRequest", error: "HCS_E_REGISTRY_ERROR");
        await Expect(d, HttpMethod.Post, "v2/images/pull", 400, """{"Reference":"busybox","Tag":"x"}""", error: "HCS_E_INVALID_JSON", path: "$.Tag");

        var container = Create(id, new ComputeSystem
        {
            SchemaVersion = new SchemaVersion { Major = 2, Minor = 1 }, Owner = "tests",
            Container = new Container { Storage = new Storage { Image = "busybox" } },
        });
        await Expect(d, HttpMethod.Post, "v2/compute-systems", 201, container, requestSchema: "CreateComputeSystemRequest");
        await Expect(d, HttpMethod.Delete, "v2/images?reference=busybox", 409, error: "HCS_E_INVALID_STATE");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id}/commit", 201, """{"Reference":"conformance:2","Comment":"c"}""", requestSchema: "CommitRequest");
        await Expect(d, HttpMethod.Post, $"v2/compute-systems/{id}/commit", 400, """{"Reference":"conformance:2","Bogus":1}""", error: "HCS_E_INVALID_JSON", path: "$.Bogus");
        await Expect(d, HttpMethod.Delete, $"v2/compute-systems/{id}?force=true", 204);
        await Expect(d, HttpMethod.Post, "v2/compute-systems", 404,
            Create(id, new ComputeSystem { SchemaVersion = new SchemaVersion { Major = 2, Minor = 1 }, Container = new Container { Storage = new Storage { Image = "no-such-image:1" } } }),
            error: "HCS_E_IMAGE_NOT_FOUND", path: "$.Document.Container.Storage.Image");

        var layers = await Expect(d, HttpMethod.Get, "v2/layers", 200);
        var chain = layers.Json?.AsArray().Select(l => l!["ChainId"]!.GetValue<string>()).FirstOrDefault() ?? "sha256:" + new string('0', 64);
        await Expect(d, HttpMethod.Get, $"v2/layers/{chain}", 200);
        await Expect(d, HttpMethod.Get, $"v2/layers/sha256:{new string('0', 64)}", 404, error: "HCS_E_LAYER_NOT_FOUND");
        var tar = await ExpectBytes(d, HttpMethod.Get, $"v2/layers/{chain}/export", 200, null, null);
        var again = await ExpectBytes(d, HttpMethod.Post, $"v2/layers?parent={chain}", 201, tar.Body, "application/x-tar");
        await Expect(d, HttpMethod.Delete, $"v2/layers/{chain}", 409, error: "HCS_E_INVALID_STATE");
        if (again.Json?["ChainId"]?.GetValue<string>() is { } top) await Expect(d, HttpMethod.Delete, $"v2/layers/{top}", 204);
        await Expect(d, HttpMethod.Delete, "v2/images?reference=conformance:2", 204);
        await Expect(d, HttpMethod.Delete, "v2/images?reference=busybox", 204);
        var pruned = await Expect(d, HttpMethod.Post, "v2/images/prune", 200);
        if (pruned.Json?["LayersDeleted"]?.AsArray().Count is not > 0) Problem($"prune removed no layer: {pruned.Text}");
    }

    /// <summary>As <see cref="Expect"/>, for a body that is not JSON (an archive) or none.</summary>
    private async Task<Answer> ExpectBytes(Hcsd d, HttpMethod method, string target, int expected, byte[]? body, string? contentType, string? error = null)
    {
        using var request = new HttpRequestMessage(method, target);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType!);
        }
        using var response = await d.Http.SendAsync(request);
        var answer = new Answer((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync());
        Record(method.Method, "/" + target, answer.Status, response.Content.Headers.ContentType?.ToString(), answer.Body);
        output.WriteLine($"{method} /{target} → {answer.Status} ({answer.Body.Length} bytes)");
        if (answer.Status != expected) Problem($"{method} /{target}: expected {expected}, got {answer.Status}: {OpenApiContract.Preview(answer.Body)}");
        else if (error is not null && answer.Json?["Error"]?.GetValue<string>() != error) Problem($"{method} /{target}: expected error {error}: {answer.Text}");
        return answer;
    }

    internal static string? Missing() =>
        new[] { Hcsd.Binary, Hcsd.MonitorBinary, Hcsd.PauseBinary }.FirstOrDefault(b => !File.Exists(b)) is { } b
            ? $"{b} is missing (scripts/build.sh installs it)" : null;

    private static string Json(Action<Utf8JsonWriter> write) => Encoding.UTF8.GetString(HcsWriter.ToUtf8(write));

    private static string Create(string id, ComputeSystem doc) =>
        Json(w => HcsWriter.Write(w, new CreateComputeSystemRequest { Id = id, Document = doc }));

    /// <summary>Sends a request, checks the answer against the document and the expected status
    /// (and error name, and error path), records every mismatch.</summary>
    private async Task<Answer> Expect(Hcsd d, HttpMethod method, string target, int expected, string? body = null,
                                      string? requestSchema = null, string? error = null, string? path = null)
    {
        if (body is not null && requestSchema is not null)
            foreach (var e in _contract.Validate(requestSchema, body))
                Problem($"{method} /{target}: the request body (valid, as the daemon sees it) fails {requestSchema}: {e}");
        using var request = new HttpRequestMessage(method, target);
        if (body is not null) request.Content = Hcsd.Body(body);
        using var response = await d.Http.SendAsync(request);
        var answer = new Answer((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync());
        var contentType = response.Content.Headers.ContentType?.ToString();
        Record(method.Method, "/" + target, answer.Status, contentType, answer.Body);

        output.WriteLine($"{method} /{target} → {answer.Status} {OpenApiContract.Preview(answer.Body, 200)}");
        if (answer.Status != expected)
            Problem($"{method} /{target}: expected {expected}, got {answer.Status}: {OpenApiContract.Preview(answer.Body)}");
        else if (error is not null || path is not null)
        {
            var e = answer.Json;
            if (error is not null && e?["Error"]?.GetValue<string>() != error)
                Problem($"{method} /{target}: expected error {error}: {answer.Text}");
            if (path is not null && e?["Path"]?.GetValue<string>() != path && e?["Errors"]?.AsArray().Any(x => x?["Path"]?.GetValue<string>() == path) != true)
                Problem($"{method} /{target}: expected an error at {path}: {answer.Text}");
        }
        return answer;
    }

    private void Record(string method, string path, int status, string? contentType, byte[] body)
    {
        if (_contract.FindOperation(method, path) is { } op) lock (_covered) _covered.Add($"{method} {op.Template}");
        foreach (var p in _contract.CheckResponse(method, path, status, contentType, body)) Problem(p);
    }

    private bool Covered(string operation)
    {
        lock (_covered) return _covered.Contains(operation);
    }

    private void Problem(string text)
    {
        lock (_problems) _problems.Add(text);
    }

    /// <summary>A route the document does not describe still answers with an ErrorResponse.</summary>
    private async Task UndescribedRoute(Hcsd d, HttpMethod method, string target, int expected, string error)
    {
        using var response = await d.Http.SendAsync(new HttpRequestMessage(method, target));
        var body = await response.Content.ReadAsByteArrayAsync();
        if ((int)response.StatusCode != expected) Problem($"{method} /{target}: expected {expected}, got {(int)response.StatusCode}");
        foreach (var e in _contract.Validate("ErrorResponse", body)) Problem($"{method} /{target}: {e}");
        if (!Encoding.UTF8.GetString(body).Contains($"\"{error}\"")) Problem($"{method} /{target}: expected {error}: {Encoding.UTF8.GetString(body)}");
    }

    private void ExpectMember(Answer a, string member, object expected)
    {
        var actual = a.Json?[member];
        bool same = expected switch
        {
            bool b => actual?.GetValueKind() is JsonValueKind.True or JsonValueKind.False && actual.GetValue<bool>() == b,
            string s => actual?.GetValueKind() == JsonValueKind.String && actual.GetValue<string>() == s,
            _ => false,
        };
        if (!same) Problem($"expected {member} = {expected}: {a.Text}");
    }

    /// <summary>Attaches over a WebSocket (101), reads the output the process wrote before anyone
    /// attached, and leaves; the process must not mind.</summary>
    private async Task AttachAsync(Hcsd d, string target)
    {
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(d.SocketPath), ct);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
        });
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await ws.ConnectAsync(new Uri("ws://hcs/" + target), invoker, cts.Token);
        }
        catch (WebSocketException e)
        {
            Problem($"GET /{target}: WebSocket refused ({(int)ws.HttpStatusCode}): {e.Message}");
            lock (_covered) _covered.Add("GET " + _contract.FindOperation("GET", "/" + target)?.Template);
            return;
        }
        Record("GET", "/" + target, (int)ws.HttpStatusCode, null, []);
        var streams = new Dictionary<byte, StringBuilder> { [1] = new(), [2] = new() };
        var buffer = new byte[64 * 1024];
        try
        {
            while (!(streams[1].ToString().Contains("out") && streams[2].ToString().Contains("err")))
            {
                var r = await ws.ReceiveAsync(buffer, cts.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                if (r.Count > 0 && streams.TryGetValue(buffer[0], out var sb)) sb.Append(Encoding.UTF8.GetString(buffer, 1, r.Count - 1));
            }
        }
        catch (OperationCanceledException) { }
        if (!streams[1].ToString().Contains("out") || !streams[2].ToString().Contains("err"))
            Problem($"GET /{target}: attach delivered stdout \"{streams[1]}\" and stderr \"{streams[2]}\", not out/err");
        ws.Abort();
    }

    /// <summary>Reads GET /v2/events in the background; every line is checked against the document.</summary>
    private sealed class EventRecorder(string socket, string target, OpenApiConformanceTests test) : IDisposable
    {
        private readonly HttpClient _http = Hcsd.UnixHttp(socket);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<(string Id, string Type)> _seen = [];
        private Task? _reading;

        public async Task StartAsync()
        {
            _http.Timeout = Timeout.InfiniteTimeSpan;
            var response = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Get, target), HttpCompletionOption.ResponseHeadersRead, _stop.Token);
            var contentType = response.Content.Headers.ContentType?.ToString();
            test.Record("GET", "/" + target, (int)response.StatusCode, contentType, []);
            _reading = Task.Run(async () =>
            {
                try
                {
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token));
                    while (await reader.ReadLineAsync(_stop.Token) is { } line)
                    {
                        if (line.Length == 0) continue;
                        test.Record("GET", "/" + target, (int)response.StatusCode, contentType, Encoding.UTF8.GetBytes(line));
                        var n = JsonNode.Parse(line);
                        lock (_seen) _seen.Add((n?["Id"]?.GetValue<string>() ?? "", n?["Type"]?.GetValue<string>() ?? ""));
                    }
                }
                catch (OperationCanceledException) { }
                catch (IOException) { }
            });
        }

        public async Task<HashSet<(string, string)>> WaitForAsync(string id, string type, TimeSpan timeout)
        {
            var until = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < until)
            {
                lock (_seen) if (_seen.Contains((id, type))) break;
                await Task.Delay(50);
            }
            lock (_seen) return [.. _seen];
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _reading?.Wait(2000); } catch (AggregateException) { }
            _http.Dispose();
        }
    }
}
