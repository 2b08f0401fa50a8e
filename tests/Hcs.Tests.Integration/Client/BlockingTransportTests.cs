using System.Text;
using Hcs.Client;
using Hcs.Tests.Integration.Support;
using static Hcs.Tests.Integration.Client.ClientTestSupport;
using Doc = Hcs.Schema.Hcs;

namespace Hcs.Tests.Integration.Client;

/// <summary>
/// HostComputeServiceOptions.BlockingTransport, which the CLI uses: requests read on the calling
/// thread, attach sessions on a thread of their own. The same answers, stdio and errors as the
/// asynchronous transport, and a cancellation still ends a request blocked in its read.
/// </summary>
public sealed class BlockingTransportTests
{
    private static HostComputeService Blocking(string socket) =>
        new(socket, new HostComputeServiceOptions { BlockingTransport = true });

    [RootFact]
    public async Task Attached_output_input_and_exit_codes_come_through()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = Blocking(d.SocketPath);
        // more output than the pipes hold before they push back (1 MiB), on both streams
        var system = await hcs.CreateComputeSystemAsync(NewId("bt"),
            Hcsd.ContainerDocument("sh", "-c", "echo out; echo err >&2; head -c 1500000 /dev/zero; head -c 1200000 /dev/zero >&2; exit 5"), Deadline());
        try
        {
            await using (var init = await system.StartAttachedAsync(Deadline()))
            {
                // stdout read as the CLI reads it: no synchronization context, so the code after
                // each read runs on the session's thread; stderr from the test's context, which
                // runs it elsewhere, so the session waits for it whenever it is 1 MiB behind
                var stdout = Task.Run(() => CountAsync(init.StandardOutput!));
                var stderr = CountAsync(init.StandardError!);
                Assert.Equal(("out\n", 4 + 1_500_000), await stdout);
                Assert.Equal(("err\n", 4 + 1_200_000), await stderr);
                Assert.Equal(5, init.ExitCode);
            }
            Assert.Equal(5, (await system.WaitForExitAsync(null, Deadline())).ExitCode);
        }
        finally
        {
            await RemoveAsync(system);
        }

        var idle = await StartIdleAsync(hcs, "bt-exec");
        try
        {
            var parameters = Command("sh", "-c", "cat; exit 3");
            parameters.CreateStdInPipe = parameters.CreateStdOutPipe = true;
            await using var cat = await idle.CreateProcessAsync(parameters, Deadline());
            cat.StandardInput!.Write("line one\n"u8); // as the CLI's stdin thread writes
            await cat.StandardInput.WriteAsync("line two\n"u8.ToArray(), Deadline());
            await cat.CloseStandardInputAsync(Deadline());
            Assert.Equal("line one\nline two\n", await ReadToEndAsync(cat.StandardOutput!));
            Assert.Equal(3, await cat.WaitForExitAsync(Deadline()));
        }
        finally
        {
            await RemoveAsync(idle);
        }
    }

    [RootFact]
    public async Task Cancelling_a_blocked_wait_ends_it_and_the_connection_serves_on()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = Blocking(d.SocketPath);
        var system = await StartIdleAsync(hcs, "bt-cancel");
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            // the call blocks this thread until hcsd answers or the token closes the connection
            var wait = Task.Run(() => system.WaitForExitAsync(null, cancel.Token));
            var first = await Task.WhenAny(wait, Task.Delay(Patience));
            Assert.True(first == wait, "the cancelled wait did not end");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);

            Assert.Equal("Running", (await system.GetPropertiesAsync([], Deadline())).State);
            await system.TerminateAsync(Deadline());
            Assert.Equal(137, (await system.WaitForExitAsync(null, Deadline())).ExitCode);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_attach_after_hcsd_restarted_goes_over_a_new_connection(bool blocking)
    {
        // An attach upgrades an idle pooled connection when there is one (hcs run: the create's).
        // When hcsd has closed that connection meanwhile (here: a restart), the upgrade finds it
        // dead before any answer and goes once more on a new one, as a plain request does.
        await using var d = await Hcsd.StartAsync();
        await using var hcs = blocking ? Blocking(d.SocketPath) : new HostComputeService(d.SocketPath);
        var system = await hcs.CreateComputeSystemAsync(NewId("bt-reuse"), Hcsd.ContainerDocument("sh", "-c", "echo first; exit 4"), Deadline());
        try
        {
            await using (var init = await system.StartAttachedAsync(Deadline()))
            {
                Assert.Equal("first\n", await ReadToEndAsync(init.StandardOutput!));
                Assert.Equal(4, await init.WaitForExitAsync(Deadline()));
            }
            var second = await hcs.CreateComputeSystemAsync(NewId("bt-reuse"), Hcsd.ContainerDocument("sh", "-c", "echo second; exit 6"), Deadline());
            try
            {
                await d.RestartAsync(); // the create's connection, idle in the pool, dies with it
                await using var init = await second.StartAttachedAsync(Deadline());
                Assert.Equal("second\n", await ReadToEndAsync(init.StandardOutput!));
                Assert.Equal(6, await init.WaitForExitAsync(Deadline()));
            }
            finally
            {
                await RemoveAsync(second);
            }
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task No_daemon_is_the_same_typed_error_as_without_it()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"hcs-no-daemon-{Guid.NewGuid():N}.sock");
        await using var blocking = Blocking(socket);
        await using var asynchronous = new HostComputeService(socket);
        var e = await Assert.ThrowsAsync<Doc.HcsException>(() => blocking.GetServiceInfoAsync(Deadline()));
        var expected = await Assert.ThrowsAsync<Doc.HcsException>(() => asynchronous.GetServiceInfoAsync(Deadline()));
        Assert.Equal("HCS_E_SERVICE_NOT_AVAILABLE", e.Error.Name);
        Assert.Equal(0, e.Error.HttpStatus);
        Assert.Equal(expected.Message, e.Message);

        // a file that is no socket: refused, with the reason
        File.WriteAllText(socket, "");
        try
        {
            var refused = await Assert.ThrowsAsync<Doc.HcsException>(() => blocking.GetServiceInfoAsync(Deadline()));
            var refusedToo = await Assert.ThrowsAsync<Doc.HcsException>(() => asynchronous.GetServiceInfoAsync(Deadline()));
            Assert.Equal("HCS_E_SERVICE_NOT_AVAILABLE", refused.Error.Name);
            Assert.Equal(refusedToo.Message, refused.Message);
        }
        finally
        {
            File.Delete(socket);
        }
    }

    /// <summary>The first line of a stream and how many bytes it had in all.</summary>
    private static async Task<(string FirstLine, long Bytes)> CountAsync(Stream stream)
    {
        var buffer = new byte[64 * 1024];
        var first = new StringBuilder();
        long total = 0;
        int n;
        var ct = Deadline();
        while ((n = await stream.ReadAsync(buffer, ct)) > 0)
        {
            for (int i = 0; i < n && (first.Length == 0 || first[^1] != '\n'); i++) first.Append((char)buffer[i]);
            total += n;
        }
        return (first.ToString(), total);
    }
}
