using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Net.WebSockets;
using Hcs.Schema.Hcs;

namespace Hcs.Client;

/// <summary>Which of a process's stdio streams a client wants.</summary>
internal readonly record struct StdioSelection(bool Input, bool Output, bool Error)
{
    public static readonly StdioSelection All = new(true, true, true);
    public bool Any => Input || Output || Error;
}

/// <summary>
/// One WebSocket attached to a process's stdio (docs/design/0003-hcsd-api.md, "Attach").
/// <code>
///   client                                   hcsd
///     | -- GET .../attach (Upgrade) ----------> |
///     | &lt;-- [1|stdout bytes] / [2|stderr bytes] -- |   (output kept from before the attach first)
///     | -- [0|stdin bytes] --------------------> |
///     | -- [4] (close stdin) ------------------> |
///     | &lt;-- [6] (deleted, if remove=true asked) -- |   (start/attach only)
///     | &lt;-- [3|int32 LE exit code], close ------- |
/// </code>
/// One receive loop feeds the output streams through bounded pipes: when a reader falls behind,
/// the loop stops reading the socket and hcsd's buffers fill, so a slow reader slows the process
/// instead of growing memory. Both outputs share the connection: a stream that is never read
/// stalls the other once its pipe is full (as with any redirected process; dispose a stream you
/// do not want and its data is dropped). Sends are serialized by a lock, in call order.
/// </summary>
internal sealed class AttachSession : IAsyncDisposable
{
    private const byte StdIn = 0, StdOut = 1, StdErr = 2, Exit = 3, CloseStdIn = 4, Removed = 6;
    private const int ChunkSize = 64 * 1024;

    // Back-pressure: the loop waits when a reader is this far behind, and goes on at half of it.
    private static PipeOptions Bounded(PipeScheduler scheduler) =>
        new(readerScheduler: scheduler, writerScheduler: scheduler, pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024,
            useSynchronizationContext: false);

    /// <summary>With a blocking transport the readers' continuations run on the loop's thread, the
    /// one that wrote what they read (no pool thread is woken for them), and a write held back
    /// is released by the reader's own thread (see <see cref="PushAsync"/>). A reader that blocks
    /// on the loop's thread holds the loop, like one that does not read.</summary>
    private static readonly PipeOptions ForPool = Bounded(PipeScheduler.ThreadPool), ForLoopThread = Bounded(PipeScheduler.Inline);

    private readonly HcsConnection _connection;
    private readonly WebSocket _ws;
    private readonly Stream _transport;
    private readonly Pipe? _stdout, _stderr;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<int> _onExit;
    private readonly Action? _onRemoved;
    private readonly Task _receiving;
    private int _inputClosed, _disposed;

    public Stream? Input { get; }
    public Stream? Output { get; }
    public Stream? Error { get; }

    private AttachSession(HcsConnection connection, (WebSocket Socket, Stream Transport) ws, StdioSelection stdio, Action<int> onExit, Action? onRemoved)
    {
        _connection = connection;
        (_ws, _transport) = ws;
        _onExit = onExit;
        _onRemoved = onRemoved;
        var pipes = connection.Blocking ? ForLoopThread : ForPool;
        if (stdio.Output) { _stdout = new Pipe(pipes); Output = _stdout.Reader.AsStream(); }
        if (stdio.Error) { _stderr = new Pipe(pipes); Error = _stderr.Reader.AsStream(); }
        if (stdio.Input) Input = new InputStream(this);
        _receiving = connection.Blocking ? ReceiveOnThreadOfItsOwn() : Task.Run(ReceiveLoopAsync);
    }

    /// <summary>Connects to an attach endpoint: a process's (.../processes/{pid}/attach), or the
    /// system's start with its init attached (.../start/attach; a refusal may then be the start's).</summary>
    public static async Task<AttachSession> ConnectAsync(HcsConnection connection, string attachPath, StdioSelection stdio,
                                                         Action<int> onExit, Action? onRemoved, CancellationToken ct)
    {
        // a refusal throws hcsd's own error (no such process, exited, attached elsewhere)
        var ws = await connection.ConnectWebSocketAsync(attachPath, ct).ConfigureAwait(false);
        return new AttachSession(connection, ws, stdio, onExit, onRemoved);
    }

    // ---- receiving -------------------------------------------------------------------

    /// <summary>With a blocking transport the loop blocks in its reads: on a thread of its own,
    /// rather than holding a pool thread (and making the pool start more, and its gate thread).</summary>
    private Task ReceiveOnThreadOfItsOwn()
    {
        var done = new TaskCompletionSource();
        var thread = new Thread(() =>
        {
            try
            {
                ReceiveLoopAsync().GetAwaiter().GetResult();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }) { IsBackground = true, Name = "hcs attach" };
        thread.Start();
        return done.Task;
    }

    private async Task ReceiveLoopAsync()
    {
        var ct = _stop.Token;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        PipeWriter? stdout = _stdout?.Writer, stderr = _stderr?.Writer;
        bool exited = false;
        Exception? failure = null;
        try
        {
            // A message's first byte names its stream; a long message may come in several frames.
            bool atMessageStart = true;
            byte stream = 0;
            var exitCode = new byte[4];
            int exitCount = 0;
            while (true)
            {
                var r = await _ws.ReceiveAsync(buffer.AsMemory(), ct).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close) break;
                var data = buffer.AsMemory(0, r.Count);
                if (atMessageStart && !data.IsEmpty)
                {
                    stream = data.Span[0];
                    data = data[1..];
                    atMessageStart = false;
                    exitCount = 0;
                }
                switch (stream)
                {
                    case StdOut when stdout is not null:
                        if (!data.IsEmpty && (await PushAsync(stdout, data, ct).ConfigureAwait(false)).IsCompleted)
                            stdout = null; // the reader is gone: drop the rest of that stream
                        break;
                    case StdErr when stderr is not null:
                        if (!data.IsEmpty && (await PushAsync(stderr, data, ct).ConfigureAwait(false)).IsCompleted)
                            stderr = null;
                        break;
                    case Exit:
                        for (int i = 0; i < data.Length && exitCount < 4; i++) exitCode[exitCount++] = data.Span[i];
                        break;
                    // anything else: a stream not asked for, or one a newer hcsd added: ignored
                }
                if (r.EndOfMessage)
                {
                    if (stream == Exit && !atMessageStart && exitCount == 4)
                    {
                        exited = true;
                        _onExit(BinaryPrimitives.ReadInt32LittleEndian(exitCode));
                    }
                    else if (stream == Removed && !atMessageStart) _onRemoved?.Invoke();
                    atMessageStart = true;
                }
            }
            await CloseOutputAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { /* disposed */ }
        catch (Exception e) when (Volatile.Read(ref _disposed) == 0)
        {
            failure = e;
        }
        catch { /* disposed while reading: the socket was closed under us */ }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            // Output that ends without the exit message was cut short: readers are told, unless
            // the client itself let go (dispose), when plain end-of-stream is the polite answer.
            Exception? cut = exited || Volatile.Read(ref _disposed) != 0 ? null
                : failure is not null ? _connection.ConnectionLost(failure)
                : new HcsException(HcsError.ConnectionClosed with { HttpStatus = 0 }, "hcsd closed the attach connection before the process exited");
            _stdout?.Writer.Complete(cut);
            _stderr?.Writer.Complete(cut);
        }
    }

    /// <summary>Hands output to its reader. A reader far behind holds the write back; with a
    /// blocking transport the loop then waits for it on its own thread (an await would go on,
    /// and block in its next read, on a pool thread).</summary>
    private ValueTask<FlushResult> PushAsync(PipeWriter to, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var flush = to.WriteAsync(data, ct);
        return flush.IsCompleted || !_connection.Blocking ? flush : ValueTask.FromResult(flush.AsTask().GetAwaiter().GetResult());
    }

    /// <summary>A close frame with no body, as a client sends it: FIN + opcode 8, the mask bit,
    /// a zero key (it masks nothing: there is no payload).</summary>
    private static readonly byte[] EmptyClose = [0x88, 0x80, 0, 0, 0, 0];

    /// <summary>
    /// Answers hcsd's close with ours (a WebSocket close is a handshake). Written straight to the
    /// transport rather than with <see cref="WebSocket.CloseOutputAsync"/>: .NET masks every
    /// client frame with a key from RandomNumberGenerator, whose first use loads OpenSSL, about
    /// 5 ms of every `hcs run` in the NativeAOT CLI, for a key that would mask zero bytes. Once
    /// the close has been received the WebSocket writes nothing more, and the send lock keeps
    /// our own writes out of the way.
    /// </summary>
    private async Task CloseOutputAsync()
    {
        if (_ws.State != WebSocketState.CloseReceived) return;
        if (_connection.Blocking) _sendLock.Wait(); // (on the loop's thread, as above)
        else await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            // Six bytes into an idle socket's buffer: written at once. Non-blocking, so a peer that
            // stopped reading cannot hold us, and no timeout (a process's first timer starts a
            // thread: measurable in a CLI that lives milliseconds). A peer whose buffer is that
            // full gets part of it at worst, then the end of the connection: it is closed next.
            if (_transport is BlockingUnixStream blocking) blocking.TryWriteWithoutWaiting(EmptyClose);
            else if (_transport is NetworkStream { Socket: { } socket })
            {
                socket.Blocking = false;
                socket.Send(EmptyClose);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        finally
        {
            _sendLock.Release();
        }
    }

    // ---- sending ---------------------------------------------------------------------

    private async Task SendAsync(byte stream, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var message = ArrayPool<byte>.Shared.Rent(1 + Math.Min(data.Length, ChunkSize));
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Large writes go as several messages: hcsd need not hold more than a chunk at once.
            do
            {
                var chunk = data[..Math.Min(data.Length, ChunkSize)];
                message[0] = stream;
                chunk.CopyTo(message.AsMemory(1));
                await _ws.SendAsync(message.AsMemory(0, 1 + chunk.Length), WebSocketMessageType.Binary, endOfMessage: true, ct)
                    .ConfigureAwait(false);
                data = data[chunk.Length..];
            } while (!data.IsEmpty);
        }
        catch (Exception e) when (_connection.Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
        finally
        {
            _sendLock.Release();
            ArrayPool<byte>.Shared.Return(message);
        }
    }

    public Task WriteInputAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (Volatile.Read(ref _inputClosed) != 0) throw new ObjectDisposedException("StandardInput", "standard input is closed");
        return data.IsEmpty ? Task.CompletedTask : SendAsync(StdIn, data, ct);
    }

    /// <summary>Sends "close stdin" once; it follows every byte written before it.</summary>
    public Task CloseInputAsync(CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _inputClosed, 1) != 0 || Volatile.Read(ref _disposed) != 0) return Task.CompletedTask;
        return SendAsync(CloseStdIn, ReadOnlyMemory<byte>.Empty, ct);
    }

    // ---- letting go ------------------------------------------------------------------

    /// <summary>Disconnects. The process is not touched: its stdin stays open, it goes on
    /// running, and a later attach can pick it up.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // A polite close if the socket is free within a moment, then stop the loop regardless
        // (it may be waiting on a reader that will never read again).
        if (await _sendLock.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false))
        {
            try
            {
                if (_ws.State == WebSocketState.Open)
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                    await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client detached", timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException) { }
            finally
            {
                _sendLock.Release();
            }
        }
        _stop.Cancel();
        try
        {
            await _receiving.ConfigureAwait(false);
        }
        catch (Exception) { /* the loop reports through the output streams, not here */ }
        _ws.Abort();
        _ws.Dispose();
        _stop.Dispose();
    }

    /// <summary>The process's stdin: writes become [0|data] messages; disposing it sends "close stdin".</summary>
    private sealed class InputStream(AttachSession session) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => Volatile.Read(ref session._inputClosed) == 0;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) =>
            new(session.WriteInputAsync(buffer, ct));

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            session.WriteInputAsync(buffer.AsMemory(offset, count), ct);

        /// <summary>A caller that writes synchronously (a thread copying a terminal) asks to be
        /// blocked until the data is sent; the library itself never writes this way.</summary>
        public override void Write(byte[] buffer, int offset, int count) =>
            session.WriteInputAsync(buffer.AsMemory(offset, count), CancellationToken.None).GetAwaiter().GetResult();

        public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

        public override void Flush() { } // every write is sent before WriteAsync completes
        public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

        protected override void Dispose(bool disposing)
        {
            // Sync Dispose cannot wait for the send; it is queued behind earlier writes all the
            // same, so the order on the wire is kept. DisposeAsync waits for it.
            if (disposing) _ = session.CloseInputAsync(CancellationToken.None).ContinueWith(
                static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            try
            {
                await session.CloseInputAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HcsException or ObjectDisposedException) { /* nothing left to close */ }
            GC.SuppressFinalize(this);
        }

        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
