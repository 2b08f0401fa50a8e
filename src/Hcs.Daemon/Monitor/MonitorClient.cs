using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Hcs.Schema.Hcs;
using Hcs.Schema.Monitor;

namespace Hcs.Daemon.Monitor;

/// <summary>
/// hcsd's side of the monitor protocol (src/Hcs.Schema/Monitor): a small pool of request
/// connections, one long-lived subscription for exits, and a fresh connection per attach.
/// Starts the monitor when none answers.
/// </summary>
public sealed class MonitorClient(string runDir, string monitorBinary, ILogger log) : IAsyncDisposable
{
    private readonly string _socket = Path.Combine(runDir, "monitor.sock");
    private readonly ConcurrentBag<NetworkStream> _idle = [];
    private const int MaxIdle = 4;
    private readonly SemaphoreSlim _starting = new(1, 1);

    public async Task EnsureRunningAsync(CancellationToken ct = default)
    {
        if (await TryConnectAsync(ct) is { } s)
        {
            _idle.Add(s);
            return;
        }
        await _starting.WaitAsync(ct);
        try
        {
            if (await TryConnectAsync(ct) is { } again)
            {
                _idle.Add(again);
                return;
            }
            if (!File.Exists(monitorBinary))
                throw new HcsException(HcsError.ServiceNotAvailable, $"hcs-monitor not found at {monitorBinary} (--monitor PATH)");
            log.LogInformation("starting {Monitor} --run-dir {RunDir}", monitorBinary, runDir);
            Directory.CreateDirectory(runDir);
            // setsid: the monitor leaves hcsd's session and process group, so stopping hcsd (a
            // terminal's ^C, a service manager's kill of the group) does not stop the containers.
            var psi = new ProcessStartInfo("/bin/sh")
            {
                ArgumentList = { "-c", "exec setsid \"$0\" --run-dir \"$1\" </dev/null >>\"$1/monitor.log\" 2>&1 &", monitorBinary, runDir },
                UseShellExecute = false,
            };
            using (var p = Process.Start(psi)!) await p.WaitForExitAsync(ct);
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                if (await TryConnectAsync(ct) is { } started)
                {
                    _idle.Add(started);
                    return;
                }
                await Task.Delay(5, ct);
            }
            throw new HcsException(HcsError.ServiceNotAvailable, $"hcs-monitor did not start (see {runDir}/monitor.log)");
        }
        finally
        {
            _starting.Release();
        }
    }

    private async Task<NetworkStream?> TryConnectAsync(CancellationToken ct)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await s.ConnectAsync(new UnixDomainSocketEndPoint(_socket), ct);
            return new NetworkStream(s, ownsSocket: true);
        }
        catch (SocketException)
        {
            s.Dispose();
            return null;
        }
    }

    private async Task<NetworkStream> ConnectAsync(CancellationToken ct)
    {
        if (await TryConnectAsync(ct) is { } s) return s;
        await EnsureRunningAsync(ct);
        return await TryConnectAsync(ct) ?? throw new HcsException(HcsError.ServiceNotAvailable, "cannot reach hcs-monitor");
    }

    /// <summary>One request, one response. A failure the monitor reports becomes the
    /// HcsException it names.</summary>
    public async Task<MonitorResponse> CallAsync(MonitorRequest request, CancellationToken ct = default)
    {
        var (conn, answer) = await ExchangeAsync(Frames.Json(request), "the connection", refill: false, ct);
        // a few idle connections are kept (each is a thread of hcs-monitor's); the rest close
        if (_idle.Count < MaxIdle) _idle.Add(conn);
        else conn.Dispose();
        var response = Frames.Response(answer) ?? throw new HcsException(HcsError.ProtocolError, "unreadable monitor response");
        ThrowIfError(response);
        return response;
    }

    public static void ThrowIfError(MonitorResponse r)
    {
        if (r.Error is null) return;
        var error = HcsError.ByName(r.Error) ?? HcsError.Internal;
        throw new HcsException(error, r.Message ?? r.Error, r.Errors is { Count: > 0 } ? r.Errors[0].Path : null,
            r.Errors?.Select(e => new Schema.DocumentError(e.Path, e.Message)).ToList());
    }

    // ---- blocking calls ----------------------------------------------------------------

    /// <summary>Idle connections only ever used with blocking calls: .NET runs a socket that has
    /// seen one asynchronous operation through its epoll thread for good, so these never do.</summary>
    private readonly ConcurrentBag<NetworkStream> _blockingIdle = [];

    /// <summary>A request and its answer on the calling thread, for the requests on a
    /// container's critical path (create, start, delete). A blocked receive is woken by the
    /// kernel directly; an awaited one first wakes .NET's epoll thread, which hands the
    /// continuation to a pool worker, which wakes in turn (about 0.04 ms per call, measured).
    /// The caller's pool thread waits for the monitor, as it does for the store (hcsd raises the
    /// pool's minimum for that, Program.cs). <paramref name="meanwhile"/> runs once the request
    /// is sent, before the answer is read (the caller's store write); its exception is thrown
    /// after the answer was read, unless the monitor reported a failure of its own, which is
    /// thrown instead. Falls back to <see cref="CallAsync"/> when no monitor answers (that path
    /// starts one).</summary>
    public MonitorResponse Call(MonitorRequest request, Action? meanwhile = null)
    {
        var frame = Frames.Frame(Frames.Json(request));
        Exception? meanwhileError = null;
        bool ranMeanwhile = false;
        void RunMeanwhile()
        {
            if (ranMeanwhile || meanwhile is null) return;
            ranMeanwhile = true;
            try { meanwhile(); }
            catch (Exception e) { meanwhileError = e; }
        }
        for (int attempt = 0; ; attempt++)
        {
            NetworkStream? pooled = null;
            var conn = attempt == 0 && _blockingIdle.TryTake(out pooled) ? pooled : TryConnectBlocking();
            if (conn is null)
            {
                // no monitor answers (it is starting): the ordinary path, which starts it
                var sent = CallAsync(request);
                RunMeanwhile();
                var answered = sent.GetAwaiter().GetResult(); // throws the monitor's failure first
                if (meanwhileError is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(meanwhileError);
                return answered;
            }
            byte[]? answer;
            try
            {
                conn.Write(frame);
                RunMeanwhile();
                answer = Frames.Read(conn);
            }
            catch (Exception e) when (e is IOException or SocketException && attempt == 0 && pooled is not null)
            {
                conn.Dispose();
                Drain(_blockingIdle);
                continue;
            }
            catch
            {
                conn.Dispose();
                throw;
            }
            if (answer is null)
            {
                conn.Dispose();
                if (attempt == 0 && pooled is not null) { Drain(_blockingIdle); continue; }
                throw new HcsException(HcsError.ConnectionClosed, "hcs-monitor closed the connection");
            }
            if (_blockingIdle.Count < MaxIdle) _blockingIdle.Add(conn);
            else conn.Dispose();
            var response = Frames.Response(answer) ?? throw new HcsException(HcsError.ProtocolError, "unreadable monitor response");
            ThrowIfError(response); // the monitor's own failure says more (a document's errors, their paths)
            if (meanwhileError is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(meanwhileError);
            return response;
        }
    }

    private NetworkStream? TryConnectBlocking()
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(_socket));
            return new NetworkStream(s, ownsSocket: true);
        }
        catch (SocketException)
        {
            s.Dispose();
            return null;
        }
    }


    /// <summary>A connection streaming one process's stdio (frames as the public attach protocol).
    /// An idle connection is taken when there is one: hcs-monitor already has a thread reading
    /// it, where a new connection would first wait for the accept and a new thread (0.2-0.3 ms
    /// of every `hcs run`). A fresh idle connection replaces it in the background.</summary>
    public async Task<(NetworkStream Stream, MonitorResponse Info)> AttachAsync(string id, int pid, CancellationToken ct)
    {
        var payload = Frames.Json(new MonitorRequest { Op = MonitorOps.Attach, Id = id, Pid = pid });
        var (conn, answer) = await ExchangeAsync(payload, "the attach", refill: true, ct);
        try
        {
            var info = Frames.Response(answer) ?? throw new HcsException(HcsError.ProtocolError, "unreadable monitor response");
            ThrowIfError(info);
            return (conn, info);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }

    /// <summary>Writes one request and reads its answer, on an idle connection when there is one
    /// (then, with <paramref name="refill"/>, a fresh one is made for the pool in the background,
    /// as this one is not given back). An idle connection may have died with an earlier monitor:
    /// one retry on a fresh connection, only when nothing could have been processed (the write
    /// failed or the connection closed before any answer arrived); the other idle ones are as
    /// old and are dropped. The caller owns the connection returned.</summary>
    private async Task<(NetworkStream Conn, byte[] Answer)> ExchangeAsync(byte[] payload, string what, bool refill, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            NetworkStream? pooled = null;
            var conn = attempt == 0 && _idle.TryTake(out pooled) ? pooled : await ConnectAsync(ct);
            if (refill && pooled is not null) _ = RefillAsync();
            byte[]? answer;
            try
            {
                await Frames.WriteAsync(conn, payload, ct);
                answer = await Frames.ReadAsync(conn, ct);
            }
            catch (Exception e) when (e is IOException or SocketException && attempt == 0 && pooled is not null)
            {
                conn.Dispose();
                Drain(_idle);
                continue;
            }
            catch
            {
                conn.Dispose();
                throw;
            }
            if (answer is not null) return (conn, answer);
            conn.Dispose();
            if (attempt == 0 && pooled is not null) { Drain(_idle); continue; }
            throw new HcsException(HcsError.ConnectionClosed, $"hcs-monitor closed {what}");
        }
    }

    /// <summary>Closes every idle connection of a pool (they are as old as one found dead).</summary>
    private static void Drain(ConcurrentBag<NetworkStream> pool)
    {
        while (pool.TryTake(out var stale)) stale.Dispose();
    }

    /// <summary>One more idle connection, unless enough are kept already.</summary>
    private async Task RefillAsync()
    {
        if (_idle.Count >= MaxIdle) return;
        try
        {
            if (await TryConnectAsync(CancellationToken.None) is { } fresh)
            {
                if (_idle.Count < MaxIdle) _idle.Add(fresh);
                else fresh.Dispose();
            }
        }
        catch (Exception) { /* the next request connects itself */ }
    }

    /// <summary>Delivers every exit the monitor reports, reconnecting (and starting the monitor)
    /// when the connection drops. onConnected runs after each (re)subscription, so the caller
    /// can list what happened while nobody was listening.</summary>
    public async Task SubscribeAsync(Func<MonitorEvent, Task> onEvent, Func<Task> onConnected, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            NetworkStream? conn = null;
            try
            {
                conn = await ConnectAsync(ct);
                await Frames.WriteAsync(conn, Frames.Json(new MonitorRequest { Op = MonitorOps.Subscribe }), ct);
                var ok = await Frames.ReadAsync(conn, ct);
                if (ok is null) continue;
                await onConnected();
                for (;;)
                {
                    var frame = await Frames.ReadAsync(conn, ct);
                    if (frame is null) break;
                    if (Frames.Event(frame) is { } ev) await onEvent(ev);
                }
                log.LogWarning("hcs-monitor subscription ended; reconnecting");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogError("hcs-monitor subscription: {Message}", e.Message);
                await Task.Delay(200, ct).ContinueWith(_ => { });
            }
            finally
            {
                conn?.Dispose();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        Drain(_idle);
        Drain(_blockingIdle);
        return ValueTask.CompletedTask;
    }
}
