using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>process.terminal (config.md "terminal", runc's --console-socket protocol): the
/// container gets a pty as its controlling terminal and /dev/console; the caller gets the master,
/// either through the socket or, in the foreground, relayed by runhcs itself.</summary>
public sealed class ConsoleTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();
    private readonly string _sockDir = SpecHelpers.HostDir("console");

    public void Dispose()
    {
        _rt.Dispose();
        SpecHelpers.TryDeleteDir(_sockDir);
    }

    private static TestBundle TerminalBundle(params string[] args) =>
        new TestBundle(args).With(s => s.Process!.Terminal = true);

    [RootFact]
    public void Console_socket_receives_the_pty_master_and_carries_the_session()
    {
        using var b = TerminalBundle("sh");
        using var sock = new ConsoleSocket(_sockDir);
        var id = Runtime.NewId();
        _rt.Ok("create", "--console-socket", sock.Path, "--bundle", b.Dir, id);
        using var master = sock.ReceiveMaster();
        output.WriteLine($"console message data: {master.MessageData}");
        _rt.Ok("start", id);
        master.Write("echo hi-$((40+2))\n");
        var seen = master.ReadUntil("hi-42\r\n");
        Assert.Contains("echo hi-$((40+2))", seen); // the terminal echoes what was typed
        Assert.Contains("hi-42\r\n", seen);          // and the output comes back with the tty's \r\n
        master.Write("exit 0\n");
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the shell to exit");
    }

    [RootFact]
    public void Container_terminal_is_dev_pts_0_and_dev_console_exists()
    {
        using var b = TerminalBundle("sh", "-c", "tty; stat -c '%n %t:%T' /dev/console; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; sleep 2");
        using var sock = new ConsoleSocket(_sockDir);
        var id = Runtime.NewId();
        _rt.Ok("create", "--console-socket", sock.Path, "--bundle", b.Dir, id);
        using var master = sock.ReceiveMaster();
        _rt.Ok("start", id);
        var seen = master.ReadUntil("all-ttys");
        output.WriteLine(seen);
        var lines = seen.Split("\r\n");
        Assert.Equal("/dev/pts/0", lines[0]);
        Assert.Matches(@"^/dev/console 88:0$", lines[1]); // the pty slave, 136:0, is what /dev/console is
        Assert.Equal("all-ttys", lines[2]);
    }

    [RootFact]
    public void Console_size_is_applied_to_the_terminal()
    {
        using var b = TerminalBundle("sh", "-c", "stty size; sleep 2").With(s => s.Process!.ConsoleSize = new Box { Height = 31, Width = 101 });
        using var sock = new ConsoleSocket(_sockDir);
        var id = Runtime.NewId();
        _rt.Ok("create", "--console-socket", sock.Path, "--bundle", b.Dir, id);
        using var master = sock.ReceiveMaster();
        _rt.Ok("start", id);
        Assert.StartsWith("31 101\r\n", master.ReadUntil("\r\n"));
    }

    /// <summary>The pty is opened during create, under the container's device rules: those must
    /// be complete by then, every time (on v1 they are rewritten from "deny all" up, and a
    /// child that joined before they were written got EPERM from /dev/ptmx now and then).</summary>
    [RootFact]
    public void A_terminal_is_opened_on_every_create()
    {
        using var b = TerminalBundle("true");
        for (int i = 0; i < 20; i++)
        {
            using var sock = new ConsoleSocket(_sockDir);
            var id = Runtime.NewId();
            _rt.Ok("create", "--console-socket", sock.Path, "--bundle", b.Dir, id);
            using (sock.ReceiveMaster()) { }
            _rt.Ok("delete", "--force", id);
        }
    }

    [RootFact]
    public void Foreground_run_with_a_terminal_relays_the_pty()
    {
        if (!Tools.Exists("script")) { output.WriteLine("SKIP: script(1) from util-linux is not installed"); return; }
        using var b = TerminalBundle("sh", "-c", "tty; echo relayed; exit 7");
        var id = Runtime.NewId();
        var r = Tools.Run("script", ["-qec", $"{Runtime.Binary} --root {_rt.Root} run --bundle {b.Dir} {id}", "/dev/null"], keepStdinOpen: true);
        output.WriteLine(r.ToString());
        Assert.Equal(7, r.ExitCode);
        Assert.Contains("/dev/pts/0\r\n", r.Stdout);
        Assert.Contains("relayed\r\n", r.Stdout);
    }

    [RootFact]
    public void Detached_terminal_without_a_console_socket_is_refused()
    {
        using var b = TerminalBundle("sh");
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("console socket", r.Stderr);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Exec_with_a_tty_sends_its_own_master()
    {
        using var b = new TestBundle("sleep", "100");
        var id = Runtime.NewId();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        using var sock = new ConsoleSocket(_sockDir);
        _rt.ExecOk("-d", "--tty", "--console-socket", sock.Path, id, "sh", "-c", "tty; echo exec-tty-ok; sleep 1");
        using var master = sock.ReceiveMaster();
        var seen = master.ReadUntil("exec-tty-ok");
        output.WriteLine(seen);
        Assert.Matches(@"^/dev/pts/\d+\r\n", seen);
        Assert.Contains("exec-tty-ok\r\n", seen);
    }
}
