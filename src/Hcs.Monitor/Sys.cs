using System.Runtime.InteropServices;

namespace Hcs.Monitor;

/// <summary>The few system calls the monitor needs that the engine's Libc does not have:
/// epoll (one thread watches every pipe and pidfd; .NET has no async reads for pipes or
/// pidfds), waitid on a pidfd, mount for overlay roots.</summary>
internal static unsafe partial class Sys
{
    public const uint EPOLLIN = 0x001, EPOLLERR = 0x008, EPOLLHUP = 0x010;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int P_PIDFD = 3, WEXITED = 4, WNOHANG = 1;
    public const int CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3;
    public const int F_SETFL = 4, F_GETFL = 3;
    public const nuint TIOCSWINSZ = 0x5414;
    public const int EIO = 5;

    /// <summary>struct epoll_event is packed on x86_64 (12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    public const int F_GETFD = 1, FD_CLOEXEC = 1;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    /// <summary>Closes every descriptor above stderr that is not close-on-exec: what the
    /// monitor's starter left open by accident (a test runner's lock, a terminal, a pipe of
    /// some supervisor). Kept, it would stay open for the monitor's whole life and, until their
    /// exec, in each container init forked from it. Everything .NET opens is close-on-exec, so
    /// nothing of the monitor's own is touched.</summary>
    public static void CloseInheritedDescriptors()
    {
        var fds = new List<int>();
        foreach (var entry in Directory.GetFileSystemEntries("/proc/self/fd"))
            if (int.TryParse(Path.GetFileName(entry), out var fd) && fd > 2) fds.Add(fd);
        foreach (var fd in fds)
        {
            int flags = Fcntl(fd, F_GETFD, 0);
            if (flags >= 0 && (flags & FD_CLOEXEC) == 0) Close(fd);
        }
    }

    public const int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;

    /// <summary>send(2) that never blocks, whatever the socket's mode: Attacher's direct path on
    /// a socket a thread may be blocked reading.</summary>
    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(nint fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, EpollEvent* events, int max, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    public static partial int WaitId(int idType, int id, byte* info, int options);

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial int Umask(int mask);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fsType, nuint flags, string? data);

    /// <summary>Reaps an exited child through its pidfd. Returns false if it has not exited;
    /// the code is the exit status, or 128 + signal when it was killed (as a shell reports it).</summary>
    public static bool TryReap(int pidfd, out int code, out bool signaled)
    {
        byte* info = stackalloc byte[128];
        new Span<byte>(info, 128).Clear();
        code = 0;
        signaled = false;
        int r;
        do r = WaitId(P_PIDFD, pidfd, info, WEXITED | WNOHANG);
        while (r < 0 && Marshal.GetLastPInvokeError() == 4 /* EINTR */);
        if (r < 0) return false;
        int pid = *(int*)(info + 16);
        if (pid == 0) return false; // WNOHANG: not exited yet
        int siCode = *(int*)(info + 8), status = *(int*)(info + 24);
        signaled = siCode is CLD_KILLED or CLD_DUMPED;
        code = signaled ? 128 + status : status;
        return true;
    }
}
