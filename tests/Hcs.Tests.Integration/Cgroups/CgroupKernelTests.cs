using System.Diagnostics;
using System.Text.Json;
using Hcs.Linux.Cgroups;
using Hcs.Schema.Oci;
using Xunit.Abstractions;
using Process = System.Diagnostics.Process;

namespace Hcs.Tests.Integration.Cgroups;

/// <summary>
/// The cgroup layer against the real kernel of this host (v1, v2 or hybrid: the layout is detected,
/// expectations follow it). Every cgroup is created under a unique name and removed in Dispose,
/// whatever happened; every process started is killed.
/// </summary>
public sealed class CgroupKernelTests(ITestOutputHelper output) : IDisposable
{
    private const long MiB = 1 << 20;
    private readonly List<ICgroup> _cgroups = [];
    private readonly List<Process> _processes = [];
    private readonly List<string> _tempFiles = [];

    private static string UniqueName(string what) => $"/hcs-it-{what}-{Guid.NewGuid():N}"[..28];

    private ICgroup Track(ICgroup cg)
    {
        _cgroups.Add(cg);
        return cg;
    }

    private Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _processes.Add(p);
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited) p.Kill();
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        // Tracked in creation order; children before parents.
        for (int i = _cgroups.Count - 1; i >= 0; i--)
        {
            var cg = _cgroups[i];
            try
            {
                cg.Thaw();
            }
            catch (CgroupException)
            {
            }
            try
            {
                if (!cg.Destroy()) output.WriteLine("cleanup: cgroup still busy: " + string.Join(", ", cg.Paths.Values));
            }
            catch (CgroupException e)
            {
                output.WriteLine("cleanup: " + e.Message);
            }
        }
        foreach (string f in _tempFiles) File.Delete(f);
    }

    /// <summary>A driver that sees only the host's cgroup2 mount: a pure v2 layout even on a
    /// hybrid host, where /sys/fs/cgroup/unified is a real cgroup2 (with few controllers, but with
    /// cgroup.freeze, cgroup.kill and eBPF device filters, which need none).</summary>
    private CgroupDriver? V2Only(CgroupDriver host)
    {
        if (host.UnifiedMountPoint == null)
        {
            output.WriteLine("skipped: this host has no cgroup2 mount");
            return null;
        }
        string mountinfo = Path.GetTempFileName(), self = Path.GetTempFileName();
        _tempFiles.Add(mountinfo);
        _tempFiles.Add(self);
        File.WriteAllText(mountinfo, $"1 0 0:1 / {host.UnifiedMountPoint.Replace(" ", "\\040")} rw - cgroup2 cgroup2 rw\n");
        File.WriteAllText(self, "0::/\n");
        var d = new CgroupDriver(mountinfo, self);
        Assert.Equal(CgroupMode.V2, d.Mode);
        return d;
    }

    private static string ProcState(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("State:", StringComparison.Ordinal)) return line[6..].Trim();
        return "";
    }

    /// <summary>Reads a file of the hierarchy holding a controller: v1 directory when v1 has it,
    /// else the v2 directory (with the v2 file name).</summary>
    private static string ReadLimit(ICgroup cg, string controller, string v1File, string v2File) =>
        cg.Paths.TryGetValue(controller, out string? dir)
            ? File.ReadAllText(Path.Join(dir, v1File)).Trim()
            : File.ReadAllText(Path.Join(cg.Paths[""], v2File)).Trim();

    [Fact]
    public void Detect_reads_this_hosts_layout()
    {
        var d = CgroupDriver.Detect();
        output.WriteLine($"mode {d.Mode}; controllers {string.Join(' ', d.Controllers)}; cgroup2 at {d.UnifiedMountPoint ?? "-"} with [{string.Join(' ', d.UnifiedControllers)}]");
        Assert.NotEmpty(d.Controllers);
        foreach (var h in d.V1Hierarchies) Assert.True(Directory.Exists(h.MountPoint), h.MountPoint);
        if (d.UnifiedMountPoint != null) Assert.True(File.Exists(Path.Join(d.UnifiedMountPoint, "cgroup.controllers")));
        // Named hierarchies such as name=systemd are never used.
        Assert.DoesNotContain(d.Controllers, c => c.Contains('='));
        if (d.Mode == CgroupMode.Hybrid)
            foreach (string c in d.UnifiedControllers) Assert.DoesNotContain(d.V1Hierarchies, h => h.Controllers.Contains(c));
    }

    [RootFact]
    public void Limits_processes_freeze_kill_and_destroy()
    {
        var d = CgroupDriver.Detect();
        var cg = Track(d.Open(UniqueName("life"), "life"));
        cg.Create();
        Assert.All(cg.Paths.Values, p => Assert.True(Directory.Exists(p), p));

        bool hugetlb = d.Controllers.Contains("hugetlb") && Directory.Exists("/sys/kernel/mm/hugepages/hugepages-2048kB");
        bool swapAccounting = !cg.Paths.TryGetValue("memory", out string? memDir) || File.Exists(Path.Join(memDir, "memory.memsw.limit_in_bytes"));
        var resources = new Resources
        {
            Memory = new Memory { Limit = 64 * MiB, Swap = swapAccounting ? 96 * MiB : null, Reservation = 32 * MiB },
            Cpu = new Cpu { Shares = 512, Quota = 50000, Period = 100000, Cpus = "0", Mems = "0" },
            Pids = new Pids { Limit = 64 },
            HugepageLimits = hugetlb ? [new HugepageLimit { PageSize = "2MB", Limit = 4 * MiB }] : null,
            Devices =
            [
                new DeviceCgroup { Allow = false, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 5, Access = "rwm" },
            ],
        };
        cg.Apply(resources);

        Assert.Equal("67108864", ReadLimit(cg, "memory", "memory.limit_in_bytes", "memory.max"));
        if (swapAccounting)
            Assert.Equal(cg.Paths.ContainsKey("memory") ? "100663296" : "33554432", ReadLimit(cg, "memory", "memory.memsw.limit_in_bytes", "memory.swap.max"));
        Assert.Equal(cg.Paths.ContainsKey("cpu") ? "512" : "20", ReadLimit(cg, "cpu", "cpu.shares", "cpu.weight"));
        Assert.Equal(cg.Paths.ContainsKey("cpu") ? "50000" : "50000 100000", ReadLimit(cg, "cpu", "cpu.cfs_quota_us", "cpu.max"));
        Assert.Equal("0", ReadLimit(cg, "cpuset", "cpuset.cpus", "cpuset.cpus"));
        Assert.Equal("64", ReadLimit(cg, "pids", "pids.max", "pids.max"));
        if (hugetlb)
        {
            Assert.Equal("4194304", ReadLimit(cg, "hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max"));
            output.WriteLine("hugetlb limit in " + (cg.Paths.ContainsKey("hugetlb") ? "v1" : "v2 " + cg.Paths[""]));
        }
        if (cg.Paths.TryGetValue("devices", out string? devDir))
            Assert.Equal(["c 1:3 rwm", "c 1:5 rwm"], File.ReadAllLines(Path.Join(devDir, "devices.list")));

        // Lowering then raising memory and memory+swap together: the kernel refuses a limit
        // above memsw, so this only passes with the right write order each way.
        cg.Apply(new Resources { Memory = new Memory { Limit = 32 * MiB, Swap = swapAccounting ? 48 * MiB : null } });
        Assert.Equal("33554432", ReadLimit(cg, "memory", "memory.limit_in_bytes", "memory.max"));
        cg.Apply(new Resources { Memory = new Memory { Limit = 128 * MiB, Swap = swapAccounting ? 256 * MiB : null } });
        Assert.Equal("134217728", ReadLimit(cg, "memory", "memory.limit_in_bytes", "memory.max"));

        var sleep = Start("/bin/sleep", "30");
        cg.AddProcess(sleep.Id);
        Assert.Contains(sleep.Id, cg.GetPids());
        foreach (string dir in cg.Paths.Values)
            Assert.Contains(sleep.Id.ToString(), File.ReadAllLines(Path.Join(dir, "cgroup.procs")));

        cg.Freeze();
        Assert.True(cg.IsFrozen());
        string state = ProcState(sleep.Id);
        output.WriteLine($"frozen: /proc/{sleep.Id}/status State: {state}");
        if (cg.Paths.TryGetValue("freezer", out string? freezerDir))
        {
            Assert.Equal("FROZEN", File.ReadAllText(Path.Join(freezerDir, "freezer.state")).Trim());
            Assert.StartsWith("D", state); // the v1 freezer parks tasks in uninterruptible sleep
        }
        else
        {
            Assert.Contains("frozen 1", File.ReadAllText(Path.Join(cg.Paths[""], "cgroup.events")));
        }
        cg.Thaw();
        Assert.False(cg.IsFrozen());
        Assert.False(sleep.HasExited);

        Assert.Equal(0UL, cg.OomKillCount());
        var stats = cg.GetStats();
        if (d.Controllers.Contains("pids")) Assert.Equal(1UL, stats.Pids.Current);
        // (Usage may be 0: v1 does not move a process's charges along with it.)
        Assert.Equal(128UL * MiB, stats.Memory.Usage.Limit);
        string json = CgroupStatsJson.ToJson(stats);
        output.WriteLine(json.Length > 400 ? json[..400] + "..." : json);
        using (var doc = JsonDocument.Parse(json))
            Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("memory").GetProperty("usage").ValueKind);

        cg.KillAll();
        Assert.True(sleep.WaitForExit(5000), "sleep survived KillAll");
        Assert.Equal(137, sleep.ExitCode); // 128 + SIGKILL

        Assert.True(cg.Destroy());
        foreach (string dir in cg.Paths.Values) Assert.False(Directory.Exists(dir), "left behind: " + dir);
    }

    [RootFact]
    public void Reopened_cgroup_sees_the_same_processes()
    {
        var d = CgroupDriver.Detect();
        var cg = Track(d.Open(UniqueName("load"), "load"));
        cg.Create();
        var sleep = Start("/bin/sleep", "30");
        cg.AddProcess(sleep.Id);

        var again = d.Load(new Dictionary<string, string>(cg.Paths));
        Assert.Equal([sleep.Id], again.GetPids());
        again.KillAll();
        Assert.True(sleep.WaitForExit(5000));
        Assert.True(again.Destroy());
        Assert.All(cg.Paths.Values, p => Assert.False(Directory.Exists(p)));
    }

    [RootFact]
    public void Destroy_gives_up_while_a_live_process_remains()
    {
        var d = CgroupDriver.Detect();
        var cg = Track(d.Open(UniqueName("busy"), "busy"));
        cg.Create();
        var sleep = Start("/bin/sleep", "30");
        cg.AddProcess(sleep.Id);

        Assert.False(cg.Destroy()); // waits its bounded ~2 s, then reports failure
        Assert.Contains(cg.Paths.Values, Directory.Exists);

        cg.KillAll();
        Assert.True(sleep.WaitForExit(5000));
        Assert.True(cg.Destroy());
    }

    [RootFact]
    public void Nested_cgroup_gets_a_usable_cpuset_and_sub_cgroups_are_removed()
    {
        var d = CgroupDriver.Detect();
        string top = UniqueName("nest");
        var parent = Track(d.Open(top, "nest"));
        var cg = Track(d.Open(top + "/a/b", "b"));
        cg.Create();
        if (cg.Paths.TryGetValue("cpuset", out string? cpusetDir))
        {
            Assert.NotEqual("", File.ReadAllText(Path.Join(cpusetDir, "cpuset.cpus")).Trim());
            Assert.NotEqual("", File.ReadAllText(Path.Join(cpusetDir, "cpuset.mems")).Trim());
        }
        var sleep = Start("/bin/sleep", "30");
        cg.AddProcess(sleep.Id); // an empty cpuset would make this fail with ENOSPC
        Assert.Contains(sleep.Id, parent.GetPids(recursive: true));
        Assert.DoesNotContain(sleep.Id, parent.GetPids(recursive: false));

        parent.KillAll(); // reaches sub-cgroups too
        Assert.True(sleep.WaitForExit(5000));
        Assert.True(parent.Destroy());
        Assert.All(parent.Paths.Values, p => Assert.False(Directory.Exists(p), "left behind: " + p));
    }

    [RootFact]
    public void Refused_value_reports_file_value_and_errno()
    {
        var d = CgroupDriver.Detect();
        if (!d.Controllers.Contains("cpu"))
        {
            output.WriteLine("skipped: no cpu controller");
            return;
        }
        var cg = Track(d.Open(UniqueName("err"), "err"));
        cg.Create();
        // The kernel's minimum CFS quota is 1 ms.
        var e = Assert.Throws<CgroupException>(() => cg.Apply(new Resources { Cpu = new Cpu { Quota = 10, Period = 100000 } }));
        output.WriteLine(e.Message);
        Assert.Contains(cg.Paths.ContainsKey("cpu") ? "cpu.cfs_quota_us: writing 10: Invalid argument" : "cpu.max: writing 10 100000: Invalid argument", e.Message);
        Assert.Equal(22, e.Errno);
    }

    [RootFact]
    public void Device_filter_ebpf_on_the_cgroup2_mount()
    {
        var d = V2Only(CgroupDriver.Detect());
        if (d == null) return;
        var cg = Track(d.Open(UniqueName("dev"), "dev"));
        cg.Create();

        // Everything but /dev/null.
        cg.Apply(new Resources
        {
            Devices =
            [
                new DeviceCgroup { Allow = true, Access = "rwm" },
                new DeviceCgroup { Allow = false, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
            ],
        });
        var (stdout, stderr) = RunIn(cg, "sleep 0.2; cat /dev/null; echo null=$?; head -c1 /dev/zero >/dev/zero; echo zero=$?");
        output.WriteLine(stdout + stderr);
        Assert.Contains("null=1", stdout);
        Assert.Contains("Operation not permitted", stderr);
        // Redirecting to /dev/zero opened it for writing from the shell: allowed.
        Assert.Contains("zero=0", stdout);

        // An update replaces the filter (the old program is detached, or it would still deny).
        cg.Apply(new Resources { Devices = [new DeviceCgroup { Allow = true, Access = "rwm" }] });
        (stdout, stderr) = RunIn(cg, "sleep 0.2; cat /dev/null; echo null=$?");
        output.WriteLine(stdout + stderr);
        Assert.Contains("null=0", stdout);

        // Deny by default, allow /dev/null for reading only.
        cg.Apply(new Resources
        {
            Devices =
            [
                new DeviceCgroup { Allow = false, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "r" },
            ],
        });
        (stdout, stderr) = RunIn(cg, "sleep 0.2; cat /dev/null; echo read=$?; echo x > /dev/null; echo write=$?; head -c1 /dev/zero; echo zero=$?");
        output.WriteLine(stdout + stderr);
        Assert.Contains("read=0", stdout);
        Assert.DoesNotContain("write=0", stdout); // the shell's redirection was refused
        Assert.Contains("zero=1", stdout);

        Assert.True(cg.Destroy());
        Assert.False(Directory.Exists(cg.Paths[""]));
    }

    private (string Stdout, string Stderr) RunIn(ICgroup cg, string script)
    {
        // The script sleeps first so the shell is in the cgroup before it opens anything.
        var p = Start("/bin/sh", "-c", script);
        cg.AddProcess(p.Id);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(10_000), "script did not finish");
        return (stdout.Result, stderr.Result);
    }

    [RootFact]
    public void V2_freeze_and_cgroup_kill_on_the_cgroup2_mount()
    {
        var d = V2Only(CgroupDriver.Detect());
        if (d == null) return;
        var cg = Track(d.Open(UniqueName("v2"), "v2"));
        cg.Create();
        var sleep = Start("/bin/sleep", "30");
        cg.AddProcess(sleep.Id);
        Assert.Equal([sleep.Id], cg.GetPids());

        cg.Freeze();
        Assert.True(cg.IsFrozen());
        Assert.Contains("frozen 1", File.ReadAllText(Path.Join(cg.Paths[""], "cgroup.events")));
        output.WriteLine($"frozen (v2): /proc/{sleep.Id}/status State: {ProcState(sleep.Id)}");
        cg.Thaw();
        Assert.False(cg.IsFrozen());

        cg.KillAll(); // cgroup.kill
        Assert.True(sleep.WaitForExit(5000), "sleep survived cgroup.kill");
        Assert.True(cg.Destroy());
        Assert.False(Directory.Exists(cg.Paths[""]));
    }

    [RootFact]
    public void Hugetlb_in_the_v2_part_of_a_hybrid_host()
    {
        var d = CgroupDriver.Detect();
        if (d.Mode != CgroupMode.Hybrid || !d.UnifiedControllers.Contains("hugetlb"))
        {
            output.WriteLine($"skipped: needs a hybrid host with hugetlb in cgroup2 (this one: {d.Mode}, cgroup2 has [{string.Join(' ', d.UnifiedControllers)}])");
            return;
        }
        var cg = Assert.IsType<CgroupHybrid>(Track(d.Open(UniqueName("huge"), "huge")));
        cg.Create();
        cg.Apply(new Resources { HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 8 * MiB }] });
        Assert.Equal("8388608", File.ReadAllText(Path.Join(cg.V2.Directory, "hugetlb.2MB.max")).Trim());
        var stats = cg.GetStats();
        Assert.True(stats.Hugetlb.ContainsKey("2MB"));

        // The same limit through linux.resources.unified is fine: hugetlb lives in cgroup2 here.
        cg.Apply(new Resources { Unified = new Dictionary<string, string> { ["hugetlb.2MB.max"] = "4194304" } });
        Assert.Equal("4194304", File.ReadAllText(Path.Join(cg.V2.Directory, "hugetlb.2MB.max")).Trim());
        Assert.True(cg.Destroy());
        Assert.All(cg.Paths.Values, p => Assert.False(Directory.Exists(p)));
    }
}
