using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Hcs.Linux.Native;
using Hcs.Schema.Monitor;

namespace Hcs.Monitor;

/// <summary>
/// One attached client (hcsd relaying a WebSocket, or hcsd's exit subscription): frames go out
/// at once when the socket takes them whole without blocking and nothing is queued before them;
/// otherwise they queue here and a sender task writes them, so the io loop never blocks on a
/// slow client. Above a high-water mark the process's output is paused (the pipe fills and the
/// writer in the container blocks, as with a terminal).
/// </summary>
internal sealed class Attacher
{
    private const long HighWater = 4 << 20, LowWater = 256 << 10;
    private readonly Stream _stream;
    private readonly Socket? _socket;
    private readonly Lock _gate = new();
    /// <summary>Framed bytes (length prefix included), in order.</summary>
    private readonly Channel<ReadOnlyMemory<byte>> _queue = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>Bytes queued or being written by the sender: 0 means the socket is ours to write.</summary>
    private long _pending;
    private int _throttled;
    private readonly Action<bool> _throttle;

    public bool Dead { get; private set; }
    public Task Sent { get; }

    public Attacher(Stream stream, Action<bool> throttle)
    {
        _stream = stream;
        _throttle = throttle;
        if (stream is NetworkStream { Socket: { } socket }) _socket = socket;
        Sent = Task.Run(SendLoop);
    }

    public void Send(byte[] payload)
    {
        var frame = Frames.Frame(payload);
        ReadOnlyMemory<byte> rest = frame;
        lock (_gate)
        {
            if (Dead) return;
            // Direct: one send on the caller's thread (the io loop), no hand-over to the sender:
            // an exit reaches hcsd without waking another thread first.
            if (Interlocked.Read(ref _pending) == 0 && _socket is not null)
            {
                int n = SendNow(_socket, frame);
                if (n == frame.Length) return;
                if (n < 0)
                {
                    GiveUp();
                    return;
                }
                rest = rest[n..];
            }
            if (Interlocked.Add(ref _pending, rest.Length) > HighWater && Interlocked.Exchange(ref _throttled, 1) == 0)
                _throttle(true);
            _queue.Writer.TryWrite(rest);
        }
    }

    /// <summary>What of frame the socket took at once (MSG_DONTWAIT: never blocks; the socket's
    /// own mode is left alone, a thread may be blocked reading it); -1 when the peer is gone.</summary>
    private static unsafe int SendNow(Socket socket, byte[] frame)
    {
        bool added = false;
        var handle = socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref added);
            fixed (byte* p = frame)
            {
                for (;;)
                {
                    nint n = Sys.Send(handle.DangerousGetHandle(), p, (nuint)frame.Length, Sys.MSG_DONTWAIT | Sys.MSG_NOSIGNAL);
                    if (n >= 0) return (int)n;
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    return errno == Libc.EAGAIN ? 0 : -1;
                }
            }
        }
        catch (ObjectDisposedException) { return -1; }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>No more frames: the sender finishes what is queued, then ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task SendLoop()
    {
        await foreach (var bytes in _queue.Reader.ReadAllAsync())
        {
            if (!Dead)
            {
                try { await _stream.WriteAsync(bytes); }
                catch (Exception) { GiveUp(); } // the client went away: the process is not affected
            }
            if (Interlocked.Add(ref _pending, -bytes.Length) < LowWater && Interlocked.Exchange(ref _throttled, 0) == 1)
                _throttle(false);
        }
        if (Interlocked.Exchange(ref _throttled, 0) == 1) _throttle(false);
    }

    /// <summary>A write failed: no more frames, and the connection is shut, so a peer still
    /// there (hcsd's subscription) sees its end and connects again rather than wait forever.</summary>
    private void GiveUp()
    {
        Dead = true;
        try { _socket?.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    public void Abandon()
    {
        Dead = true;
        Complete();
    }
}
