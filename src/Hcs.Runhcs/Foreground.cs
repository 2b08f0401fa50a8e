using System.Runtime.InteropServices;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;

namespace Hcs.Runhcs;

/// <summary>
/// A socket pair standing in for --console-socket when runhcs itself holds the terminal
/// (`run` or `exec` in the foreground with process.terminal): the child sends the pty master
/// on one end, we receive it on the other.
/// </summary>
internal sealed unsafe class ConsolePair : IDisposable
{
    public int ChildFd { get; private set; }
    private int _parentFd;

    private ConsolePair(int parent, int child)
    {
        _parentFd = parent;
        ChildFd = child;
    }

    public static ConsolePair Create()
    {
        int* fds = stackalloc int[2];
        Libc.Check(Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds), "socketpair");
        return new ConsolePair(fds[0], fds[1]);
    }

    public int ReceiveMaster()
    {
        byte* name = stackalloc byte[256];
        uint len;
        int fd = SpawnAbi.RecvFd(_parentFd, name, 256, &len);
        if (fd < 0) throw new ErrnoException(Libc.Errno, "receive the console");
        return fd;
    }

    public void Dispose()
    {
        if (_parentFd >= 0) Libc.Close(_parentFd);
        if (ChildFd >= 0) Libc.Close(ChildFd);
        _parentFd = ChildFd = -1;
    }
}

/// <summary>
/// Runs a container process in the foreground: forwards our signals to it, bridges our
/// terminal to its pty (raw mode, window size), and returns its exit code like a shell would.
/// </summary>
internal sealed unsafe class Foreground : IDisposable
{
    private const nuint TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414;
    private const int TCSANOW = 0;
    private readonly int _pid;
    private readonly int _master;
    private readonly List<PosixSignalRegistration> _signals = [];
    private byte[]? _savedTermios;
    private Thread? _output;

    public Foreground(int pid, int? masterFd)
    {
        _pid = pid;
        _master = masterFd ?? -1;
        int[] forwarded = [1 /*HUP*/, 2 /*INT*/, 3 /*QUIT*/, 10 /*USR1*/, 12 /*USR2*/, 15 /*TERM*/];
        foreach (var sig in forwarded)
            _signals.Add(PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
            {
                ctx.Cancel = true;
                Libc.Kill(_pid, sig);
            }));
        if (_master < 0) return;
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGWINCH, ctx =>
        {
            ctx.Cancel = true;
            CopyWindowSize();
        }));
        if (Libc.IsATty(0) == 1)
        {
            _savedTermios = new byte[64];
            fixed (byte* t = _savedTermios)
            {
                if (Libc.TcGetAttr(0, t) == 0)
                {
                    var raw = stackalloc byte[64];
                    new Span<byte>(t, 64).CopyTo(new Span<byte>(raw, 64));
                    Libc.CfMakeRaw(raw);
                    Libc.TcSetAttr(0, TCSANOW, raw);
                }
                else _savedTermios = null;
            }
            CopyWindowSize();
        }
        _output = new Thread(() => Pump(_master, 1)) { IsBackground = true, Name = "pty-out" };
        _output.Start();
        new Thread(() => Pump(0, _master)) { IsBackground = true, Name = "pty-in" }.Start();
    }

    private void CopyWindowSize()
    {
        ushort* ws = stackalloc ushort[4];
        if (Libc.Ioctl(0, TIOCGWINSZ, ws) == 0) Libc.Ioctl(_master, TIOCSWINSZ, ws);
    }

    private static void Pump(int from, int to)
    {
        var buf = new byte[32 * 1024];
        fixed (byte* b = buf)
        {
            for (;;)
            {
                nint n = Libc.Read(from, b, buf.Length);
                if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                if (n <= 0) return; // EOF, or EIO once every slave fd is closed
                for (nint off = 0; off < n;)
                {
                    nint w = Libc.Write(to, b + off, n - off);
                    if (w < 0 && Libc.Errno == Libc.EINTR) continue;
                    if (w <= 0) return;
                    off += w;
                }
            }
        }
    }

    /// <summary>Waits for the process; the exit code, or 128 + signal.</summary>
    public int Wait()
    {
        int status = Libc.WaitForExit(_pid);
        // let the pty drain what the process wrote last (bounded: a daemonized grandchild
        // may hold the slave open forever)
        _output?.Join(TimeSpan.FromSeconds(2));
        return Libc.ExitCodeOf(status);
    }

    public void Dispose()
    {
        foreach (var s in _signals) s.Dispose();
        if (_savedTermios is not null)
            fixed (byte* t = _savedTermios) Libc.TcSetAttr(0, TCSANOW, t);
        if (_master >= 0) Libc.Close(_master);
    }
}
