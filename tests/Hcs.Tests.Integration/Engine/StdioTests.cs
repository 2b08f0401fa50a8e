using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Engine;

/// <summary>ABI 3 stdio_fds: the monitor hands each container (init or exec'd process) its own
/// pipes instead of letting it inherit the monitor's stdio.</summary>
public sealed class StdioTests(ITestOutputHelper output) : IDisposable
{
    private readonly EngineHarness _h = new();

    public void Dispose() => _h.Dispose();

    [RootFact]
    public void Init_stdio_fds_carry_stdin_stdout_and_stderr()
    {
        // ls shows the fds the program was given: 0-2 plus the one ls opens for the listing;
        // the originals of the pipes (> 2) must have closed at execve
        using var b = new TestBundle("sh", "-c", "read line; echo \"out:$line\"; echo \"err:$line\" >&2; exec ls /proc/self/fd");
        using var i = new HostPipe();
        using var o = new HostPipe();
        using var e = new HostPipe();
        var record = _h.Run(b, [i.ReadFd, o.WriteFd, e.WriteFd]);
        i.CloseRead();
        o.CloseWrite();
        e.CloseWrite();
        var stdout = o.ReadToEndAsync();
        var stderr = e.ReadToEndAsync();
        i.Write("hello pipes\n");
        i.CloseWrite();

        int status = EngineHarness.WaitForExit(record.Pid, 20_000);
        var outText = HostPipe.Finish(stdout);
        var errText = HostPipe.Finish(stderr);
        output.WriteLine($"stdout:\n{outText}\nstderr:\n{errText}");
        Assert.Equal(0, status);
        var lines = outText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("out:hello pipes", lines[0]);
        Assert.Equal(["0", "1", "2", "3"], lines[1..]);
        Assert.Equal("err:hello pipes\n", errText);
    }

    /// <summary>A clone of the caller starts with a copy of all its fds (hcs-monitor's: hundreds with
    /// many containers). A container whose file limit is below that count must still be made, run
    /// and exec'd into: the child keeps only what it was handed, before its limits are set.</summary>
    [RootFact]
    public void A_file_limit_below_the_callers_open_fd_count_still_runs_and_execs()
    {
        var held = Enumerable.Range(0, 200).Select(_ => Libc.Check(Libc.Open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC, 0), "open /dev/null")).ToList();
        try
        {
            var limit = new Rlimit { Type = "RLIMIT_NOFILE", Soft = 8, Hard = 8 };
            using var b = new TestBundle("sh", "-c", "ls /proc/self/fd; exec sleep 1000");
            b.With(s => s.Process!.Rlimits = [limit]);
            using var o = new HostPipe();
            var record = _h.Run(b, [_h.DevNull[0], o.WriteFd, _h.DevNull[2]]);
            o.CloseWrite();
            var stdout = o.ReadToEndAsync();
            var r = _h.ExecChanged(record.Id, p => p.Rlimits = [limit], "sh", "-c", "ls /proc/self/fd; ulimit -n");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("0\n1\n2\n3\n8\n", r.Stdout);
            Libc.Kill(record.Pid, 9);
            EngineHarness.WaitForExit(record.Pid, 20_000);
            Assert.Equal("0\n1\n2\n3\n", HostPipe.Finish(stdout));
        }
        finally { held.ForEach(fd => Libc.Close(fd)); }
    }

    [RootFact]
    public void Exec_stdio_fds_carry_the_exec_d_process_stdio_and_exit_code()
    {
        using var b = new TestBundle("sleep", "1000");
        var record = _h.Run(b);
        var r = _h.Exec(record.Id, "line one\nline two\n", "sh", "-c", "cat; echo to-stderr >&2; exit 3");
        output.WriteLine(r.ToString());
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("line one\nline two\n", r.Stdout);
        Assert.Equal("to-stderr\n", r.Stderr);
    }

    /// <summary>The monitor starts containers from many threads at once: each one's output goes to
    /// its own pipes, none leaks into another's (a pipe end inherited by the wrong child would
    /// also hold that pipe open: every read here must reach EOF).</summary>
    [RootFact]
    public void Containers_started_concurrently_each_write_to_their_own_pipes()
    {
        const int n = 4;
        var bundles = Enumerable.Range(0, n).Select(k => new TestBundle("sh", "-c", $"echo container-{k}; echo e{k} >&2")).ToArray();
        try
        {
            var results = Enumerable.Range(0, n).AsParallel().WithDegreeOfParallelism(n).Select(k =>
            {
                using var o = new HostPipe();
                using var e = new HostPipe();
                var record = _h.Run(bundles[k], [_h.DevNull[0], o.WriteFd, e.WriteFd]);
                o.CloseWrite();
                e.CloseWrite();
                var stdout = o.ReadToEndAsync();
                var stderr = e.ReadToEndAsync();
                int status = EngineHarness.WaitForExit(record.Pid, 20_000);
                return (k, status, Out: HostPipe.Finish(stdout), Err: HostPipe.Finish(stderr));
            }).ToList();
            foreach (var (k, status, outText, errText) in results)
            {
                Assert.Equal(0, status);
                Assert.Equal($"container-{k}\n", outText);
                Assert.Equal($"e{k}\n", errText);
            }
        }
        finally
        {
            foreach (var b in bundles) b.Dispose();
        }
    }

    [RootFact]
    public void Stdio_fds_0_to_2_are_refused_before_anything_starts()
    {
        using var b = new TestBundle("true");
        var id = Runtime.NewId("e");
        var ex = Assert.Throws<SpawnException>(() =>
            _h.Engine.Create(id, b.Dir, new CreateOptions { StdioFds = [-1, 1, -1] }));
        Assert.Contains("stdio fds must be above 2", ex.Message);
        Assert.False(Directory.Exists(Path.Combine(_h.Root, id)), "a refused create leaves no state");
    }
}
