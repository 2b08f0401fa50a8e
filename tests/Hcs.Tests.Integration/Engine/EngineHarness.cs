using System.Text;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Engine;

/// <summary>
/// The engine in this process, as hcs-monitor hosts it: containers are our children, their
/// stdio is pipes we hand over as fds. A state root of its own; every container made through
/// it is deleted (--force) and reaped when it is disposed.
/// </summary>
public sealed unsafe class EngineHarness : IDisposable
{
    public string Root { get; } = Path.Combine("/run/hcs-tests", "engine-" + Guid.NewGuid().ToString("N")[..12]);
    public ContainerEngine Engine { get; }
    private readonly List<(string Id, int Pid)> _containers = [];
    private readonly int _devNull;

    public EngineHarness()
    {
        Directory.CreateDirectory(Root);
        Engine = new ContainerEngine(new EngineOptions { Root = Root });
        // containers that are not given pipes get /dev/null, never the test runner's stdio
        _devNull = Libc.Check(Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0), "open /dev/null");
    }

    public int[] DevNull => [_devNull, _devNull, _devNull];

    /// <summary>Creates and starts a container, returning once its init has exec'd (started over
    /// the spawn session, as `run` does); the init is our child. Safe from several threads.</summary>
    public ContainerRecord Run(TestBundle b, int[]? stdio = null, string? initExecPath = null)
    {
        var id = Runtime.NewId("e");
        var created = Engine.Create(id, b.Dir, new CreateOptions
        {
            StdioFds = stdio ?? DevNull,
            InitExecPath = initExecPath,
            StartViaSession = true,
        });
        lock (_containers) _containers.Add((id, created.Record.Pid));
        Engine.StartSession(created);
        return created.Record;
    }

    /// <summary>Runs a process in the container with its stdio on pipes; its exit code and output.
    /// A spawn that lost the known intermediate race (see SpecHelpers.SpawnRace) is retried:
    /// these tests are about stdio and mounts, the race has its own tests.</summary>
    public CommandResult Exec(string id, string? stdin, params string[] args)
    {
        for (int attempt = 1; ; attempt++)
        {
            try { return ExecOnce(id, stdin, null, args); }
            catch (SpawnException e) when (e.Message.Contains(Runhcs.SpecHelpers.SpawnRace) && attempt < 5) { }
        }
    }

    /// <summary>As <see cref="Exec(string, string?, string[])"/>, with the process changed first.</summary>
    public CommandResult ExecChanged(string id, Action<Process> change, params string[] args) => ExecOnce(id, null, change, args);

    private CommandResult ExecOnce(string id, string? stdin, Action<Process>? change, string[] args)
    {
        using var i = new HostPipe();
        using var o = new HostPipe();
        using var e = new HostPipe();
        var process = new Process
        {
            Args = [.. args],
            Env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            Cwd = "/",
            User = new User(),
            Capabilities = Engine.Store.Load(id).Config.Process?.Capabilities,
        };
        change?.Invoke(process);
        var exec = Engine.Exec(id, process, new ExecOptions { StdioFds = [i.ReadFd, o.WriteFd, e.WriteFd] });
        // the process has its copies now: ours must go, or EOF never comes
        i.CloseRead();
        o.CloseWrite();
        e.CloseWrite();
        var stdout = o.ReadToEndAsync();
        var stderr = e.ReadToEndAsync();
        if (stdin is not null) i.Write(stdin);
        i.CloseWrite();
        try { exec.WaitStarted(); }
        catch { Reap(exec.Pid); throw; }
        int status = WaitForExit(exec.Pid, 20_000);
        return new CommandResult(Libc.ExitCodeOf(status), HostPipe.Finish(stdout), HostPipe.Finish(stderr));
    }

    public CommandResult ExecOk(string id, params string[] args)
    {
        var r = Exec(id, null, args);
        Assert.True(r.ExitCode == 0, $"exec {string.Join(' ', args)} failed:\n{r}");
        return r;
    }

    /// <summary>Waits for our child to exit, at most timeoutMs (a pidfd poll, then waitpid);
    /// returns the raw wait status.</summary>
    public static int WaitForExit(int pid, int timeoutMs)
    {
        int fd = Libc.PidfdOpen(pid);
        if (fd >= 0)
        {
            try
            {
                var p = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
                if (Libc.Poll(&p, 1, timeoutMs) == 0) throw new TimeoutException($"process {pid} did not exit within {timeoutMs} ms");
            }
            finally { Libc.Close(fd); }
        }
        return Libc.WaitForExit(pid);
    }

    /// <summary>Reaps pid if it has exited (a zombie); never blocks.</summary>
    private static void Reap(int pid)
    {
        int status;
        Libc.WaitPid(pid, &status, Libc.WNOHANG | Libc.__WALL);
    }

    public void Dispose()
    {
        foreach (var (id, pid) in _containers)
        {
            try { Engine.Delete(id, force: true); }
            catch (Exception) { /* keep cleaning the others */ }
            Reap(pid);
        }
        Libc.Close(_devNull);
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A pipe whose ends are close-on-exec fds above 2, as the monitor makes them.</summary>
public sealed unsafe class HostPipe : IDisposable
{
    public int ReadFd { get; private set; }
    public int WriteFd { get; private set; }
    private Task? _reader;

    public HostPipe()
    {
        int* fds = stackalloc int[2];
        Libc.Check(Libc.Pipe2(fds, Libc.O_CLOEXEC), "pipe2");
        ReadFd = fds[0];
        WriteFd = fds[1];
    }

    public void CloseRead() { if (ReadFd >= 0) Libc.Close(ReadFd); ReadFd = -1; }
    public void CloseWrite() { if (WriteFd >= 0) Libc.Close(WriteFd); WriteFd = -1; }

    public void Write(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* b = bytes)
            for (int done = 0; done < bytes.Length;)
            {
                nint n = Libc.Write(WriteFd, b + done, bytes.Length - done);
                if (n <= 0) throw new ErrnoException(Libc.Errno, "write to pipe");
                done += (int)n;
            }
    }

    /// <summary>Reads until every write end is closed (on a thread: read blocks).</summary>
    public Task<string> ReadToEndAsync()
    {
        int fd = ReadFd;
        var reading = Task.Factory.StartNew(() =>
        {
            var ms = new MemoryStream();
            var buf = new byte[4096];
            fixed (byte* b = buf)
                for (;;)
                {
                    nint n = Libc.Read(fd, b, buf.Length);
                    if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                    if (n <= 0) break;
                    ms.Write(buf, 0, (int)n);
                }
            return Encoding.UTF8.GetString(ms.ToArray());
        }, TaskCreationOptions.LongRunning);
        _reader = reading;
        return reading;
    }

    /// <summary>The text read, waiting at most 10 s for the last writer to close.</summary>
    public static string Finish(Task<string> reading)
    {
        if (!reading.Wait(10_000)) throw new TimeoutException("a pipe stayed open: some process still holds its write end");
        return reading.Result;
    }

    public void Dispose()
    {
        CloseWrite();
        // a reader still blocked (a test failed before EOF) keeps the fd: closing it would not
        // wake the read, and the number could be reused under it
        if (_reader is null || _reader.IsCompleted) CloseRead();
    }
}
