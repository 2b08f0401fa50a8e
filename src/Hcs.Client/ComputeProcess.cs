using System.Runtime.CompilerServices;
using Hcs.Schema.Hcs;

namespace Hcs.Client;

/// <summary>
/// A process in a compute system. Its stdio, when attached, are the three streams; they are fed
/// over one WebSocket to hcsd, so read them as the process writes (or dispose the ones you do not
/// want) for a process that writes a lot. Disposing the handle detaches: the process goes on.
/// </summary>
public sealed class ComputeProcess : IAsyncDisposable
{
    private readonly HcsConnection _connection;
    private readonly string _path; // v2/compute-systems/{id}/processes/{pid}
    private readonly string _systemPath; // v2/compute-systems/{id}
    private readonly SemaphoreSlim _attachLock = new(1, 1);
    private volatile AttachSession? _attach;
    private StrongBox<int>? _exitCode;
    private int _disposed;

    internal ComputeProcess(HcsConnection connection, string systemPath, uint processId)
    {
        _connection = connection;
        ProcessId = processId;
        _systemPath = systemPath;
        _path = $"{systemPath}/processes/{processId}";
    }

    public uint ProcessId { get; }

    /// <summary>Writes go to the process; disposing the stream closes the process's stdin. A
    /// write completes when hcsd has the data; cancelling one that is already being sent ends
    /// the attach connection (a WebSocket cannot take back half a message). Null when not
    /// attached or stdin was not asked for.</summary>
    public Stream? StandardInput => _attach?.Input;

    /// <summary>The process's output (with EmulateConsole, its console: stdout and stderr
    /// together); a read returns 0 when the process's output has ended.</summary>
    public Stream? StandardOutput => _attach?.Output;

    /// <summary>Null with EmulateConsole (one stream) or when not asked for.</summary>
    public Stream? StandardError => _attach?.Error;

    /// <summary>The exit code, once this handle has seen the process exit (attach, wait or status).</summary>
    public int? ExitCode => Volatile.Read(ref _exitCode)?.Value;

    /// <summary>The system was deleted once this init exited, before its exit code came
    /// (<see cref="ComputeSystem.StartAttachedAsync(bool, CancellationToken)"/> with removeOnExit).</summary>
    public bool SystemRemoved => Volatile.Read(ref _systemRemoved);

    private bool _systemRemoved;

    /// <summary>Waits for the process to exit (over HTTP, independent of reading the output, so
    /// waiting before reading cannot deadlock) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        var body = await _connection.SendAsync(HttpMethod.Post, _path + "/wait", null, ct).ConfigureAwait(false);
        return Seen(Responses.Read(_connection, body, HcsReader.ReadProcessStatus, ct));
    }

    /// <summary>Sends a signal (Linux numbers: 15 = SIGTERM, 9 = SIGKILL).</summary>
    public Task SignalAsync(int signal, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        var body = HcsWriter.ToUtf8(w => HcsWriter.Write(w, new SignalProcessOptions { Signal = signal }));
        return _connection.SendAsync(HttpMethod.Post, _path + "/signal", body, ct);
    }

    /// <summary>Sets the size of the process's console (EmulateConsole). Done when the call returns.</summary>
    public Task ResizeConsoleAsync(ushort rows, ushort columns, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        return ModifyAsync(new ProcessModifyRequest
        {
            Operation = "ConsoleSize",
            ConsoleSize = new ConsoleSize { Height = rows, Width = columns },
        }, ct);
    }

    /// <summary>Closes the process's stdin. When attached, the close travels after every byte
    /// written to <see cref="StandardInput"/> before it.</summary>
    public Task CloseStandardInputAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        if (_attach is { Input: not null } attach) return attach.CloseInputAsync(ct);
        return ModifyAsync(new ProcessModifyRequest { Operation = "CloseHandle", CloseHandle = new CloseHandle { Handle = "StdIn" } }, ct);
    }

    public async Task<ProcessStatus> GetStatusAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        var body = await _connection.SendAsync(HttpMethod.Get, _path, null, ct).ConfigureAwait(false);
        var status = Responses.Read(_connection, body, HcsReader.ReadProcessStatus, ct);
        if (status.Exited) Seen(status);
        return status;
    }

    /// <summary>Attaches stdin, stdout and stderr (for a handle from OpenProcessAsync(attach:
    /// false)). Output the process wrote before anyone attached is delivered first. A handle
    /// attaches once.</summary>
    public Task AttachAsync(CancellationToken ct = default) => AttachAsync(StdioSelection.All, startSystem: false, removeOnExit: false, ct);

    internal async Task AttachAsync(StdioSelection stdio, bool startSystem, bool removeOnExit, CancellationToken ct)
    {
        ThrowIfDisposed();
        await _attachLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_attach is not null) throw new InvalidOperationException($"process {ProcessId} is already attached through this handle");
            // startSystem (this is the init): hcsd attaches, then starts the system
            var path = startSystem ? _systemPath + "/start/attach" + (removeOnExit ? "?remove=true" : "") : _path + "/attach";
            _attach = await AttachSession.ConnectAsync(_connection, path, stdio, code => Seen(code),
                                                       () => Volatile.Write(ref _systemRemoved, true), ct).ConfigureAwait(false);
        }
        finally
        {
            _attachLock.Release();
        }
    }

    private Task ModifyAsync(ProcessModifyRequest request, CancellationToken ct) =>
        _connection.SendAsync(HttpMethod.Post, _path + "/modify", HcsWriter.ToUtf8(w => HcsWriter.Write(w, request)), ct);

    private int Seen(ProcessStatus status) => Seen(unchecked((int)status.ExitCode));

    private int Seen(int code)
    {
        Volatile.Write(ref _exitCode, new StrongBox<int>(code));
        return code;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Detaches (if attached) and releases the handle; the process is not touched.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_attach is { } attach) await attach.DisposeAsync().ConfigureAwait(false);
    }
}
