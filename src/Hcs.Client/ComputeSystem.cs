using System.Globalization;
using System.Runtime.CompilerServices;
using Hcs.Schema.Hcs;

namespace Hcs.Client;

/// <summary>
/// A handle to a compute system (a container) of hcsd. Disposing the handle releases it; the
/// system itself is only removed by <see cref="DeleteAsync"/>.
/// </summary>
public sealed class ComputeSystem : IAsyncDisposable
{
    private readonly HcsConnection _connection;
    private readonly string _path; // v2/compute-systems/{id}
    private int _disposed;

    internal ComputeSystem(HcsConnection connection, string id, uint initProcessId = 0)
    {
        _connection = connection;
        Id = id;
        InitProcessId = initProcessId;
        _path = "v2/compute-systems/" + Uri.EscapeDataString(id);
    }

    public string Id { get; }

    /// <summary>The init's process id as hcsd answered the create (0 when this handle was opened,
    /// or the system has no init yet): attachable right away, without asking for the properties.</summary>
    public uint InitProcessId { get; }

    public Task StartAsync(CancellationToken ct = default) => Post("/start", null, ct);

    /// <summary>
    /// Attaches to the init's stdio, then starts the system, in one request: nothing the init
    /// writes can come before the attach, and there is no separate start round trip (what
    /// `hcs run` does). Needs the init's id from the create's answer (<see cref="InitProcessId"/>).
    /// A refusal is the attach's error or the start's.
    /// </summary>
    public Task<ComputeProcess> StartAttachedAsync(CancellationToken ct = default) => StartAttachedAsync(removeOnExit: false, ct);

    /// <summary>
    /// <see cref="StartAttachedAsync(CancellationToken)"/>; with <paramref name="removeOnExit"/>,
    /// hcsd also deletes the system once the init has exited, before the exit code comes
    /// (`docker run --rm` in one request: no delete to send and wait for). The returned
    /// process's <see cref="ComputeProcess.SystemRemoved"/> says whether it did; when not (an
    /// hcsd without this, a delete refused, the connection lost first), delete it yourself.
    /// </summary>
    public async Task<ComputeProcess> StartAttachedAsync(bool removeOnExit, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        if (InitProcessId == 0)
            throw new InvalidOperationException("the init's process id is not known to this handle (it comes with the create's answer): use StartAsync and OpenProcessAsync");
        var init = new ComputeProcess(_connection, _path, InitProcessId);
        try
        {
            await init.AttachAsync(StdioSelection.All, startSystem: true, removeOnExit, ct).ConfigureAwait(false);
        }
        catch
        {
            await init.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return init;
    }

    /// <summary>SIGTERM to the init, SIGKILL after <paramref name="timeout"/> (hcsd's default: 10 s).</summary>
    public Task<SystemExitStatus> ShutdownAsync(TimeSpan? timeout = null, CancellationToken ct = default) =>
        ExitStatus("/shutdown" + TimeoutQuery(timeout), ct);

    /// <summary>SIGKILL to every process of the system.</summary>
    public Task<SystemExitStatus> TerminateAsync(CancellationToken ct = default) => ExitStatus("/terminate", ct);

    public Task PauseAsync(CancellationToken ct = default) => Post("/pause", null, ct);

    public Task ResumeAsync(CancellationToken ct = default) => Post("/resume", null, ct);

    /// <summary>The system's properties, with the optional parts named: "Statistics", "ProcessList", "Memory".</summary>
    public Task<Properties> GetPropertiesAsync(params string[] query) => GetPropertiesAsync(query, CancellationToken.None);

    public async Task<Properties> GetPropertiesAsync(IEnumerable<string> query, CancellationToken ct)
    {
        ThrowIfDisposed();
        var names = string.Join(',', query.Select(Uri.EscapeDataString));
        var path = names.Length == 0 ? _path : $"{_path}?properties={names}";
        var body = await _connection.SendAsync(HttpMethod.Get, path, null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, HcsReader.ReadProperties, ct);
    }

    /// <summary>Changes a running system: memory limit, processor share, mapped directories
    /// (docs/design/0003-hcsd-api.md, "Modify").</summary>
    public Task ModifyAsync(ModifySettingRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Post("/modify", HcsWriter.ToUtf8(w => HcsWriter.Write(w, request)), ct);
    }

    /// <summary>Waits until the system stops. With a timeout, a system still running then is an
    /// <see cref="HcsException"/> HCS_E_OPERATION_TIMEOUT; cancelling stops only the waiting.</summary>
    public Task<SystemExitStatus> WaitForExitAsync(TimeSpan? timeout = null, CancellationToken ct = default) =>
        ExitStatus("/wait" + TimeoutQuery(timeout), ct);

    /// <summary>Starts a process in the system and attaches the pipes it asks for
    /// (CreateStdInPipe, CreateStdOutPipe, CreateStdErrPipe; with EmulateConsole the output is one
    /// stream and there is no StandardError).</summary>
    public async Task<ComputeProcess> CreateProcessAsync(ProcessParameters parameters, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ThrowIfDisposed();
        var body = await _connection.SendAsync(HttpMethod.Post, _path + "/processes",
            HcsWriter.ToUtf8(w => HcsWriter.Write(w, parameters)), ct).ConfigureAwait(false);
        var process = new ComputeProcess(_connection, _path, Responses.Read(_connection, body, Responses.ReadProcessId, ct));
        var stdio = new StdioSelection(parameters.CreateStdInPipe, parameters.CreateStdOutPipe,
                                       parameters.CreateStdErrPipe && !parameters.EmulateConsole);
        if (stdio.Any)
        {
            try
            {
                await process.AttachAsync(stdio, startSystem: false, removeOnExit: false, ct).ConfigureAwait(false);
            }
            catch
            {
                // the process runs without us; the caller gets the error and no handle to leak
                await process.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        return process;
    }

    /// <summary>A handle to an existing process (HCS_E_PROCESS_INFO_NOT_AVAILABLE if there is
    /// none); with <paramref name="attach"/>, its stdin, stdout and stderr are attached, and output
    /// written before anyone attached is delivered first.</summary>
    public async Task<ComputeProcess> OpenProcessAsync(uint processId, bool attach = false, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        var process = new ComputeProcess(_connection, _path, processId);
        try
        {
            // attaching says the same as the status would when there is no such process (the
            // refusal is explained with it): one round trip, not two
            if (attach) await process.AttachAsync(ct).ConfigureAwait(false);
            else await process.GetStatusAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return process;
    }

    /// <summary>Stores the container's changes (its scratch) as a new layer on top of its image,
    /// and names the result <paramref name="reference"/> (docker commit).</summary>
    public async Task<Schema.Images.ImageDetails> CommitAsync(string reference, string? author = null, string? comment = null,
                                                              CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        var request = Schema.Images.ImageJson.ToUtf8(new Schema.Images.CommitRequest { Reference = reference, Author = author, Comment = comment });
        var body = await _connection.SendAsync(HttpMethod.Post, _path + "/commit", request, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, b => Schema.Images.ImageJson.Read<Schema.Images.ImageDetails>(b.Span), ct);
    }

    /// <summary>Removes the system; refused (HCS_E_INVALID_STATE) while it runs unless <paramref name="force"/>.</summary>
    public Task DeleteAsync(bool force = false, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        return _connection.SendAsync(HttpMethod.Delete, force ? _path + "?force=true" : _path, null, ct);
    }

    /// <summary>The output of the system's init, as hcsd recorded it; with <paramref name="follow"/>
    /// the enumeration goes on with new output until the system stops or the caller cancels.</summary>
    public async IAsyncEnumerable<LogEntry> GetLogsAsync(bool follow = false, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ThrowIfDisposed();
        using var response = await _connection.SendStreamingAsync(HttpMethod.Get, _path + "/logs" + (follow ? "?follow=true" : ""), ct)
            .ConfigureAwait(false);
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await foreach (var entry in Ndjson.ReadAsync(_connection, stream, Responses.ReadLogEntry, ct).ConfigureAwait(false))
            yield return entry;
    }

    private async Task<SystemExitStatus> ExitStatus(string action, CancellationToken ct)
    {
        ThrowIfDisposed();
        var body = await _connection.SendAsync(HttpMethod.Post, _path + action, null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, HcsReader.ReadSystemExitStatus, ct);
    }

    private Task Post(string action, byte[]? body, CancellationToken ct)
    {
        ThrowIfDisposed();
        return _connection.SendAsync(HttpMethod.Post, _path + action, body, ct);
    }

    private static string TimeoutQuery(TimeSpan? timeout)
    {
        if (timeout is not { } t || t == Timeout.InfiniteTimeSpan) return "";
        ArgumentOutOfRangeException.ThrowIfLessThan(t, TimeSpan.Zero, nameof(timeout));
        return "?timeoutMs=" + ((long)Math.Ceiling(t.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Releases the handle. The system is not stopped or deleted.</summary>
    public ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, 1);
        return ValueTask.CompletedTask;
    }
}
