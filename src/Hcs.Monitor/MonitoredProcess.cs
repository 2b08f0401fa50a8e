using System.Buffers.Binary;
using Hcs.Linux.Native;
using Hcs.Schema.Monitor;

namespace Hcs.Monitor;

/// <summary>
/// A container process the monitor is the parent of: its pidfd (exit), its output pipes (or
/// pty master), its stdin, the output kept for the first attacher, and its attachers.
/// Everything that touches the state takes the one lock; the io loop calls in on its thread.
/// </summary>
internal sealed unsafe class MonitoredProcess : IIoHandler
{
    /// <summary>Output kept while nobody is attached. Beyond it: with a log (the init), the
    /// oldest bytes go (the log has them all); without one, reading stops until someone
    /// attaches, and the writer blocks on its full pipe as with any unread pipe.</summary>
    private const int BacklogLimit = 1 << 20;
    /// <summary>How long the exit frame waits for pipes some other process still holds open.</summary>
    private static readonly TimeSpan OutputGrace = TimeSpan.FromMilliseconds(200);

    private readonly IoLoop _loop;
    private readonly Lock _gate = new();
    private readonly List<Output> _outputs = [];
    private readonly List<Attacher> _attachers = [];
    private readonly LinkedList<byte[]> _backlog = [];
    private readonly OutputLog? _log;
    private readonly Action<MonitoredProcess> _exited;
    private int _pidfd;
    private ulong _pidToken;
    private int _stdin;
    private bool _exitSent;
    private Timer? _grace;
    /// <summary>Reading stopped: the backlog is full and nobody is attached (no log).</summary>
    private bool _paused;
    /// <summary>Reading stopped: an attached client is too slow.</summary>
    private bool _throttled;
    private bool Reading => !_paused && !_throttled;
    private long _backlogBytes;

    public string SystemId { get; }
    public int Pid { get; }
    public bool IsInit { get; }
    public bool Terminal { get; }
    public bool HasStdin { get; }
    public bool Exited { get; private set; }
    public int ExitCode { get; private set; }
    public bool Signaled { get; private set; }
    public DateTime? ExitTime { get; private set; }

    /// <param name="stdin">write end of the stdin pipe (or a dup of the pty master), -1 = none</param>
    /// <param name="outputs">(fd, stream) pairs to read: stdout 1, stderr 2; a pty is one stream 1</param>
    public MonitoredProcess(IoLoop loop, string systemId, int pid, bool isInit, bool terminal, int stdin,
                            IReadOnlyList<(int Fd, byte Stream)> outputs, string? logPath, Action<MonitoredProcess> exited)
    {
        _loop = loop;
        SystemId = systemId;
        Pid = pid;
        IsInit = isInit;
        Terminal = terminal;
        _stdin = stdin;
        HasStdin = stdin >= 0;
        _exited = exited;
        if (logPath is not null) _log = new OutputLog(logPath);
        foreach (var (fd, stream) in outputs)
        {
            Libc.Fcntl(fd, Sys.F_SETFL, Libc.Fcntl(fd, Sys.F_GETFL, 0) | Libc.O_NONBLOCK);
            _outputs.Add(new Output(this, fd, stream));
        }
        // A pidfd of our own child stays valid after it exits: the exit cannot be missed even if
        // it happened before this line.
        _pidfd = Libc.Check(Libc.PidfdOpen(pid), $"pidfd_open {pid}");
        lock (_gate)
        {
            foreach (var o in _outputs) o.Token = _loop.Add(o.Fd, o);
            _pidToken = _loop.Add(_pidfd, this);
        }
    }

    // ---- exit --------------------------------------------------------------------------

    /// <summary>The pidfd is readable: the process exited. Reap it, take what output is
    /// already in the pipes (so logs and attachers are complete), then report.</summary>
    public void OnReady(uint events)
    {
        lock (_gate)
        {
            if (Exited || _pidfd < 0) return;
            if (!Sys.TryReap(_pidfd, out int code, out bool signaled)) return;
            Exited = true;
            ExitCode = code;
            Signaled = signaled;
            ExitTime = DateTime.UtcNow;
            _loop.Remove(_pidToken, _pidfd);
            Libc.Close(_pidfd);
            _pidfd = -1;
            foreach (var o in _outputs) o.Drain();
            if (!_outputs.Exists(o => o.Open)) SendExitLocked();
            else _grace = new Timer(_ => GraceOver(), null, OutputGrace, Timeout.InfiniteTimeSpan);
        }
        _exited(this);
    }

    /// <summary>The process exited but its pipes are still open (a child of it holds them):
    /// report the exit anyway, unless output is waiting because we stopped reading it (then
    /// the exit follows that output, when reading resumes and the pipes end or go quiet).</summary>
    private void GraceOver()
    {
        lock (_gate)
        {
            if (_exitSent) return;
            if (Reading) SendExitLocked();
            else _grace?.Change(OutputGrace, Timeout.InfiniteTimeSpan);
        }
    }

    private void SendExitLocked()
    {
        if (_exitSent) return;
        _exitSent = true;
        var frame = ExitFrame();
        foreach (var a in _attachers)
        {
            a.Send(frame);
            a.Complete();
        }
        _attachers.Clear();
    }

    private byte[] ExitFrame()
    {
        var frame = new byte[5];
        frame[0] = AttachStream.Exit;
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(1), ExitCode);
        return frame;
    }

    // ---- output ------------------------------------------------------------------------

    private void Deliver(byte stream, ReadOnlySpan<byte> data)
    {
        _log?.Append(stream, data);
        var frame = new byte[data.Length + 1];
        frame[0] = stream;
        data.CopyTo(frame.AsSpan(1));
        _attachers.RemoveAll(a => a.Dead);
        if (_attachers.Count > 0)
        {
            foreach (var a in _attachers) a.Send(frame);
            return;
        }
        _backlog.AddLast(frame);
        _backlogBytes += frame.Length;
        if (_log is null)
        {
            if (_backlogBytes > BacklogLimit) SetPaused(true);
            return;
        }
        while (_backlogBytes > BacklogLimit && _backlog.First is { } first)
        {
            _backlogBytes -= first.Value.Length;
            _backlog.RemoveFirst();
        }
    }

    private void OutputClosed()
    {
        if (Exited && !_outputs.Exists(o => o.Open))
        {
            _grace?.Dispose();
            SendExitLocked();
        }
    }

    private void Throttle(bool slow)
    {
        lock (_gate)
        {
            _throttled = slow;
            ApplyReading();
        }
    }

    private void SetPaused(bool paused)
    {
        _paused = paused;
        ApplyReading();
    }

    /// <summary>Caller holds the lock. Level-triggered epoll: data left in a pipe is reported
    /// again as soon as reading is enabled.</summary>
    private void ApplyReading()
    {
        foreach (var o in _outputs)
            if (o.Open) _loop.SetEnabled(o.Token, o.Fd, Reading);
    }

    // ---- attach and stdin --------------------------------------------------------------

    /// <summary>Streams this process's output to stream: first what was kept, then live, then
    /// the exit frame. Returns when the attacher has sent everything or its client left.</summary>
    public Task Attach(Stream stream)
    {
        var a = new Attacher(stream, Throttle);
        lock (_gate)
        {
            foreach (var frame in _backlog) a.Send(frame);
            _backlog.Clear();
            _backlogBytes = 0;
            if (_paused) SetPaused(false);
            if (_exitSent)
            {
                a.Send(ExitFrame());
                a.Complete();
            }
            else _attachers.Add(a);
        }
        return a.Sent;
    }

    public void Detach(Task sent)
    {
        lock (_gate)
        {
            var a = _attachers.Find(x => x.Sent == sent);
            if (a is null) return;
            a.Abandon();
            _attachers.Remove(a);
        }
    }

    /// <summary>Writes to the process's stdin (blocking: a process that does not read holds
    /// back its attached client, not the monitor). False once stdin is closed.</summary>
    public bool WriteStdin(ReadOnlySpan<byte> data)
    {
        int fd;
        lock (_gate) fd = _stdin;
        if (fd < 0) return false;
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Libc.Write(fd, p + done, data.Length - done);
                if (n < 0)
                {
                    if (Libc.Errno == Libc.EINTR) continue;
                    return false; // EPIPE: nobody reads stdin any more
                }
                done += (int)n;
            }
        }
        return true;
    }

    /// <summary>EOF on stdin. With a terminal, stdin is the pty: send the EOF character instead.</summary>
    public void CloseStdin()
    {
        if (Terminal)
        {
            byte eot = 4;
            WriteStdin(new ReadOnlySpan<byte>(&eot, 1));
            return;
        }
        lock (_gate)
        {
            if (_stdin >= 0) Libc.Close(_stdin);
            _stdin = -1;
        }
    }

    public void Resize(ushort rows, ushort cols)
    {
        if (!Terminal) throw new Linux.Containers.RuntimeError("the process has no console", Linux.Containers.RuntimeErrorKind.InvalidState);
        int fd;
        lock (_gate) fd = _stdin;
        if (fd < 0) return;
        ushort* ws = stackalloc ushort[4];
        ws[0] = rows; ws[1] = cols; ws[2] = 0; ws[3] = 0;
        Libc.Ioctl(fd, Sys.TIOCSWINSZ, ws);
    }

    public int SendSignal(int signal)
    {
        lock (_gate)
        {
            if (Exited || _pidfd < 0) return -1;
            return Libc.PidfdSendSignal(_pidfd, signal);
        }
    }

    /// <summary>Stops watching and closes everything (the system is being deleted).</summary>
    public void Close()
    {
        lock (_gate)
        {
            _grace?.Dispose();
            if (!_exitSent && Exited) SendExitLocked();
            foreach (var a in _attachers) a.Abandon();
            _attachers.Clear();
            foreach (var o in _outputs) o.Close();
            if (_pidfd >= 0)
            {
                _loop.Remove(_pidToken, _pidfd);
                Libc.Close(_pidfd);
                _pidfd = -1;
            }
            if (_stdin >= 0) Libc.Close(_stdin);
            _stdin = -1;
            _log?.Dispose();
        }
    }

    public ProcessState State() => new()
    {
        Pid = Pid,
        Exited = Exited,
        ExitCode = ExitCode,
        ExitTime = ExitTime,
    };

    /// <summary>One output pipe (or the pty master) on the io loop.</summary>
    private sealed class Output(MonitoredProcess owner, int fd, byte stream) : IIoHandler
    {
        private static readonly byte[] Buffer = new byte[64 * 1024]; // io loop thread only... and Drain under the owner's lock
        public int Fd { get; private set; } = fd;
        public ulong Token { get; set; }
        public bool Open => Fd >= 0;

        public void OnReady(uint events)
        {
            lock (owner._gate) Drain();
        }

        /// <summary>Reads until the pipe is empty; EOF (or EIO from a pty whose other side is
        /// gone) closes it. Caller holds the owner's lock.</summary>
        public void Drain()
        {
            lock (Buffer)
            {
                while (Fd >= 0 && owner.Reading)
                {
                    nint n;
                    fixed (byte* p = Buffer) n = Libc.Read(Fd, p, Buffer.Length);
                    if (n > 0)
                    {
                        owner.Deliver(stream, Buffer.AsSpan(0, (int)n));
                        continue;
                    }
                    if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                    if (n < 0 && Libc.Errno == Libc.EAGAIN) return;
                    Close();
                    owner.OutputClosed();
                }
            }
        }

        public void Close()
        {
            if (Fd < 0) return;
            owner._loop.Remove(Token, Fd);
            Libc.Close(Fd);
            Fd = -1;
        }
    }
}
