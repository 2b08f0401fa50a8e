using System.Text.Json.Nodes;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>A compute system's life through hcsd's v2 API, driven with raw HTTP, and what is
/// left on the host afterwards (nothing).</summary>
public sealed class LifecycleTests
{
    [RootFact]
    public async Task PauseInit_CreateStartExecAttachShutdownDelete_LeavesNothing()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("life");

        var created = (await d.CreateSystemAsync(id, Hcsd.ContainerDocument())).Expect(201)!;
        Assert.Equal(id, created["Id"]!.GetValue<string>());
        Assert.Equal("Created", created["State"]!.GetValue<string>());

        var list = (await d.GetAsync("v2/compute-systems")).Expect(200)!.AsArray();
        var listed = Assert.Single(list, s => s!["Id"]!.GetValue<string>() == id)!;
        Assert.Equal("Created", listed["State"]!.GetValue<string>());

        var started = (await d.PostAsync($"v2/compute-systems/{id}/start")).Expect(200)!;
        Assert.Equal("Running", started["State"]!.GetValue<string>());
        var initPid = started["InitProcessId"]!.GetValue<int>();
        Assert.True(initPid > 0, $"no init pid: {started}");
        var initStart = DaemonApi.ProcessKey(initPid);

        var pid = await d.ExecAsync(id, "sh", "-c", "echo out; echo err >&2; exit 5");
        AttachOutput output;
        await using (var attach = await Attachment.OpenAsync(d, id, pid))
            output = await attach.ReadToExitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("out\n", output.Stdout);
        Assert.Equal("err\n", output.Stderr);
        Assert.Equal(5, output.ExitCode);

        var status = (await d.GetAsync($"v2/compute-systems/{id}/processes/{pid}")).Expect(200)!;
        Assert.Equal(pid, status["ProcessId"]!.GetValue<int>());
        Assert.True(status["Exited"]!.GetValue<bool>(), status.ToJsonString());
        Assert.Equal(5, status["ExitCode"]!.GetValue<int>());

        var exit = (await d.PostAsync($"v2/compute-systems/{id}/shutdown")).Expect(200)!;
        Assert.Equal("GracefulExit", exit["ExitType"]!.GetValue<string>());
        Assert.Equal("Stopped", await d.StateOfAsync(id));
        Assert.False(DaemonApi.Alive(initPid, initStart), $"init {initPid} still runs after shutdown");

        (await d.DeleteAsync($"v2/compute-systems/{id}")).Expect(204);
        (await d.GetAsync($"v2/compute-systems/{id}")).ExpectError(404, "HCS_E_SYSTEM_NOT_FOUND");
        Assert.Empty(await d.ListIdsAsync());
        HostTraces.AssertNone(d, id);
        Assert.Empty(HostTraces.All(d));

        // the store agrees: a new daemon on the same state finds nothing either
        await d.RestartAsync();
        Assert.Empty(await d.ListIdsAsync());
        HostTraces.AssertNone(d, id);
    }

    [RootFact]
    public async Task InitFromTheDocument_ExitCodeAndLogs_TerminateIsForced137()
    {
        await using var d = await Hcsd.StartAsync();

        var id = DaemonApi.NewId("init");
        await d.CreateAndStartAsync(id, Hcsd.ContainerDocument("sh", "-c", "echo hello; exit 3"));
        var exit = (await d.PostAsync($"v2/compute-systems/{id}/wait?timeoutMs=20000")).Expect(200)!;
        Assert.Equal(3, exit["ExitCode"]!.GetValue<int>());
        Assert.Equal("GracefulExit", exit["ExitType"]!.GetValue<string>());
        Assert.Equal("Stopped", await d.StateOfAsync(id));

        var logs = await d.GetAsync($"v2/compute-systems/{id}/logs");
        logs.Expect(200);
        var lines = logs.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Contains(lines, l => l["Stream"]?.GetValue<string>() == "stdout" && l["Data"]?.GetValue<string>() == "hello\n"
                                    && l["Time"] is not null);

        var sleeper = DaemonApi.NewId("sleeper");
        await d.CreateAndStartAsync(sleeper, Hcsd.ContainerDocument("sleep", "1000"));
        var killed = (await d.PostAsync($"v2/compute-systems/{sleeper}/terminate")).Expect(200)!;
        Assert.Equal("ForcedExit", killed["ExitType"]!.GetValue<string>());
        Assert.Equal(137, killed["ExitCode"]!.GetValue<int>());
        // terminating again: the system has already stopped
        (await d.PostAsync($"v2/compute-systems/{sleeper}/terminate")).ExpectError(409, "HCS_E_SYSTEM_ALREADY_STOPPED");

        foreach (var x in new[] { id, sleeper })
        {
            (await d.DeleteAsync($"v2/compute-systems/{x}")).Expect(204);
            HostTraces.AssertNone(d, x);
        }
    }

    [RootFact]
    public async Task An_exited_systems_cgroup_goes_before_its_delete_and_an_id_is_reusable_at_once()
    {
        await using var d = await Hcsd.StartAsync();
        static List<string> CgroupDirs(string id) =>
            [.. Directory.GetDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, "hcs", id)).Where(Directory.Exists)];

        // the init exits: hcs-monitor removes the cgroup then, without waiting for the delete
        var id = DaemonApi.NewId("gone");
        (await d.CreateSystemAsync(id, Hcsd.ContainerDocument("true"))).Expect(201);
        Assert.NotEmpty(CgroupDirs(id)); // made at create (once started, true may be gone with it at once)
        (await d.PostAsync($"v2/compute-systems/{id}/start")).Expect(200);
        (await d.PostAsync($"v2/compute-systems/{id}/wait?timeoutMs=20000")).Expect(200);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (CgroupDirs(id).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Empty(CgroupDirs(id));
        var stats = (await d.GetAsync($"v2/compute-systems/{id}?properties=Statistics")).Expect(200)!;
        Assert.Equal("Stopped", stats["State"]!.GetValue<string>());
        (await d.DeleteAsync($"v2/compute-systems/{id}")).Expect(204);
        HostTraces.AssertNone(d, id);

        // a forced delete (its kill ends the init) and the same id made again at once, many times:
        // the new system keeps its cgroup (no removal of the old one may run late)
        var again = DaemonApi.NewId("again");
        for (int i = 0; i < 20; i++)
        {
            await d.CreateAndStartAsync(again, Hcsd.ContainerDocument("sleep", "1000"));
            (await d.DeleteAsync($"v2/compute-systems/{again}?force=true")).Expect(204);
        }
        await d.CreateAndStartAsync(again, Hcsd.ContainerDocument("sleep", "1000"));
        await Task.Delay(200);
        Assert.NotEmpty(CgroupDirs(again));
        Assert.Single(HostTraces.ProcessesInCgroupOf(again));
        (await d.DeleteAsync($"v2/compute-systems/{again}?force=true")).Expect(204);
        HostTraces.AssertNone(d, again);
    }

    [RootFact]
    public async Task AbortedAttach_LeavesTheProcessRunning_AndASecondAttachWorks()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("attach");
        await d.CreateAndStartAsync(id, Hcsd.ContainerDocument());
        var pid = await d.ExecAsync(id, "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done");

        await using (var first = await Attachment.OpenAsync(d, id, pid))
        {
            await first.ReadUntilAsync("tick 2", TimeSpan.FromSeconds(10));
            first.Socket.Abort(); // no close handshake: the client just vanishes
        }
        await Task.Delay(500); // let hcsd notice the broken connection

        var status = (await d.GetAsync($"v2/compute-systems/{id}/processes/{pid}")).Expect(200)!;
        Assert.False(status["Exited"]!.GetValue<bool>(), $"the process ended with the attach: {status}");

        await using (var second = await Attachment.OpenAsync(d, id, pid))
        {
            // new ticks arrive: the process kept writing and the pipe is still drained
            var seen = await second.ReadUntilAsync("\n", TimeSpan.FromSeconds(10));
            var before = LastTick(seen);
            seen = await second.ReadUntilAsync($"tick {before + 3}", TimeSpan.FromSeconds(10));
            (await d.PostAsync($"v2/compute-systems/{id}/processes/{pid}/signal", """{"Signal":"SIGKILL"}""")).Expect(204);
            var end = await second.ReadToExitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(137, end.ExitCode);
        }
        var waited = (await d.PostAsync($"v2/compute-systems/{id}/processes/{pid}/wait?timeoutMs=10000")).Expect(200)!;
        Assert.True(waited["Exited"]!.GetValue<bool>());
        (await d.DeleteAsync($"v2/compute-systems/{id}?force=true")).Expect(204);
        HostTraces.AssertNone(d, id);
    }

    /// <summary>The number of the last complete "tick N" line.</summary>
    private static int LastTick(string text) =>
        text[..(text.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("tick ")).Select(l => int.Parse(l[5..])).Last();
}
