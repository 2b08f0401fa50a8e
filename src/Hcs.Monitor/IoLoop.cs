using System.Runtime.InteropServices;
using Hcs.Linux.Native;

namespace Hcs.Monitor;

/// <summary>Something the loop calls when its fd is ready (on the loop's thread: be quick).</summary>
internal interface IIoHandler
{
    void OnReady(uint events);
}

/// <summary>
/// One thread and one epoll set for every container pipe, pty and pidfd on the host: 500 idle
/// containers cost 500 registrations, not 500 blocked threads (anonymous pipes and pidfds have
/// no async reads in .NET). Handlers run on the loop thread; registration works from any thread.
/// </summary>
internal sealed unsafe class IoLoop
{
    private readonly int _epfd;
    private readonly Dictionary<ulong, IIoHandler> _handlers = [];
    private readonly Lock _gate = new();
    private ulong _next;

    public IoLoop()
    {
        _epfd = Libc.Check(Sys.EpollCreate1(Sys.EPOLL_CLOEXEC), "epoll_create1");
        new Thread(Run) { IsBackground = true, Name = "io-loop" }.Start();
    }

    public ulong Add(int fd, IIoHandler handler)
    {
        ulong token;
        lock (_gate)
        {
            token = ++_next;
            _handlers[token] = handler;
        }
        var ev = new Sys.EpollEvent { Events = Sys.EPOLLIN, Data = token };
        if (Sys.EpollCtl(_epfd, Sys.EPOLL_CTL_ADD, fd, &ev) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            lock (_gate) _handlers.Remove(token);
            throw new Linux.Containers.RuntimeError($"epoll_ctl add fd {fd}: errno {errno}");
        }
        return token;
    }

    /// <summary>Stops watching fd (before it is closed).</summary>
    public void Remove(ulong token, int fd)
    {
        Sys.EpollCtl(_epfd, Sys.EPOLL_CTL_DEL, fd, null);
        lock (_gate) _handlers.Remove(token);
    }

    /// <summary>Pauses or resumes reading fd (back-pressure from a slow attached client).</summary>
    public void SetEnabled(ulong token, int fd, bool enabled)
    {
        var ev = new Sys.EpollEvent { Events = enabled ? Sys.EPOLLIN : 0, Data = token };
        Sys.EpollCtl(_epfd, Sys.EPOLL_CTL_MOD, fd, &ev);
    }

    private void Run()
    {
        const int Max = 64;
        var events = stackalloc Sys.EpollEvent[Max];
        for (;;)
        {
            int n = Sys.EpollWait(_epfd, events, Max, -1);
            if (n < 0) continue; // EINTR
            for (int i = 0; i < n; i++)
            {
                IIoHandler? h;
                lock (_gate) _handlers.TryGetValue(events[i].Data, out h);
                if (h is null) continue;
                try { h.OnReady(events[i].Events); }
                catch (Exception e) { Log.Error($"io handler: {e.Message}"); }
            }
        }
    }
}

internal static class Log
{
    public static void Info(string message) => Console.Error.WriteLine($"{DateTime.UtcNow:O} hcs-monitor: {message}");
    public static void Error(string message) => Console.Error.WriteLine($"{DateTime.UtcNow:O} hcs-monitor: error: {message}");
}
