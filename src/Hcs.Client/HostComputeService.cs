using System.Runtime.CompilerServices;
using System.Text;
using Hcs.Schema.Hcs;

namespace Hcs.Client;

/// <summary>
/// A connection to hcsd, the Host Compute Service for Linux: the entry point of the client.
/// <code>
/// await using var hcs = new HostComputeService();
/// await using var system = await hcs.CreateComputeSystemAsync("web", document);
/// await system.StartAsync();
/// </code>
/// Every failure hcsd reports is an <see cref="HcsException"/> carrying the HCS error name
/// (<c>e.Error.Name</c>, e.g. HCS_E_SYSTEM_NOT_FOUND), its HRESULT, the HTTP status, and the JSON
/// path(s) of the input at fault. A daemon that cannot be reached is HCS_E_SERVICE_NOT_AVAILABLE
/// and a connection lost midway HCS_E_CONNECTION_CLOSED, both with HTTP status 0.
/// </summary>
public sealed class HostComputeService : IAsyncDisposable, IDisposable
{
    private readonly HcsConnection _connection;

    /// <summary>$HCS_SOCKET, or /run/hcs/hcs.sock.</summary>
    public static string DefaultSocketPath =>
        Environment.GetEnvironmentVariable("HCS_SOCKET") is { Length: > 0 } path ? path : "/run/hcs/hcs.sock";

    public HostComputeService(string? socketPath = null) : this(socketPath, new HostComputeServiceOptions()) { }

    public HostComputeService(string? socketPath, HostComputeServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _connection = new HcsConnection(socketPath ?? DefaultSocketPath, options.BlockingTransport);
        Images = new ImageStoreClient(_connection);
    }

    /// <summary>The image and layer store: pull, import, export, list, inspect, remove, prune.</summary>
    public ImageStoreClient Images { get; }

    /// <summary>The Unix socket this client talks to.</summary>
    public string SocketPath => _connection.SocketPath;

    public async Task<ServiceInfo> GetServiceInfoAsync(CancellationToken ct = default)
    {
        var body = await _connection.SendAsync(HttpMethod.Get, "v2/service", null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, HcsReader.ReadServiceInfo, ct);
    }

    /// <summary>Creates a compute system (state Created: call StartAsync to run it).</summary>
    public async Task<ComputeSystem> CreateComputeSystemAsync(string id, Schema.Hcs.ComputeSystem document, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(document);
        var body = HcsWriter.ToUtf8(w => HcsWriter.Write(w, new CreateComputeSystemRequest { Id = id, Document = document }));
        var answer = await _connection.SendAsync(HttpMethod.Post, "v2/compute-systems", body, ct).ConfigureAwait(false);
        var summary = Responses.Read(_connection, answer, HcsReader.ReadSummary, ct);
        return new ComputeSystem(_connection, id, summary.InitProcessId);
    }

    /// <summary>A handle to an existing compute system; HCS_E_SYSTEM_NOT_FOUND if there is none.</summary>
    public async Task<ComputeSystem> OpenComputeSystemAsync(string id, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        var system = new ComputeSystem(_connection, id);
        await system.GetPropertiesAsync([], ct).ConfigureAwait(false);
        return system;
    }

    public async Task<IReadOnlyList<ComputeSystemSummary>> ListComputeSystemsAsync(ComputeSystemQuery? query = null, CancellationToken ct = default)
    {
        var body = await _connection.SendAsync(HttpMethod.Get, "v2/compute-systems" + (query?.ToQueryString() ?? ""), null, ct)
            .ConfigureAwait(false);
        return Responses.Read(_connection, body, HcsReader.ReadSummaries, ct);
    }

    /// <summary>hcsd's notifications (systems created, started, exited ..., processes exited) as
    /// they happen, for the given systems or all; enumerates until the caller cancels or stops.
    /// Subscribes when the enumeration starts: use <see cref="SubscribeEventsAsync"/> to know
    /// that the subscription is in place before acting.</summary>
    public async IAsyncEnumerable<Notification> GetEventsAsync(IEnumerable<string>? ids = null,
                                                               [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var subscription = await SubscribeEventsAsync(ids, ct).ConfigureAwait(false);
        await foreach (var n in subscription.WithCancellation(ct).ConfigureAwait(false))
            yield return n;
    }

    /// <summary>Subscribes to hcsd's notifications and returns once hcsd has answered, so that
    /// whatever the caller does next is seen. Enumerate the result once; dispose it to unsubscribe.</summary>
    public async Task<EventSubscription> SubscribeEventsAsync(IEnumerable<string>? ids = null, CancellationToken ct = default)
    {
        var path = "v2/events";
        if (ids is not null && string.Join(',', ids.Select(Uri.EscapeDataString)) is { Length: > 0 } list) path += "?Ids=" + list;
        var response = await _connection.SendStreamingAsync(HttpMethod.Get, path, ct).ConfigureAwait(false);
        try
        {
            return new EventSubscription(_connection, response, await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public void Dispose() => _connection.Dispose();

    public ValueTask DisposeAsync()
    {
        _connection.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>How a <see cref="HostComputeService"/> talks to hcsd.</summary>
public sealed record HostComputeServiceOptions
{
    /// <summary>
    /// Requests, and the reading of attached stdio, block a thread on the socket instead of
    /// waiting asynchronously: a request's answer is read by the thread that made it, and each
    /// attach session reads on a thread of its own, where the continuations of reads of its
    /// output streams run too. For a program that lives milliseconds with one flow of work, such
    /// as a command-line tool, this saves the socket engine's thread, the pool's threads and a
    /// hand-over between threads per answer. Leave it off in a service: a blocked call holds
    /// its thread, a pool thread when the caller runs on one. Event, log and archive streams
    /// are asynchronous either way.
    /// <para>Every "Async" call then returns completed (started later, it does not overlap what
    /// comes before its await). Code that follows an await of an output stream's read runs on
    /// the session's thread: a blocking call made there holds that session's output until it
    /// returns, so a wait for the process to exit made there can wait for ever once the
    /// process is blocked writing. Await such a call elsewhere, or read to the end first.</para>
    /// </summary>
    public bool BlockingTransport { get; init; }
}

/// <summary>Which systems ListComputeSystemsAsync returns: all conditions given must hold.</summary>
public sealed record ComputeSystemQuery(IReadOnlyList<string>? Ids = null, IReadOnlyList<string>? Owners = null, string? State = null)
{
    internal string ToQueryString()
    {
        var q = new StringBuilder();
        Add(q, "Ids", Ids);
        Add(q, "Owners", Owners);
        if (State is { Length: > 0 }) Add(q, "State", [State]);
        return q.ToString();
    }

    private static void Add(StringBuilder q, string name, IReadOnlyList<string>? values)
    {
        if (values is not { Count: > 0 }) return;
        q.Append(q.Length == 0 ? '?' : '&').Append(name).Append('=').AppendJoin(',', values.Select(Uri.EscapeDataString));
    }
}

/// <summary>A piece of the init's output: Stream is "stdout" or "stderr".</summary>
public sealed record LogEntry(DateTime Time, string Stream, string Data);

/// <summary>An open notification stream (see <see cref="HostComputeService.SubscribeEventsAsync"/>).</summary>
public sealed class EventSubscription : IAsyncEnumerable<Notification>, IAsyncDisposable
{
    private readonly HcsConnection _connection;
    private readonly HttpResponseMessage _response;
    private readonly Stream _stream;
    private int _enumerated;

    internal EventSubscription(HcsConnection connection, HttpResponseMessage response, Stream stream)
    {
        _connection = connection;
        _response = response;
        _stream = stream;
    }

    public IAsyncEnumerator<Notification> GetAsyncEnumerator(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
            throw new InvalidOperationException("an event subscription is enumerated once");
        return Ndjson.ReadAsync(_connection, _stream, Responses.ReadNotification, ct).GetAsyncEnumerator(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _response.Dispose();
    }
}
