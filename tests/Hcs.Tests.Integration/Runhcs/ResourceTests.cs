using System.Text.Json;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>
/// cgroup limits set and enforced, through the runhcs binary: the limit is read back from the
/// kernel's files and, where a busybox shell can provoke it, seen to bite (OOM kill, failed fork,
/// restricted CPU set). The container's cgroup is /sys/fs/cgroup/&lt;hierarchy&gt;/&lt;cgroupsPath or
/// /id&gt;; on a hybrid host the v2 part (/sys/fs/cgroup/unified) holds what v1 lacks (hugetlb).
/// After each test no cgroup directory named after the container is left.
/// </summary>
public sealed class ResourceTests(ITestOutputHelper output) : IDisposable
{
    private const long MiB = 1 << 20;
    private const string Root = "/sys/fs/cgroup";
    private readonly Runtime _rt = new();
    private readonly List<string> _parentsToRemove = [];

    public void Dispose()
    {
        _rt.Dispose();
        // parents of cgroupsPath made for a test, deepest first (rmdir only: never a live cgroup)
        foreach (var dir in _parentsToRemove.OrderByDescending(d => d.Length))
        {
            try { if (Directory.Exists(dir)) Directory.Delete(dir); }
            catch (IOException e) { output.WriteLine($"cleanup: {dir}: {e.Message}"); }
        }
    }

    private static string Cg(string hierarchy, string inner, string file) =>
        Path.Combine(Root, hierarchy, inner.TrimStart('/'), file);

    private static string Read(string path) => File.ReadAllText(path).Trim();

    private static Resources Res(Spec s) => (s.Linux ??= new Hcs.Schema.Oci.Linux()).Resources ??= new Resources();

    /// <summary>/dev/shm is a 64 MiB tmpfs in the default spec: too small to go over a 64 MiB limit.</summary>
    private static void ShmSize(Spec s, string size)
    {
        var shm = s.Mounts!.Single(m => m.Destination == "/dev/shm");
        shm.Options = [.. shm.Options!.Where(o => !o.StartsWith("size=", StringComparison.Ordinal)), "size=" + size];
    }

    private static long OomKills(string id)
    {
        foreach (var line in File.ReadAllLines(Cg("memory", id, "memory.oom_control")))
            if (line.StartsWith("oom_kill ", StringComparison.Ordinal)) return long.Parse(line[9..]);
        throw new InvalidOperationException("memory.oom_control has no oom_kill line (kernel < 4.13?)");
    }

    private void AssertNoCgroupLeft(string id)
    {
        var left = LeakCheck.CgroupDirsNamed(id);
        Assert.True(left.Count == 0, "cgroups left behind: " + string.Join(", ", left));
    }

    private static JsonDocument Stats(Runtime rt, string id)
    {
        var r = rt.Ok("events", "--stats", id);
        var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal("stats", doc.RootElement.GetProperty("type").GetString());
        Assert.Equal(id, doc.RootElement.GetProperty("id").GetString());
        return doc;
    }

    private static int[] PsJson(Runtime rt, string id) =>
        JsonSerializer.Deserialize<int[]>(rt.Ok("ps", "--format", "json", id).Stdout)!;

    private static HashSet<int> Procs(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(int.Parse)];

    // ---- memory -------------------------------------------------------------------------

    [RootFact]
    public void Memory_limit_is_set_and_a_process_over_it_is_oom_killed()
    {
        var id = Runtime.NewId("r");
        // tmpfs pages are charged to the cgroup: 128 MiB into /dev/shm cannot fit in 64 MiB
        using var b = new TestBundle("sh", "-c", "exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=128")
            .With(s => { Res(s).Memory = new Memory { Limit = 64 * MiB }; ShmSize(s, "256m"); });
        var leaks = LeakCheck.Before();
        var r = _rt.Run("run", "--keep", "--bundle", b.Dir, id);
        Assert.True(r.ExitCode == 137, $"expected the OOM killer's SIGKILL (137):\n{r}");
        Assert.Equal((64 * MiB).ToString(), Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.True(OomKills(id) >= 1, "memory.oom_control: oom_kill is 0");
        Assert.True(long.Parse(Read(Cg("memory", id, "memory.failcnt"))) > 0, "memory.failcnt is 0");
        Assert.Equal("stopped", _rt.Status(id));
        _rt.Ok("delete", id);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Oom_kills_show_in_events_and_stats()
    {
        var id = Runtime.NewId("r");
        // Waits for /tmp/go, then goes over the limit again and again (dd is the biggest process
        // in the cgroup, so the OOM killer picks it and the shell survives to try again).
        using var b = new TestBundle("sh", "-c",
                "while [ ! -e /tmp/go ]; do sleep 0.05; done; " +
                "while true; do dd if=/dev/zero of=/dev/shm/fill bs=1M count=128 2>/dev/null; rm -f /dev/shm/fill; sleep 0.2; done")
            .With(s => { Res(s).Memory = new Memory { Limit = 64 * MiB }; ShmSize(s, "256m"); });
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        using (var before = Stats(_rt, id))
        {
            var usage = before.RootElement.GetProperty("data").GetProperty("memory").GetProperty("usage");
            Assert.Equal(64 * MiB, usage.GetProperty("limit").GetInt64());
        }
        var events = Task.Run(() => _rt.Run("events", "--interval", "1s", id));
        // let events read its baseline first (it then polls the OOM counter every 100 ms)
        Tools.WaitUntil(() => LeakCheck.ProcessesWith($"events --interval 1s {id}").Count > 0, "runhcs events to start");
        Thread.Sleep(200);
        File.WriteAllText(Path.Combine(b.Rootfs, "tmp/go"), "");
        Tools.WaitUntil(() => OomKills(id) >= 3, "three OOM kills", timeoutMs: 30_000);
        using (var after = Stats(_rt, id))
        {
            var usage = after.RootElement.GetProperty("data").GetProperty("memory").GetProperty("usage");
            Assert.True(usage.GetProperty("failcnt").GetInt64() > 0, "stats: memory failcnt is 0 after OOM kills");
            Assert.True(usage.GetProperty("max").GetInt64() >= 60 * MiB, $"stats: max usage {usage.GetProperty("max")} is far below the limit");
        }
        _rt.Ok("kill", id, "KILL");
        Assert.True(events.Wait(30_000), "runhcs events did not end when the container stopped");
        var lines = events.Result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l =>
        {
            using var e = JsonDocument.Parse(l);
            return e.RootElement.GetProperty("type").GetString() == "oom" && e.RootElement.GetProperty("id").GetString() == id;
        });
        var leaks = LeakCheck.Before();
        _rt.Ok("delete", id);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Memory_swap_and_reservation_are_set_and_updated_in_a_valid_order()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sleep", "1000")
            .With(s => Res(s).Memory = new Memory { Limit = 64 * MiB, Swap = 128 * MiB, Reservation = 32 * MiB });
        bool memsw = File.Exists(Path.Combine(Root, "memory", "memory.memsw.limit_in_bytes"));
        if (!memsw)
        {
            output.WriteLine("skipped: no memory.memsw.* files (swap accounting is off): memory.swap cannot be set");
            return;
        }
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Assert.Equal((64 * MiB).ToString(), Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.Equal((128 * MiB).ToString(), Read(Cg("memory", id, "memory.memsw.limit_in_bytes")));
        Assert.Equal((32 * MiB).ToString(), Read(Cg("memory", id, "memory.soft_limit_in_bytes")));

        // up: the kernel refuses a limit above memsw, so memsw has to be raised first
        _rt.Ok("update", "--memory", "256m", "--memory-swap", "512m", id);
        Assert.Equal((256 * MiB).ToString(), Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.Equal((512 * MiB).ToString(), Read(Cg("memory", id, "memory.memsw.limit_in_bytes")));
        // down: and memsw below the limit, so the limit has to be lowered first
        _rt.Ok("update", "--memory", "32m", "--memory-swap", "32m", id);
        Assert.Equal((32 * MiB).ToString(), Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.Equal((32 * MiB).ToString(), Read(Cg("memory", id, "memory.memsw.limit_in_bytes")));
        _rt.Ok("update", "--memory-reservation", "16m", id);
        Assert.Equal((16 * MiB).ToString(), Read(Cg("memory", id, "memory.soft_limit_in_bytes")));

        Assert.Equal("running", _rt.Status(id));
        Assert.Equal("ok\n", _rt.Ok("exec", id, "echo", "ok").Stdout);
        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    // ---- cpu ----------------------------------------------------------------------------

    [RootFact]
    public void Cpu_shares_quota_period_and_cpuset_are_set()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sleep", "1000")
            .With(s => Res(s).Cpu = new Cpu { Shares = 512, Quota = 50_000, Period = 100_000, Cpus = "0", Mems = "0" });
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Assert.Equal("512", Read(Cg("cpu", id, "cpu.shares")));
        Assert.Equal("50000", Read(Cg("cpu", id, "cpu.cfs_quota_us")));
        Assert.Equal("100000", Read(Cg("cpu", id, "cpu.cfs_period_us")));
        Assert.Equal("0", Read(Cg("cpuset", id, "cpuset.cpus")));
        Assert.Equal("0", Read(Cg("cpuset", id, "cpuset.mems")));

        // the container's processes may only run on CPU 0, whatever the host allows
        if (Environment.ProcessorCount < 2) output.WriteLine("note: one CPU only: Cpus_allowed_list 0 proves little here");
        var status = _rt.Ok("exec", id, "grep", "Cpus_allowed_list", "/proc/self/status").Stdout;
        Assert.Equal("Cpus_allowed_list:\t0", status.Trim());
        var init = File.ReadAllLines($"/proc/{_rt.Pid(id)}/status").Single(l => l.StartsWith("Cpus_allowed_list:"));
        Assert.Equal("Cpus_allowed_list:\t0", init);

        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    // ---- pids ---------------------------------------------------------------------------

    [RootFact]
    public void Pids_limit_is_enforced()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sleep", "1000").With(s => Res(s).Pids = new Pids { Limit = 20 });
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Assert.Equal("20", Read(Cg("pids", id, "pids.max")));

        // 40 background sleeps: with the init and this shell, at most 18 fit (the sleeps must
        // not hold our stdout/stderr pipes, or we would wait for them)
        var r = _rt.Run("exec", id, "sh", "-c", "for i in $(seq 40); do sleep 1000 </dev/null >/dev/null 2>&1 & echo started; done");
        Assert.True(r.ExitCode != 0, $"40 forks under pids.max 20 all succeeded:\n{r}");
        Assert.Contains("can't fork", r.Stderr);
        Assert.Contains("Resource temporarily unavailable", r.Stderr);
        int started = r.Stdout.Split('\n').Count(l => l == "started");
        Assert.InRange(started, 1, 18);
        Assert.InRange(int.Parse(Read(Cg("pids", id, "pids.current"))), started + 1, 20);
        var refused = File.ReadAllLines(Cg("pids", id, "pids.events")).Single(l => l.StartsWith("max "));
        Assert.True(long.Parse(refused[4..]) > 0, "pids.events: max is 0");

        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    // ---- block I/O, hugetlb ---------------------------------------------------------------

    [RootFact]
    public void Blkio_weight_is_set()
    {
        var file = new[] { "blkio.weight", "blkio.bfq.weight" }.FirstOrDefault(f => File.Exists(Path.Combine(Root, "blkio", f)));
        if (file is null)
        {
            output.WriteLine("skipped: neither blkio.weight nor blkio.bfq.weight exists (no CFQ/BFQ I/O scheduler on this host's disks)");
            return;
        }
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sleep", "1000").With(s => Res(s).BlockIO = new BlockIo { Weight = 300 });
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        // blkio.weight: "300"; blkio.bfq.weight: "default 300"
        Assert.EndsWith("300", Read(Cg("blkio", id, file)));
        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    [RootFact]
    public void Hugetlb_limit_is_set_in_the_hierarchy_that_has_it()
    {
        if (!Directory.Exists("/sys/kernel/mm/hugepages/hugepages-2048kB"))
        {
            output.WriteLine("skipped: the kernel has no 2 MiB huge pages (/sys/kernel/mm/hugepages/hugepages-2048kB)");
            return;
        }
        // v1 hugetlb hierarchy if there is one, else the v2 part of a hybrid host
        string? file = Directory.Exists(Path.Combine(Root, "hugetlb")) ? Path.Combine("hugetlb", "{0}", "hugetlb.2MB.limit_in_bytes")
            : File.Exists(Path.Combine(Root, "unified", "cgroup.controllers")) &&
              Read(Path.Combine(Root, "unified", "cgroup.controllers")).Split(' ').Contains("hugetlb")
                ? Path.Combine("unified", "{0}", "hugetlb.2MB.max") : null;
        if (file is null)
        {
            output.WriteLine("skipped: no hugetlb controller in any hierarchy");
            return;
        }
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sleep", "1000")
            .With(s => Res(s).HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = (ulong)(4 * MiB) }]);
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Assert.Equal((4 * MiB).ToString(), Read(Path.Combine(Root, string.Format(file, id))));
        // Enforcement needs reserved huge pages and a program that maps them (busybox has none).
        output.WriteLine($"limit checked in {string.Format(file, id)}; enforcement not tested " +
                         $"(HugePages_Total: {File.ReadAllLines("/proc/meminfo").Single(l => l.StartsWith("HugePages_Total:"))[16..].Trim()})");
        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    // ---- cgroupsPath --------------------------------------------------------------------

    /// <summary>The hierarchies this host has, each with the cgroup this test process is in:
    /// /proc/self/cgroup lines "N:controllers:path"; "0::path" is the v2 one.</summary>
    private static Dictionary<string, string> OwnCgroups()
    {
        var result = new Dictionary<string, string>();
        foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            var names = parts[1].Length == 0 ? ["unified"] : parts[1].Split(',');
            foreach (var n in names)
            {
                if (n.StartsWith("name=", StringComparison.Ordinal)) continue;
                var dir = n == "unified" && !File.Exists(Path.Combine(Root, "unified", "cgroup.controllers")) ? null : Path.Combine(Root, n);
                if (dir is not null && Directory.Exists(dir)) result[n] = parts[2];
            }
        }
        return result;
    }

    private static readonly string[] Managed = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "unified"];

    [RootFact]
    public void Absolute_cgroups_path_is_under_each_hierarchy_root()
    {
        var id = Runtime.NewId("r");
        var parent = "hcs-it-" + Guid.NewGuid().ToString("N")[..8];
        using var b = new TestBundle("sleep", "1000").With(s => s.Linux!.CgroupsPath = $"/{parent}/{id}");
        var hierarchies = Managed.Where(h => Directory.Exists(Path.Combine(Root, h))).ToList();
        _parentsToRemove.AddRange(hierarchies.Select(h => Path.Combine(Root, h, parent)));
        var leaks = LeakCheck.Before();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        int pid = _rt.Pid(id);
        foreach (var h in hierarchies)
        {
            var dir = Path.Combine(Root, h, parent, id);
            Assert.True(Directory.Exists(dir), $"no cgroup {dir}");
            Assert.Contains(pid, Procs(Path.Combine(dir, "cgroup.procs")));
            Assert.False(Directory.Exists(Path.Combine(Root, h, id)), $"the default path /{id} was made too");
        }
        _rt.Ok("delete", "--force", id);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Relative_cgroups_path_is_under_the_callers_cgroup()
    {
        var id = Runtime.NewId("r");
        var parent = "hcs-it-" + Guid.NewGuid().ToString("N")[..8];
        using var b = new TestBundle("sleep", "1000").With(s => s.Linux!.CgroupsPath = $"{parent}/{id}");
        var own = OwnCgroups().Where(kv => Managed.Contains(kv.Key)).ToList();
        Assert.NotEmpty(own);
        _parentsToRemove.AddRange(own.Select(kv => Path.Combine(Root, kv.Key, kv.Value.TrimStart('/'), parent)));
        var leaks = LeakCheck.Before();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        int pid = _rt.Pid(id);
        foreach (var (h, path) in own)
        {
            var dir = Path.Combine(Root, h, path.TrimStart('/'), parent, id);
            Assert.True(Directory.Exists(dir), $"no cgroup {dir} (this process is in {h}:{path})");
            Assert.Contains(pid, Procs(Path.Combine(dir, "cgroup.procs")));
            if (path != "/")
                Assert.False(Directory.Exists(Path.Combine(Root, h, parent)), $"{h}: made under the root, not under {path}");
        }
        _rt.Ok("delete", "--force", id);
        leaks.AssertClean(_rt, id);
    }

    // ---- update -------------------------------------------------------------------------

    [RootFact]
    public void Update_changes_the_limits_of_a_running_container()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sleep", "1000").With(s =>
        {
            Res(s).Memory = new Memory { Limit = 64 * MiB };
            Res(s).Pids = new Pids { Limit = 100 };
        });
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);

        _rt.Ok("update", "--memory", "32m", "--pids-limit", "10", "--cpu-quota", "20000", "--cpu-period", "100000", id);
        Assert.Equal((32 * MiB).ToString(), Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.Equal("10", Read(Cg("pids", id, "pids.max")));
        Assert.Equal("20000", Read(Cg("cpu", id, "cpu.cfs_quota_us")));
        Assert.Equal("100000", Read(Cg("cpu", id, "cpu.cfs_period_us")));

        // --resources - : a LinuxResources document on stdin
        var r = _rt.RunWithInput("""{"memory":{"limit":50331648},"pids":{"limit":15},"cpu":{"shares":256}}""",
                                 "update", "--resources", "-", id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("50331648", Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.Equal("15", Read(Cg("pids", id, "pids.max")));
        Assert.Equal("256", Read(Cg("cpu", id, "cpu.shares")));
        Assert.Equal("20000", Read(Cg("cpu", id, "cpu.cfs_quota_us"))); // untouched by the second update

        // an invalid document is refused with its path and changes nothing
        var bad = _rt.RunWithInput("""{"memory":{"limit":-5},"pids":{"limit":3}}""", "update", "--resources", "-", id);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("$.memory.limit", bad.Stderr);
        Assert.Equal("50331648", Read(Cg("memory", id, "memory.limit_in_bytes")));
        Assert.Equal("15", Read(Cg("pids", id, "pids.max")));

        // the container keeps working, and what runhcs reports follows the update
        Assert.Equal("running", _rt.Status(id));
        Assert.Equal("ok\n", _rt.Ok("exec", id, "echo", "ok").Stdout);
        using (var stats = Stats(_rt, id))
        {
            var data = stats.RootElement.GetProperty("data");
            Assert.Equal(50331648, data.GetProperty("memory").GetProperty("usage").GetProperty("limit").GetInt64());
            Assert.Equal(15, data.GetProperty("pids").GetProperty("limit").GetInt64());
        }
        _rt.Ok("pause", id);
        _rt.Ok("resume", id);
        Assert.Equal("running", _rt.Status(id));
        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    // ---- events, ps, kill --all -----------------------------------------------------------

    [RootFact]
    public void Events_stats_has_cpu_memory_and_pids()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo > /tmp/busy-done; sleep 1000")
            .With(s => { Res(s).Memory = new Memory { Limit = 64 * MiB }; Res(s).Pids = new Pids { Limit = 50 }; });
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/busy-done")), "the busy loop");
        using var stats = Stats(_rt, id);
        var data = stats.RootElement.GetProperty("data");
        Assert.True(data.GetProperty("cpu").GetProperty("usage").GetProperty("total").GetInt64() > 0, "cpu.usage.total is 0");
        var memory = data.GetProperty("memory").GetProperty("usage");
        Assert.True(memory.GetProperty("usage").GetInt64() > 0, "memory.usage.usage is 0");
        Assert.Equal(64 * MiB, memory.GetProperty("limit").GetInt64());
        var pids = data.GetProperty("pids");
        Assert.InRange(pids.GetProperty("current").GetInt64(), 1, 3);
        Assert.Equal(50, pids.GetProperty("limit").GetInt64());
        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    [RootFact]
    public void Ps_lists_the_processes_of_the_container()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sh", "-c", "sleep 1001 & sleep 1002 & wait");
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        int init = _rt.Pid(id);
        Tools.WaitUntil(() => PsJson(_rt, id).Length == 3, "sh and its two sleeps");
        var pids = PsJson(_rt, id);
        Assert.Contains(init, pids);
        Assert.Equal(Procs(Cg("pids", id, "cgroup.procs")), pids.ToHashSet());

        var table = _rt.Ok("ps", id).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("PID", table[0]);
        Assert.Equal(4, table.Length);
        foreach (var pid in pids) Assert.Contains(table, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(pid.ToString()));

        // arguments after the id go to ps
        var custom = _rt.Ok("ps", id, "-o", "pid,args").Stdout;
        Assert.Contains("sleep 1001", custom);
        Assert.Contains("sleep 1002", custom);
        _rt.Ok("delete", "--force", id);
        AssertNoCgroupLeft(id);
    }

    [RootFact]
    public void Kill_all_without_a_pid_namespace_kills_every_process_and_delete_removes_the_cgroups()
    {
        var id = Runtime.NewId("r");
        // without its own pid namespace, killing the init does not take the others with it
        using var b = new TestBundle("sh", "-c", $"sleep 1001 & sleep 1002 & (sleep 1003; : {id}) & sleep 1004; : {id}")
            .With(s => s.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid"));
        var leaks = LeakCheck.Before();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Tools.WaitUntil(() => PsJson(_rt, id).Length >= 6, "sh, its subshell and four sleeps");
        var pids = PsJson(_rt, id);

        _rt.Ok("kill", "--all", id, "KILL");
        Tools.WaitUntil(() => pids.All(Gone), "every process of the container to die");
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to stop");
        Assert.Empty(Procs(Cg("pids", id, "cgroup.procs")));
        _rt.Ok("delete", id);
        leaks.AssertClean(_rt, id, processMarker: id);
        Assert.All(pids, p => Assert.True(Gone(p), $"process {p} survived"));
    }

    [RootFact]
    public void Kill_all_with_a_signal_other_than_kill_reaches_every_process()
    {
        var id = Runtime.NewId("r");
        using var b = new TestBundle("sh", "-c", $"sleep 1001 & sleep 1002 & sleep 1003; : {id}")
            .With(s => s.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid"));
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Tools.WaitUntil(() => PsJson(_rt, id).Length >= 4, "sh and three sleeps");
        var pids = PsJson(_rt, id);
        _rt.Ok("kill", "--all", id, "TERM");
        Tools.WaitUntil(() => pids.All(Gone), "every process of the container to die of SIGTERM");
        _rt.Ok("delete", id);
        AssertNoCgroupLeft(id);
    }

    /// <summary>Exited (a zombie waiting for whoever reaps it counts) or gone.</summary>
    private static bool Gone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException) { return true; }
    }
}
