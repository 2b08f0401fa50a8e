using System.Runtime.CompilerServices;

namespace Hcs.Daemon.Api;

/// <summary>
/// Which requests hcsd serves on the epoll thread that read them.
///
/// hcsd runs Kestrel with inline scheduling and .NET's inline socket completions: a request's
/// handler, and the continuations of its awaits on sockets (the monitor's answers included),
/// run on the event thread that saw the data, with no hop to a pool worker per read and write.
/// That is only right for handlers that never block for long. The container routes qualify
/// (SQLite writes, small files, awaits on hcs-monitor); image and layer work (unpacking,
/// hashing, export), commit and logs do not, and go to the thread pool before anything else.
/// docs/design/0009-hcsd-request-path.md has the measurements and what was rejected.
/// </summary>
public static class InlineRequests
{
    /// <summary>The .NET variable that runs socket completions on the event thread; read once, when
    /// the first socket is made.</summary>
    public const string SocketVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Whether a request for <paramref name="path"/> may run on the event thread.</summary>
    public static bool RunsInline(string? path)
    {
        if (path is null) return false;
        if (path is "/v2/service" or "/v2/events" or "/v2/compute-systems") return true;
        if (!path.StartsWith("/v2/compute-systems/", StringComparison.Ordinal)) return false;
        return !path.EndsWith("/commit", StringComparison.Ordinal) && !path.EndsWith("/logs", StringComparison.Ordinal);
    }

    /// <summary>Continues on a thread-pool worker: the event thread is left before work that may
    /// block it (a yield from a thread that is not a pool worker queues the rest to the pool).</summary>
    public static YieldAwaitable ToThreadPool() => Task.Yield();
}
