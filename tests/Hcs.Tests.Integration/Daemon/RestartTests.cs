using Hcs.Schema.Hcs;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>Containers outlive hcsd (kill -9): their processes keep running under hcs-monitor,
/// and a restarted hcsd reports what happened meanwhile (0004 "State and restarts").</summary>
public sealed class RestartTests
{
    [RootFact]
    public async Task InitExitingWhileHcsdIsDown_IsReportedWithItsExitCodeAfterRestart()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("gone");
        // The init waits for a file that the test creates while hcsd is down. The file goes
        // through a mapped (bind-mounted) directory: a file written straight into an overlay's
        // upper directory may stay invisible behind the overlay's cached negative lookup.
        var shared = Hcsd.NewScratch();
        var doc = Hcsd.ContainerDocument("sh", "-c", "while [ ! -e /shared/go ]; do sleep 0.05; done; exit 7");
        doc.Container!.MappedDirectories = [new MappedDirectory { HostPath = shared, ContainerPath = "/shared" }];
        await d.CreateAndStartAsync(id, doc);
        var initPid = (await d.GetAsync($"v2/compute-systems/{id}")).Expect(200)!["InitProcessId"]!.GetValue<int>();
        var initStart = DaemonApi.ProcessKey(initPid);
        var sleeper = await d.ExecAsync(id, "sleep", "1000");
        var sleeperStart = DaemonApi.ProcessKey(sleeper);

        await d.KillAsync();
        await Task.Delay(300);
        Assert.True(DaemonApi.Alive(initPid, initStart), "the init died with hcsd");
        Assert.True(DaemonApi.Alive(sleeper, sleeperStart), "the exec'd process died with hcsd");

        File.WriteAllText(Path.Combine(shared, "go"), "");
        Tools.WaitUntil(() => !DaemonApi.Alive(initPid, initStart), "the init to exit", 10_000);

        await d.RestartAsync();
        var props = (await d.GetAsync($"v2/compute-systems/{id}")).Expect(200)!;
        Assert.True(props["State"]!.GetValue<string>() == "Stopped", props.ToJsonString());
        Assert.True(props["ExitCode"]?.GetValue<int>() == 7, props.ToJsonString());
        Assert.True(props["ExitType"]?.GetValue<string>() == "GracefulExit", props.ToJsonString());
        var exit = (await d.PostAsync($"v2/compute-systems/{id}/wait?timeoutMs=5000")).Expect(200)!;
        Assert.Equal(7, exit["ExitCode"]!.GetValue<int>());
        Assert.Equal("GracefulExit", exit["ExitType"]!.GetValue<string>());
        // the exec'd process died with its container: reported as exited, not as running
        var status = (await d.PostAsync($"v2/compute-systems/{id}/processes/{sleeper}/wait?timeoutMs=5000")).Expect(200)!;
        Assert.True(status["Exited"]!.GetValue<bool>(), status.ToJsonString());
        Assert.Equal([id], await d.ListIdsAsync());

        (await d.DeleteAsync($"v2/compute-systems/{id}")).Expect(204);
        HostTraces.AssertNone(d, id);
    }

    /// <summary>Some writes of the store follow the answer (a start, an exit, a delete's last
    /// step: SystemStore "writes that can wait"); hcsd killed right after such an answer must
    /// still come back with the truth, from the monitor.</summary>
    [RootFact]
    public async Task KilledRightAfterStartExitOrDelete_ComesBackWithTheTruth()
    {
        await using var d = await Hcsd.StartAsync();
        string running = DaemonApi.NewId("soon-run"), exited = DaemonApi.NewId("soon-exit"), deleted = DaemonApi.NewId("soon-del");

        await d.CreateAndStartAsync(running, Hcsd.ContainerDocument("sleep", "600"));
        await d.KillAsync(); // at once: the Running state may not be on disk yet
        await d.RestartAsync();
        Assert.Equal("Running", await d.StateOfAsync(running));

        await d.CreateAndStartAsync(exited, Hcsd.ContainerDocument("sh", "-c", "exit 9"));
        var exit = (await d.PostAsync($"v2/compute-systems/{exited}/wait?timeoutMs=20000")).Expect(200)!;
        Assert.Equal(9, exit["ExitCode"]!.GetValue<int>());
        await d.KillAsync();
        await d.RestartAsync();
        var props = (await d.GetAsync($"v2/compute-systems/{exited}")).Expect(200)!;
        Assert.True(props["State"]!.GetValue<string>() == "Stopped" && props["ExitCode"]?.GetValue<int>() == 9, props.ToJsonString());

        await d.CreateAndStartAsync(deleted, Hcsd.ContainerDocument("sh", "-c", "exit 0"));
        (await d.PostAsync($"v2/compute-systems/{deleted}/wait?timeoutMs=20000")).Expect(200);
        (await d.DeleteAsync($"v2/compute-systems/{deleted}")).Expect(204);
        await d.KillAsync();
        await d.RestartAsync();
        (await d.GetAsync($"v2/compute-systems/{deleted}")).ExpectError(404, "HCS_E_SYSTEM_NOT_FOUND");
        HostTraces.AssertNone(d, deleted);

        // a forced delete of a running system: its own kill reports an exit while the row says
        // Deleting; the exit must not turn the row back into a stopped system
        await d.CreateAndStartAsync(deleted, Hcsd.ContainerDocument("sleep", "600"));
        Assert.Equal("Running", await d.StateOfAsync(deleted));
        (await d.DeleteAsync($"v2/compute-systems/{deleted}?force=true")).Expect(204);
        await d.KillAsync(); // the exit may be on disk already, the delete's last step not yet
        await d.RestartAsync();
        (await d.GetAsync($"v2/compute-systems/{deleted}")).ExpectError(404, "HCS_E_SYSTEM_NOT_FOUND");
        HostTraces.AssertNone(d, deleted);

        // and an id freed that way is free at once
        await d.CreateAndStartAsync(deleted, Hcsd.ContainerDocument("sleep", "600"));
        Assert.Equal("Running", await d.StateOfAsync(deleted));
        foreach (var id in new[] { running, exited, deleted })
            (await d.DeleteAsync($"v2/compute-systems/{id}?force=true")).Expect(204);
        HostTraces.AssertNone(d, running);
    }

    [RootFact]
    public async Task RunningContainer_IsStillRunningAndUsableAfterRestart()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("kept");
        await d.CreateAndStartAsync(id, Hcsd.ContainerDocument());
        var initPid = (await d.GetAsync($"v2/compute-systems/{id}")).Expect(200)!["InitProcessId"]!.GetValue<int>();
        var initStart = DaemonApi.ProcessKey(initPid);
        var sleeper = await d.ExecAsync(id, "sleep", "1000");
        var sleeperStart = DaemonApi.ProcessKey(sleeper);
        var monitor = d.MonitorPid;

        await d.KillAsync();
        await Task.Delay(300);
        Assert.True(DaemonApi.Alive(initPid, initStart), "the init died with hcsd");
        Assert.True(DaemonApi.Alive(sleeper, sleeperStart), "the exec'd process died with hcsd");

        await d.RestartAsync();
        Assert.Equal(monitor, d.MonitorPid); // the same monitor, not a new one
        var listed = (await d.GetAsync("v2/compute-systems")).Expect(200)!.AsArray();
        var summary = Assert.Single(listed)!;
        Assert.Equal(id, summary["Id"]!.GetValue<string>());
        Assert.Equal("Running", summary["State"]!.GetValue<string>());
        Assert.Equal(initPid, summary["InitProcessId"]!.GetValue<int>());

        // the process exec'd before the restart is still known and alive
        var status = (await d.GetAsync($"v2/compute-systems/{id}/processes/{sleeper}")).Expect(200)!;
        Assert.False(status["Exited"]!.GetValue<bool>(), status.ToJsonString());
        // a new exec works, output and exit code included
        var run = await d.RunAsync(id, "sh", "-c", "echo after restart; exit 2");
        Assert.Equal("after restart\n", run.Stdout);
        Assert.Equal(2, run.ExitCode);

        var exit = (await d.PostAsync($"v2/compute-systems/{id}/shutdown?timeoutMs=10000")).Expect(200)!;
        Assert.Equal("GracefulExit", exit["ExitType"]!.GetValue<string>());
        Assert.False(DaemonApi.Alive(initPid, initStart), "the init survived shutdown");
        Tools.WaitUntil(() => !DaemonApi.Alive(sleeper, sleeperStart), "the exec'd process to die with its container", 5000);
        (await d.DeleteAsync($"v2/compute-systems/{id}")).Expect(204);
        HostTraces.AssertNone(d, id);
        Assert.Empty(HostTraces.All(d));
    }
}
