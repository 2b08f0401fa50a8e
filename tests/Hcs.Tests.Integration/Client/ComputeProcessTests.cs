using System.Text;
using Hcs.Client;
using Hcs.Tests.Integration.Support;
using static Hcs.Tests.Integration.Client.ClientTestSupport;
using Doc = Hcs.Schema.Hcs;

namespace Hcs.Tests.Integration.Client;

/// <summary>Processes through Hcs.Client: pipes over the attach WebSocket, the console, attaching
/// after the fact, and letting go of a process without touching it.</summary>
public sealed class ComputeProcessTests
{
    [RootFact]
    public async Task Stdin_reaches_the_process_and_comes_back_through_stdout()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "cat");
        try
        {
            var parameters = Command("cat");
            parameters.CreateStdInPipe = parameters.CreateStdOutPipe = true;
            await using var cat = await system.CreateProcessAsync(parameters, Deadline());
            Assert.NotNull(cat.StandardInput);
            Assert.NotNull(cat.StandardOutput);
            Assert.Null(cat.StandardError); // not asked for

            await cat.StandardInput.WriteAsync("hello\n"u8.ToArray(), Deadline());
            Assert.Equal("hello\n", await ReadUntilAsync(cat.StandardOutput, "hello\n"));
            cat.StandardInput.Write("sync write\n"u8); // the CLI's stdin thread writes this way
            await cat.StandardInput.WriteAsync("last line\n"u8.ToArray(), Deadline());
            await cat.CloseStandardInputAsync(Deadline()); // after every byte written before it

            Assert.Equal("sync write\nlast line\n", await ReadToEndAsync(cat.StandardOutput));
            Assert.Equal(0, await cat.WaitForExitAsync(Deadline()));
            Assert.Equal(0, cat.ExitCode);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Start_attached_delivers_the_inits_first_output_and_its_exit_code()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await hcs.CreateComputeSystemAsync(NewId("sa"), Hcsd.ContainerDocument("sh", "-c", "echo first; echo err >&2; exit 7"), Deadline());
        try
        {
            Assert.NotEqual(0u, system.InitProcessId);
            await using var init = await system.StartAttachedAsync(Deadline());
            var stdout = ReadToEndAsync(init.StandardOutput!);
            var stderr = ReadToEndAsync(init.StandardError!);
            Assert.Equal("first\n", await stdout); // written at once: the attach came first
            Assert.Equal("err\n", await stderr);
            Assert.Equal(7, init.ExitCode); // the attach's last message, no wait request
            var exit = await system.WaitForExitAsync(null, Deadline());
            Assert.Equal(7, exit.ExitCode);

            // started once: a second combined start is the start's own refusal, and the
            // handle from an open (no init id) cannot ask for it
            var again = await Assert.ThrowsAsync<Doc.HcsException>(() => system.StartAttachedAsync(Deadline()));
            Assert.Equal("HCS_E_INVALID_STATE", again.Error.Name);
            await using var opened = await hcs.OpenComputeSystemAsync(system.Id, Deadline());
            await Assert.ThrowsAsync<InvalidOperationException>(() => opened.StartAttachedAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Start_attached_with_remove_deletes_the_system_before_the_exit_code()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var id = NewId("sa-rm");
        var system = await hcs.CreateComputeSystemAsync(id, Hcsd.ContainerDocument("sh", "-c", "echo bye; exit 4"), Deadline());
        await using (var init = await system.StartAttachedAsync(removeOnExit: true, Deadline()))
        {
            Assert.Equal("bye\n", await ReadToEndAsync(init.StandardOutput!));
            Assert.Equal("", await ReadToEndAsync(init.StandardError!));
            Assert.Equal(4, init.ExitCode);
            Assert.True(init.SystemRemoved);
        }
        // gone by the time the exit code came: nothing left to delete
        var gone = await Assert.ThrowsAsync<Doc.HcsException>(() => hcs.OpenComputeSystemAsync(id, Deadline()));
        Assert.Equal("HCS_E_SYSTEM_NOT_FOUND", gone.Error.Name);
        Daemon.HostTraces.AssertNone(d, id);

        // without it the system stays, stopped, for its owner to delete
        var kept = await hcs.CreateComputeSystemAsync(NewId("sa-keep"), Hcsd.ContainerDocument("true"), Deadline());
        try
        {
            await using (var init = await kept.StartAttachedAsync(Deadline()))
            {
                await ReadToEndAsync(init.StandardOutput!);
                Assert.Equal(0, init.ExitCode);
                Assert.False(init.SystemRemoved);
            }
            Assert.Equal("Stopped", (await kept.GetPropertiesAsync([], Deadline())).State);
        }
        finally
        {
            await RemoveAsync(kept);
        }
    }

    [RootFact]
    public async Task Start_attached_without_an_upgrade_is_refused_and_starts_nothing()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await hcs.CreateComputeSystemAsync(NewId("sa-plain"), Hcsd.ContainerDocument("sleep", "30"), Deadline());
        try
        {
            var r = await d.Http.GetAsync($"v2/compute-systems/{system.Id}/start/attach");
            Assert.Equal(400, (int)r.StatusCode);
            Assert.Contains("HCS_E_INVALID_JSON", await r.Content.ReadAsStringAsync());
            Assert.Equal("Created", (await system.GetPropertiesAsync()).State);
            var missing = await d.Http.GetAsync("v2/compute-systems/no-such-system/start/attach");
            Assert.Equal(404, (int)missing.StatusCode);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Quick_processes_are_seen_exited_as_soon_as_their_attach_ends()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "quick");
        try
        {
            for (int i = 0; i < 10; i++)
            {
                // exits before (or while) hcsd gets the monitor's exec answer: its exit event may
                // come first, and must not be lost
                var parameters = Command("sh", "-c", $"echo {i}; exit 4");
                parameters.CreateStdOutPipe = true;
                await using var p = await system.CreateProcessAsync(parameters, Deadline());
                Assert.Equal($"{i}\n", await ReadToEndAsync(p.StandardOutput!));
                var status = await p.GetStatusAsync(Deadline());
                Assert.True(status.Exited, $"process {p.ProcessId} not exited after its output and exit came");
                Assert.Equal(4u, status.ExitCode);
                Assert.Equal(4, await p.WaitForExitAsync(Deadline()));
            }
            Assert.DoesNotContain("event has not come", d.Log);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Stdout_and_stderr_are_separate_and_the_exit_code_is_reported()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "pipes");
        try
        {
            var parameters = Command("sh", "-c", "echo out; echo err >&2; echo more out; exit 3");
            parameters.CreateStdOutPipe = parameters.CreateStdErrPipe = true;
            await using var p = await system.CreateProcessAsync(parameters, Deadline());
            Assert.Null(p.StandardInput);
            var stdout = ReadToEndAsync(p.StandardOutput!);
            var stderr = ReadToEndAsync(p.StandardError!);
            Assert.Equal(3, await p.WaitForExitAsync(Deadline()));
            Assert.Equal("out\nmore out\n", await stdout);
            Assert.Equal("err\n", await stderr);
            Assert.Equal(3, p.ExitCode);

            var status = await p.GetStatusAsync(Deadline());
            Assert.True(status.Exited);
            Assert.Equal(3u, status.ExitCode);
            Assert.Equal(p.ProcessId, status.ProcessId);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Large_output_arrives_whole_through_the_bounded_streams()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "big");
        try
        {
            // far more than the client's pipe holds: the reader below is what lets it through
            const int size = 8 * 1024 * 1024;
            var parameters = Command("head", "-c", size.ToString(), "/dev/zero");
            parameters.CreateStdOutPipe = true;
            await using var p = await system.CreateProcessAsync(parameters, Deadline());
            long total = 0;
            var buffer = new byte[64 * 1024];
            int n;
            var ct = Deadline();
            while ((n = await p.StandardOutput!.ReadAsync(buffer, ct)) > 0)
            {
                Assert.True(buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) < 0, "only zeros were written");
                total += n;
            }
            Assert.Equal(size, total);
            Assert.Equal(0, await p.WaitForExitAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task A_console_process_has_one_output_stream_and_follows_resizes()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "tty");
        try
        {
            var parameters = Command("sh");
            parameters.EmulateConsole = true;
            parameters.CreateStdInPipe = parameters.CreateStdOutPipe = parameters.CreateStdErrPipe = true;
            parameters.ConsoleSize = [24, 80];
            await using var sh = await system.CreateProcessAsync(parameters, Deadline());
            Assert.NotNull(sh.StandardOutput);
            Assert.Null(sh.StandardError); // one stream: the console

            await sh.ResizeConsoleAsync(40, 132, Deadline());
            // the terminal echoes what is typed: the expected answers are never in the commands
            await sh.StandardInput!.WriteAsync(Encoding.ASCII.GetBytes("stty size; echo $((6*7))err >&2; exit 4\n"), Deadline());
            var console = await ReadToEndAsync(sh.StandardOutput);
            Assert.Contains("40 132", console);
            Assert.Contains("42err", console); // stderr went to the console too
            Assert.Equal(4, await sh.WaitForExitAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Attaching_after_the_fact_delivers_the_output_written_before()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        // The init writes, then waits for a file that only appears once we are attached.
        var system = await hcs.CreateComputeSystemAsync(NewId("late"), Hcsd.ContainerDocument(
            "sh", "-c", "echo early; while [ ! -e /tmp/go ]; do sleep 1; done; echo late; exit 6"), Deadline());
        try
        {
            await system.StartAsync(Deadline());
            var init = (await system.GetPropertiesAsync()).InitProcessId;
            await WaitForLogAsync(system, "early\n");

            await using var attached = await system.OpenProcessAsync(init, attach: true, Deadline());
            Assert.Equal(init, attached.ProcessId);
            var output = ReadToEndAsync(attached.StandardOutput!);
            await using (var touch = await system.CreateProcessAsync(Command("touch", "/tmp/go"), Deadline()))
                Assert.Equal(0, await touch.WaitForExitAsync(Deadline()));

            Assert.Equal("early\nlate\n", await output);
            Assert.Equal(6, await attached.WaitForExitAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Attach_on_an_opened_handle_works_once()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "open");
        try
        {
            var parameters = Command("cat");
            parameters.CreateStdInPipe = parameters.CreateStdOutPipe = true;
            uint pid;
            await using (var created = await system.CreateProcessAsync(parameters, Deadline()))
                pid = created.ProcessId; // let go without reading or closing anything

            await using var opened = await system.OpenProcessAsync(pid, attach: false, Deadline());
            Assert.Null(opened.StandardOutput);
            Assert.False((await opened.GetStatusAsync(Deadline())).Exited);
            await opened.AttachAsync(Deadline());
            await Assert.ThrowsAsync<InvalidOperationException>(() => opened.AttachAsync(Deadline()));

            await opened.StandardInput!.WriteAsync("again\n"u8.ToArray(), Deadline());
            Assert.EndsWith("again\n", await ReadUntilAsync(opened.StandardOutput!, "again\n"));
            await opened.StandardInput.DisposeAsync(); // disposing stdin closes the process's stdin
            await ReadToEndAsync(opened.StandardOutput!);
            Assert.Equal(0, await opened.WaitForExitAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Disposing_mid_attach_leaves_the_process_running()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "detach");
        try
        {
            // `yes` writes without end: the client stops reading, its pipe fills, its reader loop
            // waits; disposing must still be prompt and must not stop the process.
            var parameters = Command("yes");
            parameters.CreateStdInPipe = parameters.CreateStdOutPipe = true;
            var yes = await system.CreateProcessAsync(parameters, Deadline());
            await ReadUntilAsync(yes.StandardOutput!, "y\ny\n");
            var pid = yes.ProcessId;
            await yes.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            await Assert.ThrowsAsync<ObjectDisposedException>(() => yes.GetStatusAsync());

            await using var again = await system.OpenProcessAsync(pid, ct: Deadline());
            // (if the disconnect had closed stdin or signalled it, yes would be gone well within this)
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => again.WaitForExitAsync(cts.Token));
            Assert.False((await again.GetStatusAsync(Deadline())).Exited);

            await again.SignalAsync(9, Deadline());
            Assert.Equal(128 + 9, await again.WaitForExitAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Signals_reach_the_process()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "signal");
        try
        {
            var parameters = Command("sh", "-c", "trap 'echo got TERM; exit 12' TERM; echo ready; while true; do sleep 1; done");
            parameters.CreateStdOutPipe = true;
            await using var p = await system.CreateProcessAsync(parameters, Deadline());
            await ReadUntilAsync(p.StandardOutput!, "ready\n");
            await p.SignalAsync(15, Deadline());
            Assert.Equal(12, await p.WaitForExitAsync(Deadline()));
            Assert.Equal("got TERM\n", await ReadToEndAsync(p.StandardOutput!));

            var stopped = await Assert.ThrowsAsync<Doc.HcsException>(() => p.SignalAsync(15, Deadline()));
            Assert.Equal("HCS_E_PROCESS_ALREADY_STOPPED", stopped.Error.Name);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    private static async Task WaitForLogAsync(ComputeSystem system, string text)
    {
        var ct = Deadline();
        var seen = new StringBuilder();
        await foreach (var entry in system.GetLogsAsync(follow: true, ct))
        {
            seen.Append(entry.Data);
            if (seen.ToString().Contains(text, StringComparison.Ordinal)) return;
        }
        throw new EndOfStreamException($"the log ended before \"{text}\" came; it said: {seen}");
    }
}
