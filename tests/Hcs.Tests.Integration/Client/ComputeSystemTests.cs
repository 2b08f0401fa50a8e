using Hcs.Client;
using Hcs.Tests.Integration.Support;
using static Hcs.Tests.Integration.Client.ClientTestSupport;
using Doc = Hcs.Schema.Hcs;

namespace Hcs.Tests.Integration.Client;

/// <summary>Hcs.Client against a real hcsd (its own socket, state and monitor per test): compute
/// systems from creation to deletion, queries, typed errors, events, logs.</summary>
public sealed class ComputeSystemTests
{
    [RootFact]
    public async Task Lifecycle_create_start_properties_wait_delete()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);

        var info = await hcs.GetServiceInfoAsync(Deadline());
        Assert.NotEmpty(info.Version);
        Assert.Contains("Process", info.IsolationKinds);

        var id = NewId("life");
        var document = Hcsd.ContainerDocument();
        document.Owner = "client-tests";
        var system = await hcs.CreateComputeSystemAsync(id, document, Deadline());
        try
        {
            Assert.Equal(id, system.Id);
            var created = await system.GetPropertiesAsync();
            Assert.Equal(id, created.Id);
            Assert.Equal("Created", created.State);
            Assert.Equal("client-tests", created.Owner);

            await system.StartAsync(Deadline());
            var running = await system.GetPropertiesAsync(["ProcessList", "Statistics", "Memory"], Deadline());
            Assert.Equal("Running", running.State);
            Assert.False(running.Stopped);
            Assert.NotEqual(0u, running.InitProcessId);
            Assert.NotNull(running.ProcessList);
            Assert.NotEmpty(running.ProcessList);
            Assert.NotNull(running.Statistics);
            Assert.NotNull(running.Memory);

            // a second handle sees the same system
            await using (var again = await hcs.OpenComputeSystemAsync(id, Deadline()))
                Assert.Equal("Running", (await again.GetPropertiesAsync()).State);

            var listed = await hcs.ListComputeSystemsAsync(new ComputeSystemQuery(Ids: [id]), Deadline());
            var summary = Assert.Single(listed);
            Assert.Equal(id, summary.Id);
            Assert.Equal("Running", summary.State);
            Assert.Equal("client-tests", summary.Owner);

            var shutdown = await system.ShutdownAsync(TimeSpan.FromSeconds(5), Deadline());
            Assert.Equal(0, shutdown.Status);
            var exit = await system.WaitForExitAsync(TimeSpan.FromSeconds(30), Deadline());
            Assert.Equal(0, exit.Status);
            var stopped = await system.GetPropertiesAsync();
            Assert.True(stopped.Stopped);

            await system.DeleteAsync(ct: Deadline());
            var gone = await Assert.ThrowsAsync<Doc.HcsException>(() => hcs.OpenComputeSystemAsync(id, Deadline()));
            Assert.Equal("HCS_E_SYSTEM_NOT_FOUND", gone.Error.Name);
            Assert.Empty(await hcs.ListComputeSystemsAsync(new ComputeSystemQuery(Ids: [id]), Deadline()));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task An_init_that_exits_reports_its_exit_code_to_wait()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await hcs.CreateComputeSystemAsync(NewId("exit"), Hcsd.ContainerDocument("sh", "-c", "exit 7"), Deadline());
        try
        {
            await system.StartAsync(Deadline());
            var exit = await system.WaitForExitAsync(TimeSpan.FromSeconds(30), Deadline());
            Assert.Equal(7, exit.ExitCode);
            var properties = await system.GetPropertiesAsync();
            Assert.True(properties.Stopped);
            Assert.Equal(7, properties.ExitCode);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task List_filters_by_owner_and_state()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var a = Hcsd.ContainerDocument();
        a.Owner = "owner-a";
        var b = Hcsd.ContainerDocument();
        b.Owner = "owner-b";
        var first = await hcs.CreateComputeSystemAsync(NewId("list-a"), a, Deadline());
        var second = await hcs.CreateComputeSystemAsync(NewId("list-b"), b, Deadline());
        try
        {
            await first.StartAsync(Deadline());

            var owned = await hcs.ListComputeSystemsAsync(new ComputeSystemQuery(Owners: ["owner-a"]), Deadline());
            Assert.Equal([first.Id], owned.Select(s => s.Id));

            var created = await hcs.ListComputeSystemsAsync(new ComputeSystemQuery(State: "Created"), Deadline());
            Assert.Equal([second.Id], created.Select(s => s.Id));

            var all = await hcs.ListComputeSystemsAsync(ct: Deadline());
            Assert.Contains(first.Id, all.Select(s => s.Id));
            Assert.Contains(second.Id, all.Select(s => s.Id));
        }
        finally
        {
            await RemoveAsync(first);
            await RemoveAsync(second);
        }
    }

    [RootFact]
    public async Task Errors_are_typed_with_the_HCS_name_status_and_path()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);

        var missing = await Assert.ThrowsAsync<Doc.HcsException>(() => hcs.OpenComputeSystemAsync("no-such-system", Deadline()));
        Assert.Equal("HCS_E_SYSTEM_NOT_FOUND", missing.Error.Name);
        Assert.Equal(404, missing.Error.HttpStatus);
        Assert.Equal(0x8037010Eu, missing.Error.HResult);
        Assert.Same(Doc.HcsError.SystemNotFound, missing.Error);

        var id = NewId("dup");
        var system = await hcs.CreateComputeSystemAsync(id, Hcsd.ContainerDocument(), Deadline());
        try
        {
            var duplicate = await Assert.ThrowsAsync<Doc.HcsException>(
                () => hcs.CreateComputeSystemAsync(id, Hcsd.ContainerDocument(), Deadline()));
            Assert.Equal("HCS_E_SYSTEM_ALREADY_EXISTS", duplicate.Error.Name);
            Assert.Equal(409, duplicate.Error.HttpStatus);

            await system.StartAsync(Deadline());
            var noProcess = await Assert.ThrowsAsync<Doc.HcsException>(() => system.OpenProcessAsync(999_999, ct: Deadline()));
            Assert.Equal("HCS_E_PROCESS_INFO_NOT_AVAILABLE", noProcess.Error.Name);
            Assert.Equal(404, noProcess.Error.HttpStatus);
        }
        finally
        {
            await RemoveAsync(system);
        }

        // two impossible values: both reported, each at its JSON path
        var bad = Hcsd.ContainerDocument();
        bad.Container!.IsolationType = "Sideways";
        bad.Container.Processor = new Doc.ContainerProcessor { Weight = 20_000 };
        var invalid = await Assert.ThrowsAsync<Doc.HcsException>(() => hcs.CreateComputeSystemAsync(NewId("bad"), bad, Deadline()));
        Assert.Equal("HCS_E_INVALID_JSON", invalid.Error.Name);
        Assert.Equal(400, invalid.Error.HttpStatus);
        Assert.NotNull(invalid.Path);
        Assert.NotNull(invalid.Errors);
        var paths = invalid.Errors.Select(e => e.Path).ToList();
        Assert.Contains("$.Document.Container.IsolationType", paths);
        Assert.Contains("$.Document.Container.Processor.Weight", paths);
        Assert.Contains(invalid.Path, paths);
    }

    [Fact]
    public async Task No_daemon_is_a_typed_error_without_an_HTTP_status()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"hcs-no-daemon-{Guid.NewGuid():N}.sock");
        await using var hcs = new HostComputeService(socket);
        var e = await Assert.ThrowsAsync<Doc.HcsException>(() => hcs.GetServiceInfoAsync(Deadline()));
        Assert.Equal("HCS_E_SERVICE_NOT_AVAILABLE", e.Error.Name);
        Assert.Equal(0, e.Error.HttpStatus);
        Assert.Contains(socket, e.Message);
    }

    [RootFact]
    public async Task Cancelling_a_wait_stops_the_waiting_not_the_system()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await StartIdleAsync(hcs, "cancel");
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => system.WaitForExitAsync(null, cts.Token));
            Assert.Equal("Running", (await system.GetPropertiesAsync()).State);

            // a timeout is hcsd's answer, not a cancellation
            var timeout = await Assert.ThrowsAsync<Doc.HcsException>(() => system.WaitForExitAsync(TimeSpan.FromMilliseconds(100), Deadline()));
            Assert.Equal("HCS_E_OPERATION_TIMEOUT", timeout.Error.Name);

            // and the handle still works: the system stops and a new wait sees it
            await system.TerminateAsync(Deadline());
            var exit = await system.WaitForExitAsync(TimeSpan.FromSeconds(30), Deadline());
            Assert.Equal(0, exit.Status);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task Events_show_the_system_starting_and_exiting_with_its_exit_code()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var id = NewId("events");
        await using var events = await hcs.SubscribeEventsAsync([id], Deadline());

        var system = await hcs.CreateComputeSystemAsync(id, Hcsd.ContainerDocument("sh", "-c", "exit 5"), Deadline());
        try
        {
            await system.StartAsync(Deadline());
            var seen = new List<Doc.Notification>();
            await foreach (var n in events.WithCancellation(Deadline()))
            {
                Assert.Equal(id, n.Id); // the filter holds
                seen.Add(n);
                if (n.Type == "SystemExited") break;
            }
            var types = seen.Select(n => n.Type).ToList();
            Assert.Contains("SystemCreated", types);
            Assert.Contains("SystemStarted", types);
            Assert.True(types.IndexOf("SystemStarted") < types.IndexOf("SystemExited"), string.Join(", ", types));
            var exited = seen[^1];
            Assert.NotNull(exited.SystemExitStatus);
            Assert.Equal(5, exited.SystemExitStatus.ExitCode);
            Assert.NotEqual(default, exited.Time);
        }
        finally
        {
            await RemoveAsync(system);
        }
    }

    [RootFact]
    public async Task An_event_stream_ends_when_its_enumeration_is_cancelled()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var count = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in hcs.GetEventsAsync(["nothing-happens-here"], cts.Token)) count++;
        });
        Assert.Equal(0, count);
        // the client is still usable afterwards
        Assert.NotEmpty((await hcs.GetServiceInfoAsync(Deadline())).Version);
    }

    [RootFact]
    public async Task Logs_hold_the_init_output_by_stream()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var system = await hcs.CreateComputeSystemAsync(NewId("logs"),
            Hcsd.ContainerDocument("sh", "-c", "echo one; echo two >&2; echo three"), Deadline());
        try
        {
            await system.StartAsync(Deadline());
            await system.WaitForExitAsync(TimeSpan.FromSeconds(30), Deadline());
            var entries = new List<LogEntry>();
            await foreach (var e in system.GetLogsAsync(follow: false, Deadline())) entries.Add(e);
            var stdout = string.Concat(entries.Where(e => e.Stream == "stdout").Select(e => e.Data));
            var stderr = string.Concat(entries.Where(e => e.Stream == "stderr").Select(e => e.Data));
            Assert.Equal("one\nthree\n", stdout);
            Assert.Equal("two\n", stderr);
            Assert.All(entries, e => Assert.NotEqual(default, e.Time));
        }
        finally
        {
            await RemoveAsync(system);
        }
    }
}
