using System.Threading.Channels;
using Hcs.Schema.Hcs;

namespace Hcs.Daemon.Compute;

/// <summary>Fans notifications out to every /v2/events stream. A subscriber that cannot keep
/// up loses its oldest events rather than slowing the daemon down.</summary>
public sealed class EventHub
{
    private readonly Lock _gate = new();
    private readonly List<Channel<Notification>> _subscribers = [];

    public void Publish(string type, string id, Action<Notification>? fill = null)
    {
        var n = new Notification { Type = type, Id = id, Time = DateTime.UtcNow };
        fill?.Invoke(n);
        lock (_gate)
            foreach (var s in _subscribers) s.Writer.TryWrite(n);
    }

    public (ChannelReader<Notification> Reader, IDisposable Subscription) Subscribe()
    {
        var channel = Channel.CreateBounded<Notification>(new BoundedChannelOptions(10_000)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true,
        });
        lock (_gate) _subscribers.Add(channel);
        return (channel.Reader, new Unsubscribe(this, channel));
    }

    private sealed class Unsubscribe(EventHub hub, Channel<Notification> channel) : IDisposable
    {
        public void Dispose()
        {
            lock (hub._gate) hub._subscribers.Remove(channel);
            channel.Writer.TryComplete();
        }
    }
}
