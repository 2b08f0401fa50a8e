using System.Net.WebSockets;
using System.Text.Json;
using Hcs.Daemon.Compute;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Monitor;
using Microsoft.AspNetCore.Connections.Features;

namespace Hcs.Daemon.Api;

/// <summary>The v2 routes (docs/design/0003-hcsd-api.md). Bodies are read whole (bounded by
/// Kestrel's limit) and parsed strictly; every failure is an HCS error document.</summary>
public static class HcsApi
{
    private static readonly string[] PropertyNames = ["Statistics", "ProcessList", "Memory"];

    public static void Map(WebApplication app, ServiceInfo info)
    {
        var v2 = app.MapGroup("/v2");
        v2.MapGet("/service", () => Json(200, w => HcsWriter.Write(w, info)));
        v2.MapGet("/openapi.json", OpenApi);

        v2.MapGet("/compute-systems", (HttpRequest req, ComputeService cs) =>
        {
            var ids = ListQuery(req, "Ids");
            var owners = ListQuery(req, "Owners");
            var state = req.Query["State"].ToString();
            if (state.Length > 0 && state is not (SystemStates.Created or SystemStates.Running or SystemStates.Paused or SystemStates.Stopped))
                throw new HcsException(HcsError.InvalidJson, "State must be Created, Running, Paused or Stopped", "State");
            var list = cs.All()
                .Where(s => s.State != SystemStates.Creating)
                .Where(s => ids is null || ids.Contains(s.Id))
                .Where(s => owners is null || (s.Owner is not null && owners.Contains(s.Owner)))
                .Where(s => state.Length == 0 || s.State == state)
                .OrderBy(s => s.Created)
                .Select(cs.SummaryOf).ToList();
            return Json(200, w =>
            {
                w.WriteStartArray();
                foreach (var s in list) HcsWriter.Write(w, s);
                w.WriteEndArray();
            });
        });

        v2.MapPost("/compute-systems", async (HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            Linux.PerfTrace.Mark("hcsd route: create");
            var request = HcsReader.ReadCreateRequest(await Body(req, ct));
            Linux.PerfTrace.Mark("hcsd route: create read");
            var s = await cs.CreateAsync(request, ct);
            return Json(201, w => HcsWriter.Write(w, cs.SummaryOf(s)));
        });

        v2.MapGet("/compute-systems/{id}", (string id, HttpRequest req, ComputeService cs) =>
        {
            var s = cs.Find(id);
            var query = ListQuery(req, "properties") ?? [];
            foreach (var q in query)
                if (!PropertyNames.Contains(q))
                    throw new HcsException(HcsError.InvalidJson, $"unknown property query \"{q}\": one of {string.Join(", ", PropertyNames)}", "properties");
            return Json(200, w => HcsWriter.Write(w, cs.PropertiesOf(s, query)));
        });

        // start, pause and resume: no body, the new properties back
        foreach (var (action, run) in new (string, Func<ComputeService, string, CancellationToken, Task>)[]
                 { ("start", (cs, id, ct) => cs.StartAsync(id, ct)), ("pause", (cs, id, ct) => cs.PauseAsync(id, ct)),
                   ("resume", (cs, id, ct) => cs.ResumeAsync(id, ct)) })
        {
            v2.MapPost($"/compute-systems/{{id}}/{action}", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
            {
                await NoBody(req, ct);
                await run(cs, id, ct);
                return Json(200, w => HcsWriter.Write(w, cs.PropertiesOf(cs.Find(id), [])));
            });
        }
        v2.MapPost("/compute-systems/{id}/shutdown", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            await NoBody(req, ct);
            var timeout = Timeout(req) ?? TimeSpan.FromSeconds(10);
            var status = await cs.ShutdownAsync(id, timeout, ct);
            return Json(200, w => HcsWriter.Write(w, status));
        });
        v2.MapPost("/compute-systems/{id}/terminate", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            await NoBody(req, ct);
            var status = await cs.TerminateAsync(id, ct);
            return Json(200, w => HcsWriter.Write(w, status));
        });
        v2.MapPost("/compute-systems/{id}/wait", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            await NoBody(req, ct);
            var status = await cs.WaitAsync(id, Timeout(req), ct);
            return Json(200, w => HcsWriter.Write(w, status));
        });
        v2.MapPost("/compute-systems/{id}/modify", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            var request = HcsReader.ReadModifySettingRequest(await Body(req, ct));
            await cs.ModifyAsync(id, request, ct);
            return Json(200, w => HcsWriter.Write(w, cs.PropertiesOf(cs.Find(id), [])));
        });
        v2.MapDelete("/compute-systems/{id}", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            var force = BoolQuery(req, "force");
            await cs.DeleteAsync(id, force, ct);
            return Results.NoContent();
        });

        // ---- processes ----
        v2.MapPost("/compute-systems/{id}/processes", async (string id, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            var parameters = HcsReader.ReadProcessParameters(await Body(req, ct));
            var p = await cs.CreateProcessAsync(id, parameters, ct);
            return Json(201, w =>
            {
                w.WriteStartObject();
                w.WriteNumber("ProcessId", p.Pid);
                w.WriteEndObject();
            });
        });
        v2.MapGet("/compute-systems/{id}/processes/{pid}", (string id, string pid, ComputeService cs) =>
        {
            var s = cs.Find(id);
            var p = cs.FindProcess(s, Pid(pid));
            return Json(200, w => HcsWriter.Write(w, cs.ProcessStatusOf(s, p)));
        });
        v2.MapPost("/compute-systems/{id}/processes/{pid}/signal", async (string id, string pid, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            var body = await Body(req, ct);
            var signal = body.Length == 0 ? 15 : HcsReader.ReadSignal(body).Signal;
            await cs.SignalProcessAsync(id, Pid(pid), signal, ct);
            return Results.NoContent();
        });
        v2.MapPost("/compute-systems/{id}/processes/{pid}/modify", async (string id, string pid, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            var request = HcsReader.ReadProcessModifyRequest(await Body(req, ct));
            await cs.ModifyProcessAsync(id, Pid(pid), request, ct);
            return Results.NoContent();
        });
        v2.MapPost("/compute-systems/{id}/processes/{pid}/wait", async (string id, string pid, HttpRequest req, ComputeService cs, CancellationToken ct) =>
        {
            await NoBody(req, ct);
            var status = await cs.WaitProcessAsync(id, Pid(pid), Timeout(req), ct);
            return Json(200, w => HcsWriter.Write(w, status));
        });
        v2.MapGet("/compute-systems/{id}/processes/{pid}/attach", (HttpContext ctx, string id, string pid, ComputeService cs) =>
        {
            var s = cs.Find(id);
            return Attach(ctx, s, cs.FindProcess(s, Pid(pid)), cs, start: false, remove: false);
        });
        // start, attached: the init's stdio first, then the start, then the upgrade (`hcs run`);
        // with remove=true the system is deleted once the init has exited, before the exit code
        // goes out (`hcs run --rm`: no delete of its own to wait for)
        v2.MapGet("/compute-systems/{id}/start/attach", (HttpContext ctx, string id, ComputeService cs) =>
        {
            var s = cs.Find(id);
            bool remove = BoolQuery(ctx.Request, "remove");
            if (s.InitPid == 0)
                throw new HcsException(HcsError.InvalidState, $"compute system \"{id}\" has no init to attach to");
            return Attach(ctx, s, cs.FindProcess(s, s.InitPid), cs, start: true, remove);
        });
        v2.MapGet("/compute-systems/{id}/logs", Logs);
        v2.MapGet("/events", Events);
    }

    // ---- helpers -----------------------------------------------------------------------

    public static IResult Json(int status, Action<Utf8JsonWriter> write) => new JsonBytes(status, HcsWriter.ToUtf8(write));

    /// <summary>A JSON body already serialised, with its length.</summary>
    internal sealed class JsonBytes(int status, byte[] body) : IResult
    {
        public Task ExecuteAsync(HttpContext ctx)
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            ctx.Response.ContentLength = body.Length;
            return ctx.Response.Body.WriteAsync(body).AsTask();
        }
    }

    internal static async Task<byte[]> Body(HttpRequest req, CancellationToken ct)
    {
        // as docker's API: JSON or nothing said; a form or text body is a client mistake
        if (req.ContentType is { Length: > 0 } type &&
            !type.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase))
            throw new HcsException(HcsError.InvalidJson, $"Content-Type \"{type}\" is not application/json");
        using var ms = new MemoryStream();
        await req.Body.CopyToAsync(ms, ct);
        return ms.ToArray();
    }

    /// <summary>Actions take no body: one that comes anyway is a mistake worth reporting.</summary>
    private static async Task NoBody(HttpRequest req, CancellationToken ct)
    {
        var body = await Body(req, ct);
        if (body.AsSpan().Trim(" \t\r\n"u8).Length > 0 && !body.AsSpan().Trim(" \t\r\n"u8).SequenceEqual("{}"u8))
            throw new HcsException(HcsError.InvalidJson, "this action takes no body", "$");
    }

    private static int Pid(string text) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, null, out var pid) && pid >= 0 ? pid
            : throw new HcsException(HcsError.InvalidJson, $"process id \"{text}\" is not a number", "pid");

    private static HashSet<string>? ListQuery(HttpRequest req, string name)
    {
        if (!req.Query.TryGetValue(name, out var values)) return null;
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in values)
            foreach (var part in (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                set.Add(part);
        return set;
    }

    internal static bool BoolQuery(HttpRequest req, string name)
    {
        var v = req.Query[name].ToString();
        return v.Length == 0 ? false : v is "true" or "1" ? true : v is "false" or "0" ? false
            : throw new HcsException(HcsError.InvalidJson, $"{name} must be true or false", name);
    }

    private static TimeSpan? Timeout(HttpRequest req)
    {
        var v = req.Query["timeoutMs"].ToString();
        if (v.Length == 0) return null;
        if (!long.TryParse(v, System.Globalization.NumberStyles.None, null, out var ms) || ms > int.MaxValue)
            throw new HcsException(HcsError.InvalidJson, "timeoutMs must be a number of milliseconds (0 to 2147483647)", "timeoutMs");
        return TimeSpan.FromMilliseconds(ms);
    }

    private static IResult OpenApi()
    {
        var stream = typeof(HcsApi).Assembly.GetManifestResourceStream("openapi.json");
        return stream is null
            ? throw new HcsException(HcsError.NotFound, "this build carries no OpenAPI document")
            : Results.Stream(stream, "application/json");
    }

    // ---- streams -----------------------------------------------------------------------

    /// <summary>The process's stdio over a WebSocket, relayed frame for frame to the monitor.
    /// A client leaving ends only the relay: the process keeps running. With start (p is the
    /// init): attach, then start the system, then upgrade; a failed start is answered as the
    /// start's own error, and the attachment is let go.</summary>
    private static async Task Attach(HttpContext ctx, SystemEntry s, ProcessEntry p, ComputeService cs, bool start, bool remove)
    {
        var id = s.Id;
        if (!ctx.WebSockets.IsWebSocketRequest)
            throw new HcsException(HcsError.InvalidJson, "attach needs a WebSocket upgrade (GET with Upgrade: websocket)");
        Linux.PerfTrace.Mark("hcsd attach: begin");
        var (stream, _) = await cs.AttachAsync(s, p, ctx.RequestAborted);
        Linux.PerfTrace.Mark("hcsd attach: monitor attached");
        if (start)
        {
            try { await cs.StartAsync(id, ctx.RequestAborted); }
            catch
            {
                await stream.DisposeAsync();
                throw;
            }
        }
        await using var monitor = stream;
        using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
        Linux.PerfTrace.Mark("hcsd attach: accepted");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        var toClient = Task.Run(async () =>
        {
            try
            {
                for (;;)
                {
                    var frame = await Frames.ReadAsync(monitor, stop.Token);
                    if (frame is null) break;
                    bool exit = frame.Length > 0 && frame[0] == AttachStream.Exit;
                    // The exit comes to us twice: on this stream and as the monitor's event. A
                    // client told of it here may ask for the status (or delete) at once, so the
                    // event's bookkeeping goes first (bounded: a lost event must not hold the exit).
                    if (exit) await cs.ExitRecordedAsync(s, p, TimeSpan.FromSeconds(2));
                    if (exit && remove && await RemovedAsync(cs, id))
                        await ws.SendAsync(RemovedFrame, WebSocketMessageType.Binary, true, stop.Token);
                    await ws.SendAsync(frame, WebSocketMessageType.Binary, true, stop.Token);
                    if (exit) break;
                }
                if (ws.State == WebSocketState.Open)
                    await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "exited", CancellationToken.None);
            }
            catch (Exception) { }
        });
        var fromClient = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            using var message = new MemoryStream();
            try
            {
                for (;;)
                {
                    var r = await ws.ReceiveAsync(buffer, stop.Token);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    message.Write(buffer, 0, r.Count);
                    if (!r.EndOfMessage) continue;
                    await Frames.WriteAsync(monitor, message.ToArray(), stop.Token);
                    message.SetLength(0);
                }
            }
            catch (Exception) { }
        });
        await toClient;
        // give the client a moment to answer the close; a vanished client must not hold the relay
        await Task.WhenAny(fromClient, Task.Delay(1000));
        stop.Cancel();
    }

    private static readonly byte[] RemovedFrame = [AttachStream.Removed];

    /// <summary>The delete a start/attach with remove=true asked for, once the init has exited.
    /// False when it did not happen (the client is then told nothing, and deletes as usual).</summary>
    private static async Task<bool> RemovedAsync(ComputeService cs, string id)
    {
        try
        {
            await cs.DeleteAsync(id, force: false, CancellationToken.None);
            return true;
        }
        catch (Exception)
        {
            // refused (still running, deleted meanwhile) or failed: the exit code goes out all the
            // same, without "removed", and the client deletes (and hears why) itself
            return false;
        }
    }

    /// <summary>The init's output as NDJSON {"Time","Stream","Data"} lines; follow=true keeps
    /// streaming until the system stops.</summary>
    private static async Task Logs(HttpContext ctx, string id, ComputeService cs)
    {
        var s = cs.Find(id);
        bool follow = BoolQuery(ctx.Request, "follow");
        ctx.Response.ContentType = "application/x-ndjson";
        await ctx.Response.StartAsync();
        if (s.LogPath is null || !File.Exists(s.LogPath)) return;
        await using var file = new FileStream(s.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var ct = ctx.RequestAborted;
        var buffer = new byte[64 * 1024];
        try
        {
            for (;;)
            {
                int n = await file.ReadAsync(buffer, ct);
                if (n > 0)
                {
                    await ctx.Response.Body.WriteAsync(buffer.AsMemory(0, n), ct);
                    continue;
                }
                await ctx.Response.Body.FlushAsync(ct);
                if (!follow) return;
                if (s.Exited.Task.IsCompleted)
                {
                    // the monitor may still be appending the last lines
                    await Task.Delay(50, ct);
                    if (file.Position >= file.Length) return;
                    continue;
                }
                await Task.WhenAny(s.Exited.Task, Task.Delay(100, ct));
            }
        }
        catch (OperationCanceledException) { }
    }

    private static async Task Events(HttpContext ctx, ComputeService cs)
    {
        var ids = ListQuery(ctx.Request, "Ids");
        var (reader, subscription) = cs.Events.Subscribe();
        using var _ = subscription;
        ctx.Response.ContentType = "application/x-ndjson";
        await ctx.Response.StartAsync();
        await ctx.Response.Body.FlushAsync();
        var ct = ctx.RequestAborted;
        try
        {
            await foreach (var n in reader.ReadAllAsync(ct))
            {
                if (ids is not null && !ids.Contains(n.Id)) continue;
                var line = HcsWriter.ToUtf8(w => HcsWriter.Write(w, n));
                await ctx.Response.Body.WriteAsync(line, ct);
                await ctx.Response.Body.WriteAsync("\n"u8.ToArray(), ct);
                if (reader.Count == 0) await ctx.Response.Body.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException) { }
    }

    // ---- errors ------------------------------------------------------------------------

    public static async Task WriteError(HttpContext ctx, HcsError error, string message, string? path = null,
                                        IReadOnlyList<DocumentError>? errors = null, int? status = null)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.StatusCode = status ?? error.HttpStatus;
        ctx.Response.ContentType = "application/json";
        // also as a header: a refused WebSocket upgrade shows clients the status and headers only
        ctx.Response.Headers["Hcs-Error"] = error.Name;
        var body = HcsWriter.ToUtf8(w => HcsWriter.Write(w, new ErrorResponse
        {
            Error = error.Name, Message = message, Path = path, Errors = errors is null ? null : [.. errors],
        }));
        await ctx.Response.Body.WriteAsync(body);
    }

    /// <summary>Outermost middleware: the peer check, then every exception as an HCS error.</summary>
    public static async Task Guard(HttpContext ctx, RequestDelegate next, PeerCredentials peers, ILogger log)
    {
        var socket = ctx.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (PeerCredentials.Of(socket) is not { } peer || !peers.Allows(peer))
        {
            await WriteError(ctx, HcsError.AccessDenied, "this user may not use hcsd (root, or a member of the group given with --group)");
            return;
        }
        try
        {
            await next(ctx);
        }
        catch (HcsException e)
        {
            await WriteError(ctx, e.Error, e.Detail, e.Path, e.Errors);
        }
        catch (DocumentException e)
        {
            var h = HcsException.From(e);
            await WriteError(ctx, h.Error, h.Detail, h.Path, h.Errors);
        }
        catch (BadHttpRequestException e)
        {
            await WriteError(ctx, HcsError.InvalidJson, e.Message, status: e.StatusCode is >= 400 and < 500 ? e.StatusCode : 400);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // the client left
        }
        catch (Exception e)
        {
            log.LogError(e, "{Method} {Path}", ctx.Request.Method, ctx.Request.Path);
            await WriteError(ctx, HcsError.Internal, e.Message);
        }
    }
}
