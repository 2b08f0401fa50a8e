using System.Threading.Channels;
using Hcs.Schema.Monitor;

namespace Hcs.Monitor;

/// <summary>
/// One attached client (hcsd relaying a WebSocket): frames queue here and a sender task writes
/// them, so the io loop never blocks on a slow client. Above a high-water mark the process's
/// output is paused (the pipe fills and the writer in the container blocks, as with a terminal).
/// </summary>
internal sealed class Attacher
{
    private const long HighWater = 4 << 20, LowWater = 256 << 10;
    private readonly Stream _stream;
    private readonly Channel<byte[]> _queue = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private long _pending;
    private int _throttled;
    private readonly Action<bool> _throttle;

    public bool Dead { get; private set; }
    public Task Sent { get; }

    public Attacher(Stream stream, Action<bool> throttle)
    {
        _stream = stream;
        _throttle = throttle;
        Sent = Task.Run(SendLoop);
    }

    public void Send(byte[] payload)
    {
        if (Dead) return;
        if (Interlocked.Add(ref _pending, payload.Length) > HighWater && Interlocked.Exchange(ref _throttled, 1) == 0)
            _throttle(true);
        _queue.Writer.TryWrite(payload);
    }

    /// <summary>No more frames: the sender finishes what is queued, then ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task SendLoop()
    {
        await foreach (var payload in _queue.Reader.ReadAllAsync())
        {
            if (!Dead)
            {
                try { await Frames.WriteAsync(_stream, payload); }
                catch (Exception) { Dead = true; } // the client went away: the process is not affected
            }
            if (Interlocked.Add(ref _pending, -payload.Length) < LowWater && Interlocked.Exchange(ref _throttled, 0) == 1)
                _throttle(false);
        }
        if (Interlocked.Exchange(ref _throttled, 0) == 1) _throttle(false);
    }

    public void Abandon()
    {
        Dead = true;
        Complete();
    }
}
