using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Engine;

/// <summary>
/// The spawn pool (docs/design/0007-spawn-pool.md): a container's init taken from the children
/// the zygote made ahead of time is the same container a clone of ours would have been: our
/// child, in namespaces of its own; the pool refills; what a waiting child cannot carry still
/// works; and nothing of the pool outlives its owner.
/// </summary>
public sealed class SpawnPoolTests(ITestOutputHelper output) : IDisposable
{
    private readonly EngineHarness _h = new();
    private readonly List<SpawnPool> _pools = [];

    public void Dispose()
    {
        _h.Dispose();
        foreach (var p in _pools) p.Dispose();
    }

    private SpawnPool StartPool(int size = 2)
    {
        var pool = SpawnPool.Start(size, SpawnPool.MadeAhead, output.WriteLine) ?? throw new InvalidOperationException("the zygote did not start");
        _pools.Add(pool);
        // made in the idle scheduling class: on a CPU busy with other tests this takes a while
        Tools.WaitUntil(() => pool.ReadyCount == size, "the pool to fill", 60_000);
        return pool;
    }

    /// <summary>The fields of /proc/PID/status, or null when the process is gone.</summary>
    private static Dictionary<string, string>? Status(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/status"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return text.Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim());
    }

    /// <summary>Live (not zombie) children of <paramref name="parent"/> with this name (hcs-zygote, hcs-waiting).</summary>
    private static List<int> ChildrenNamed(int parent, string name)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || Status(pid) is not { } s) continue;
            if (s.GetValueOrDefault("Name") == name && s.GetValueOrDefault("PPid") == parent.ToString()
                && s.GetValueOrDefault("State")?.StartsWith('Z') != true)
                pids.Add(pid);
        }
        return pids;
    }

    private static List<int> OurChildrenNamed(string name) => ChildrenNamed(Environment.ProcessId, name);

    private static string Namespace(int pid, string kind) => new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget!;

    /// <summary>Milliseconds since boot, as /proc/uptime has them (10 ms steps).</summary>
    private static double UptimeMs() =>
        double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1000;

    /// <summary>When the process started, in ms since boot (clock ticks of 10 ms).</summary>
    private static double StartedAtMs(int pid) => ProcStat.Read(pid)!.Value.StartTime * 10.0;

    /// <summary>Ends a container these tests started. A start that failed has reaped the init
    /// already (ECHILD here): the start's own error is then the one the test reports.</summary>
    private void DeleteAndReap(CreatedContainer created)
    {
        _h.Engine.Delete(created.Record.Id, force: true);
        try { EngineHarness.WaitForExit(created.Record.Pid, 5_000); }
        catch (ErrnoException e) when (e.Errno == Libc.ECHILD) { }
    }

    [RootFact]
    public void A_container_from_the_pool_was_made_ahead_is_our_child_and_has_namespaces_of_its_own()
    {
        var pool = StartPool();
        Assert.Equal(2, OurChildrenNamed("hcs-waiting").Count);
        Thread.Sleep(300); // so "made ahead" shows in the start time (clock ticks of 10 ms)
        using var b = new TestBundle("sleep", "1000");
        double asked = UptimeMs();
        var created = _h.Engine.Create(Runtime.NewId("p"), b.Dir, new CreateOptions { StdioFds = _h.DevNull, StartViaSession = true, Pool = pool });
        int pid = created.Record.Pid;
        try
        {
            _h.Engine.StartSession(created); // returns once sleep has exec'd
            double before = asked - StartedAtMs(pid);
            output.WriteLine($"the init started {before:0} ms before the create");
            Assert.True(before >= 200, $"the init started {before:0} ms before the create: not a child made ahead of time");
            Assert.Equal("sleep", Status(pid)!["Name"]);
            Assert.Equal(Environment.ProcessId.ToString(), Status(pid)!["PPid"]);
            foreach (var kind in new[] { "pid", "net", "ipc", "uts", "mnt", "cgroup" })
                Assert.NotEqual(Namespace(Environment.ProcessId, kind), Namespace(pid, kind));
            // the pool makes another one for the next create
            Tools.WaitUntil(() => pool.ReadyCount == 2, "the pool to refill", 60_000);
        }
        finally
        {
            _h.Engine.Delete(created.Record.Id, force: true);
            EngineHarness.WaitForExit(pid, 5_000);
        }
    }

    [RootFact]
    public void A_plan_a_waiting_child_cannot_carry_goes_the_ordinary_way()
    {
        var pool = StartPool();
        using var first = new TestBundle("sleep", "1000");
        var host = _h.Run(first);
        // joining another container's network namespace: only a clone of ours can setns first
        using var b = new TestBundle("sleep", "1000");
        b.With(spec => spec.Linux!.Namespaces!.First(n => n.Type == "network").Path = $"/proc/{host.Pid}/ns/net");
        Thread.Sleep(100);
        double asked = UptimeMs();
        var created = _h.Engine.Create(Runtime.NewId("p"), b.Dir, new CreateOptions { StdioFds = _h.DevNull, StartViaSession = true, Pool = pool });
        try
        {
            _h.Engine.StartSession(created);
            Assert.Equal(Namespace(host.Pid, "net"), Namespace(created.Record.Pid, "net"));
            Assert.NotEqual(Namespace(host.Pid, "pid"), Namespace(created.Record.Pid, "pid"));
            // cloned for this create (10 ms clock steps), not a waiting child made before it
            Assert.True(StartedAtMs(created.Record.Pid) >= asked - 20, "a waiting child was used for a plan that joins a namespace");
            Assert.Equal(2, pool.ReadyCount); // nothing was taken
        }
        finally { DeleteAndReap(created); }
    }

    [RootFact]
    public void A_failed_create_discards_its_waiting_child_and_leaves_nothing()
    {
        var pool = StartPool();
        using var b = new TestBundle("/no/such/program");
        var id = Runtime.NewId("p");
        var e = Assert.ThrowsAny<Exception>(() => _h.Engine.Create(id, b.Dir, new CreateOptions
        {
            StdioFds = _h.DevNull,
            StartViaSession = true,
            Pool = pool,
        }));
        output.WriteLine(e.Message);
        Assert.Contains("/no/such/program", e.Message);
        Assert.False(Directory.Exists(_h.Engine.Store.DirOf(id)), "state left behind");
        Assert.Empty(Directory.EnumerateDirectories("/sys/fs/cgroup", id, SearchOption.AllDirectories)); // no cgroup left
        // the child that took the plan is gone (reaped: no zombie), the pool is whole again
        Tools.WaitUntil(() => pool.ReadyCount == 2 && OurChildrenNamed("hcs-waiting").Count == 2, "the pool to refill", 60_000);
    }

    [RootFact]
    public void Creates_still_work_when_the_waiting_children_were_killed()
    {
        var pool = StartPool();
        var dead = OurChildrenNamed("hcs-waiting");
        foreach (var pid in dead) Libc.Kill(pid, 9);
        // both creates take a dead child: it cannot take its plan, the create spawns the ordinary way
        for (int i = 0; i < 2; i++)
        {
            using var b = new TestBundle("sleep", "1000");
            var created = _h.Engine.Create(Runtime.NewId("p"), b.Dir, new CreateOptions { StdioFds = _h.DevNull, StartViaSession = true, Pool = pool });
            try
            {
                _h.Engine.StartSession(created);
                Assert.Equal("sleep", Status(created.Record.Pid)!["Name"]);
            }
            finally { DeleteAndReap(created); }
        }
        foreach (var pid in dead)
            Assert.False(Directory.Exists($"/proc/{pid}"), $"the killed waiting child {pid} was not reaped");
        Tools.WaitUntil(() => pool.ReadyCount == 2, "the pool to refill", 60_000);
    }

    /// <summary>The zygote is hcs-zygote, not a clone of its caller: a waiting child then
    /// carries none of the caller's memory into the container's execve (0.18 ms less there,
    /// design 0007).</summary>
    [RootFact]
    public void The_zygote_is_the_hcs_zygote_executable_and_waiting_children_hold_none_of_the_callers_memory()
    {
        var pool = StartPool(1);
        Assert.Equal(SpawnPool.ZygotePath(), new FileInfo($"/proc/{pool.ZygotePid}/exe").LinkTarget);
        var child = Assert.Single(OurChildrenNamed("hcs-waiting"));
        var maps = File.ReadAllLines($"/proc/{child}/maps");
        var ours = File.ReadAllLines($"/proc/{Environment.ProcessId}/maps").Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length == 6 && f[5].EndsWith(".so", StringComparison.Ordinal) && f[5].Contains("coreclr", StringComparison.Ordinal))
            .Select(f => f[5]).Distinct().ToList();
        Assert.NotEmpty(ours); // this test host is a .NET process: the check below means something
        foreach (var lib in ours)
            Assert.DoesNotContain(maps, l => l.EndsWith(lib, StringComparison.Ordinal));
        var rssKiB = long.Parse(Status(child)!["VmRSS"].Split(' ')[0]);
        output.WriteLine($"waiting child {child}: {maps.Length} mappings, {rssKiB} KiB resident");
        Assert.True(rssKiB < 1024, $"a waiting child holds {rssKiB} KiB");
    }

    [RootFact]
    public void A_missing_zygote_turns_the_pool_off_and_says_where_it_looked()
    {
        var said = new List<string>();
        Assert.Null(SpawnPool.Start(1, SpawnPool.MadeAhead, said.Add, "/nonexistent/hcs-zygote"));
        var line = Assert.Single(said);
        Assert.Contains("spawn pool off", line);
        Assert.Contains("/nonexistent/hcs-zygote", line);
        Assert.Empty(OurChildrenNamed("hcs-zygote"));
    }

    /// <summary>The plan's layout is shared with the zygote: one of another build is refused
    /// (and ended) before any plan reaches it.</summary>
    [RootFact]
    public void A_zygote_of_another_spawn_ABI_is_refused_and_ended()
    {
        var fake = Path.Combine(Path.GetTempPath(), "hcs-zygote-abi-" + Guid.NewGuid().ToString("N")[..8]);
        // says ABI 6 on its control socket (fd 3) as a real zygote would, then waits
        File.WriteAllText(fake, "#!/bin/bash\nprintf '\\x06\\x00\\x00\\x00' >&3\nexec sleep 60\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var said = new List<string>();
            Assert.Null(SpawnPool.Start(1, SpawnPool.MadeAhead, said.Add, fake));
            Assert.Contains("another build", Assert.Single(said));
            Assert.Empty(ChildrenNamed(Environment.ProcessId, "sleep"));
        }
        finally { File.Delete(fake); }
    }

    [RootFact]
    public void Disposing_the_pool_ends_the_zygote_and_every_waiting_child()
    {
        var pool = StartPool(3);
        var zygote = pool.ZygotePid;
        var waiting = OurChildrenNamed("hcs-waiting");
        Assert.Equal(3, waiting.Count);
        Assert.Contains(zygote, OurChildrenNamed("hcs-zygote"));
        pool.Dispose();
        foreach (var pid in waiting.Append(zygote))
            Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} outlived the pool (or was left a zombie)");
    }

    [RootFact]
    public async Task A_killed_monitor_leaves_no_zygote_and_no_waiting_child()
    {
        await using var hcsd = await Hcsd.StartAsync();
        int monitor = hcsd.MonitorPid;
        Tools.WaitUntil(() => ChildrenNamed(monitor, "hcs-waiting").Count > 0, "the monitor's pool to fill", 60_000);
        var zygotes = ChildrenNamed(monitor, "hcs-zygote");
        var pool = zygotes.Concat(ChildrenNamed(monitor, "hcs-waiting")).ToList();
        output.WriteLine($"monitor {monitor}: pool processes {string.Join(", ", pool)}");
        Assert.Single(zygotes);
        Libc.Kill(monitor, 9);
        // orphans go to init, which reaps them: each must exit on its own (EOF on its socket)
        foreach (var pid in pool)
            Tools.WaitUntil(() => !Directory.Exists($"/proc/{pid}"), $"pool process {pid} to exit after kill -9 of the monitor", 5_000);
    }
}
