using Hcs.Linux.Native;

namespace Hcs.Linux.Containers;

/// <summary>
/// Signals and waits through pidfds: a pidfd names one process for its whole life, so a
/// recycled pid can never receive a signal meant for the container, and waiting for exit is
/// a poll() on fds instead of a sleep loop.
/// </summary>
public static unsafe class ProcessSignals
{
    /// <summary>Sends signal to pid if it is still the process that started at startTime.</summary>
    public static void Send(int pid, ulong startTime, int signal)
    {
        int fd = Libc.PidfdOpen(pid);
        if (fd < 0)
        {
            if (Libc.Errno == Libc.ESRCH) throw new RuntimeError("container not running", RuntimeErrorKind.InvalidState);
            throw new ErrnoException(Libc.Errno, $"open process {pid}");
        }
        try
        {
            // checked after pidfd_open: if this is still our process, the fd pins it
            var stat = ProcStat.Read(pid);
            if (stat is null || stat.Value.IsGone || (startTime != 0 && stat.Value.StartTime != startTime))
                throw new RuntimeError("container not running", RuntimeErrorKind.InvalidState);
            if (Libc.PidfdSendSignal(fd, signal) < 0)
                throw new ErrnoException(Libc.Errno, $"send signal {signal} to {pid}");
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>pidfds of the processes still alive (the init only if its start time matches).</summary>
    public static List<int> OpenAll(IEnumerable<int> pids, int initPid, ulong initStartTime)
    {
        var fds = new List<int>();
        foreach (var pid in pids)
        {
            int fd = Libc.PidfdOpen(pid);
            if (fd < 0) continue;
            if (pid == initPid && initStartTime != 0 && ProcStat.Read(pid) is { } s && s.StartTime != initStartTime)
            {
                Libc.Close(fd);
                continue;
            }
            fds.Add(fd);
        }
        return fds;
    }

    public static void SendKill(List<int> pidfds)
    {
        foreach (var fd in pidfds) Libc.PidfdSendSignal(fd, 9);
    }

    /// <summary>Blocks until every process has exited (each pidfd turns readable), or timeout.</summary>
    public static bool WaitAll(List<int> pidfds, TimeSpan timeout)
    {
        if (pidfds.Count == 0) return true;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var pending = new List<int>(pidfds);
        var polls = new Libc.PollFd[pending.Count];
        while (pending.Count > 0)
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0) return false;
            for (int i = 0; i < pending.Count; i++) polls[i] = new Libc.PollFd { Fd = pending[i], Events = Libc.POLLIN };
            int n;
            fixed (Libc.PollFd* p = polls) n = Libc.Poll(p, (nuint)pending.Count, (int)left);
            if (n < 0 && Libc.Errno != Libc.EINTR) throw new ErrnoException(Libc.Errno, "wait for processes");
            for (int i = pending.Count - 1; i >= 0; i--)
                if ((polls[i].Revents & (Libc.POLLIN | Libc.POLLHUP | Libc.POLLERR)) != 0) pending.RemoveAt(i);
        }
        return true;
    }

    /// <summary>Waits for one process (not necessarily our child) to exit.</summary>
    public static bool WaitExit(int pid, TimeSpan timeout)
    {
        int fd = Libc.PidfdOpen(pid);
        if (fd < 0) return true;
        try { return WaitAll([fd], timeout); }
        finally { Libc.Close(fd); }
    }
}
