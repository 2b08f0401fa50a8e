using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema.Monitor;

namespace Hcs.Monitor;

/// <summary>
/// The pipes (or pty) of one new process: the child's ends go to the spawn, ours stay. What was
/// not asked for is /dev/null, so a container never writes into the monitor's own stdio.
/// </summary>
internal sealed unsafe class StdioSet : IDisposable
{
    public int[] ChildFds { get; } = [-1, -1, -1];
    /// <summary>Terminal: the socket the child sends its pty master over (child's end).</summary>
    public int ConsoleChild { get; private set; } = -1;
    private int _consoleParent = -1;
    public int StdinWrite { get; private set; } = -1;
    public List<(int Fd, byte Stream)> Outputs { get; } = [];
    public bool Terminal { get; }

    public StdioSet(StdioRequest? request)
    {
        var r = request ?? new StdioRequest();
        Terminal = r.Terminal;
        try
        {
            if (Terminal)
            {
                int* pair = stackalloc int[2];
                Libc.Check(Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, pair), "socketpair");
                _consoleParent = pair[0];
                ConsoleChild = pair[1];
                return;
            }
            if (r.Stdin) (ChildFds[0], StdinWrite) = Pipe();
            else ChildFds[0] = DevNull();
            if (r.Stdout)
            {
                var (read, write) = Pipe();
                ChildFds[1] = write;
                Outputs.Add((read, AttachStream.Stdout));
            }
            else ChildFds[1] = DevNull();
            if (r.Stderr)
            {
                var (read, write) = Pipe();
                ChildFds[2] = write;
                Outputs.Add((read, AttachStream.Stderr));
            }
            else ChildFds[2] = DevNull();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        Libc.Check(Libc.Pipe2(fds, Libc.O_CLOEXEC), "pipe2");
        return (fds[0], fds[1]);
    }

    private static int DevNull() => Libc.Check(Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0), "open /dev/null");

    /// <summary>After the spawn: the child has its copies. A terminal's master arrives now; it
    /// becomes both the output stream and (a dup) stdin.</summary>
    public void AfterSpawn()
    {
        CloseChildEnds();
        if (!Terminal) return;
        byte* name = stackalloc byte[256];
        uint len;
        int master = SpawnAbi.RecvFd(_consoleParent, name, 256, &len);
        if (master < 0) throw new ErrnoException(Libc.Errno, "receive the console");
        Libc.Close(_consoleParent);
        _consoleParent = -1;
        Outputs.Add((master, AttachStream.Stdout));
        StdinWrite = Libc.Check(Libc.Fcntl(master, 1030 /* F_DUPFD_CLOEXEC */, 3), "dup console");
    }

    private void CloseChildEnds()
    {
        for (int i = 0; i < 3; i++)
        {
            if (ChildFds[i] >= 0) Libc.Close(ChildFds[i]);
            ChildFds[i] = -1;
        }
        if (ConsoleChild >= 0) Libc.Close(ConsoleChild);
        ConsoleChild = -1;
    }

    /// <summary>Ours, handed over to a MonitoredProcess: forget them here.</summary>
    public void Release()
    {
        StdinWrite = -1;
        Outputs.Clear();
    }

    public void Dispose()
    {
        CloseChildEnds();
        if (_consoleParent >= 0) Libc.Close(_consoleParent);
        _consoleParent = -1;
        if (StdinWrite >= 0) Libc.Close(StdinWrite);
        StdinWrite = -1;
        foreach (var (fd, _) in Outputs) Libc.Close(fd);
        Outputs.Clear();
    }
}
