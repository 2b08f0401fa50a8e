using System.Runtime.InteropServices;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>linux.namespaces, uid/gid mappings and timeOffsets (config-linux.md "Namespaces",
/// "User namespace mappings", "Offset for Time Namespace"), observed from inside the container
/// and from the host's /proc.</summary>
public sealed partial class NamespaceTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();
    private readonly List<string> _strayMarkers = [];

    public void Dispose()
    {
        _rt.Dispose();
        // a lost spawn race leaves the cloned init behind, holding the fds the runtime inherited
        // (the test runner's pipes, the caller's flock on /tmp/hcs-it.lock): never let one outlive the test
        foreach (var m in _strayMarkers) KillStrays(m);
    }

    [RootFact]
    public void Pid_namespace_makes_the_process_pid_1_and_hides_host_processes()
    {
        using var b = new TestBundle("sh", "-c", "echo $$; ps -o pid,comm; true"); // `; true`: sh would exec a last ps
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("1", lines[0]);
        // the header, then sh (pid 1) and ps itself: nothing of the host
        var procs = lines.Skip(2).Select(l => l.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.True(procs.Count == 2, "ps saw more than the container's processes:\n" + string.Join('\n', lines));
        Assert.Contains(procs, p => p[0] == "1" && p[1] == "sh");
        Assert.Contains(procs, p => p[1] == "ps");
    }

    [RootFact]
    public void Pid_namespace_host_pid_maps_to_1_inside()
    {
        using var b = new TestBundle("sleep", "100");
        var (_, pid) = _rt.RunDetached(b);
        Assert.NotEqual(Ns("pid"), Ns("pid", pid.ToString()));
        // NSpid: the pid in each namespace, outermost first
        Assert.Equal($"{pid}\t1", Status(pid, "NSpid"));
    }

    [RootFact]
    public void Uts_namespace_sets_hostname_and_domainname_without_touching_the_host()
    {
        var hostName = File.ReadAllText("/proc/sys/kernel/hostname");
        var hostDomain = File.ReadAllText("/proc/sys/kernel/domainname");
        using var b = new TestBundle("sh", "-c", "hostname; cat /proc/sys/kernel/domainname")
            .With(s => { s.Hostname = "it-host"; s.Domainname = "it.example.org"; });
        Assert.Equal("it-host\nit.example.org\n", _rt.RunOk(b));
        Assert.Equal(hostName, File.ReadAllText("/proc/sys/kernel/hostname"));
        Assert.Equal(hostDomain, File.ReadAllText("/proc/sys/kernel/domainname"));
    }

    [RootFact]
    public void Ipc_namespace_hides_the_hosts_sysv_objects()
    {
        // A SysV shared memory segment made on the host with a recognisable key.
        const int key = 0x48435321;
        int shmid = ShmGet(key, 4096, 0x200 /* IPC_CREAT */ | 0x180 /* 0600 */);
        Assert.True(shmid >= 0, $"shmget: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            Assert.Contains(File.ReadAllLines("/proc/sysvipc/shm").Skip(1), l => l.Trim().StartsWith(key.ToString() + " "));
            using var b = new TestBundle("sh", "-c", "cat /proc/sysvipc/shm; readlink /proc/self/ns/ipc");
            var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("ipc:[", lines[^1]);
            Assert.NotEqual(Ns("ipc"), lines[^1]);
            Assert.True(lines.Length == 2, "the container sees SysV segments:\n" + string.Join('\n', lines)); // header + ns
        }
        finally
        {
            ShmCtl(shmid, 0 /* IPC_RMID */, 0);
        }
    }

    [RootFact]
    public void Network_namespace_has_only_loopback()
    {
        using var b = new TestBundle("sh", "-c", "cat /proc/net/dev; readlink /proc/self/ns/net");
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var ifaces = lines.Skip(2).Take(lines.Length - 3).Select(l => l.Split(':')[0].Trim()).ToList();
        Assert.Equal(["lo"], ifaces);
        Assert.NotEqual(Ns("net"), lines[^1]);
    }

    [RootFact]
    public void Mount_namespace_keeps_container_mounts_off_the_host()
    {
        using var b = new TestBundle("sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && touch /tmp/mounted && sleep 100")
            .With(s => s.AddCaps("CAP_SYS_ADMIN"));
        var (_, pid) = _rt.RunDetached(b);
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/mounted")), "the mount inside the container");
        Assert.NotEqual(Ns("mnt"), Ns("mnt", pid.ToString()));
        var hostMounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).ToList();
        Assert.DoesNotContain(hostMounts, m => m.StartsWith(b.Dir));
        var containerMounts = File.ReadAllLines($"/proc/{pid}/mountinfo").Select(l => l.Split(' ')[4]).ToList();
        Assert.Contains("/mnt/t", containerMounts);
        Assert.Contains("/proc", containerMounts);
    }

    [RootFact]
    public void Cgroup_namespace_shows_root_paths_inside_and_the_real_path_outside()
    {
        using var b = new TestBundle("sh", "-c", "cat /proc/self/cgroup; sleep 100");
        var (id, pid) = _rt.RunDetached(b);
        var inside = _rt.ExecOk(id, "cat", "/proc/self/cgroup").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(inside);
        Assert.All(inside, l => Assert.EndsWith(":/", l));
        var outside = File.ReadAllLines($"/proc/{pid}/cgroup");
        Assert.Contains(outside, l => l.Contains(id));
        Assert.NotEqual(Ns("cgroup"), Ns("cgroup", pid.ToString()));
    }

    [RootFact]
    public void Without_a_cgroup_namespace_the_container_sees_its_full_cgroup_path()
    {
        using var b = new TestBundle("cat", "/proc/self/cgroup").With(s => s.RemoveNamespace("cgroup"));
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => !l.EndsWith(":/"));
    }

    /// <summary>The "cgroup" mount binds the container's own directories (design 0009): with a
    /// cgroup namespace each shows as "/", as a new cgroupfs mount would; it holds the
    /// container's limits, nothing above or beside it, cannot be written, and is private (no
    /// propagation tag), also inside a user namespace.</summary>
    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_cgroup_mount_is_the_containers_own_cgroup_read_only_and_private(bool userns)
    {
        using var b = new TestBundle("sh", "-c",
                "d=/sys/fs/cgroup/pids; [ -d $d ] || d=/sys/fs/cgroup; cat $d/pids.max; echo ---; " +
                "grep -E ' - cgroup2? ' /proc/self/mountinfo; echo ---; " +
                "find /sys/fs/cgroup -mindepth 2 -type d | wc -l; mkdir $d/x 2>/dev/null && echo writable || echo read-only")
            .With(s =>
            {
                ((s.Linux ??= new()).Resources ??= new()).Pids = new() { Limit = 37 };
                if (userns) s.UserNamespace(0, 65536);
            });
        var parts = _rt.RunOk(b).Split("---\n");
        output.WriteLine(parts[1]);
        Assert.Equal("37", parts[0].Trim()); // the container's directory, not the hierarchy's root
        var mounts = parts[1].Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();
        Assert.NotEmpty(mounts);
        Assert.All(mounts, f =>
        {
            Assert.Equal("/", f[3]);           // root, as the cgroup namespace shows it
            Assert.StartsWith("ro,", f[5]);    // per-mount options
            Assert.Equal("-", f[6]);           // no optional fields: private
        });
        var rest = parts[2].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", rest[0].Trim());     // no other cgroup below any hierarchy
        Assert.Equal("read-only", rest[1]);
    }

    [RootFact]
    public void User_namespace_identity_mapping_runs_as_root_inside()
    {
        using var b = new TestBundle("sh", "-c", "id; cat /proc/self/uid_map /proc/self/gid_map; echo x > /dev/null && echo devnull-ok")
            .With(s => s.UserNamespace(0, 65536));
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("uid=0(root) gid=0(root)", lines[0]);
        Assert.Equal(["0 0 65536", "0 0 65536"], lines[1..3].Select(Squeeze));
        Assert.Equal("devnull-ok", lines[3]);
    }

    [RootFact]
    public void User_namespace_maps_container_root_to_host_100000()
    {
        using var b = new TestBundle("sh", "-c", "id; touch /tmp/made-inside; ls -ln /dev/null; sleep 100")
            .With(s => s.UserNamespace(100000, 65536));
        Tools.Sh($"chown -R 100000:100000 {b.Rootfs}").ExitCode.ShouldBe(0, "chown the rootfs");
        var (id, pid) = _rt.RunDetached(b);
        Assert.Equal("0 100000 65536", Squeeze(File.ReadAllText($"/proc/{pid}/uid_map")));
        Assert.Equal("0 100000 65536", Squeeze(File.ReadAllText($"/proc/{pid}/gid_map")));
        Assert.Equal("100000 100000 100000 100000", Squeeze(Status(pid, "Uid")));
        Assert.Equal("100000 100000 100000 100000", Squeeze(Status(pid, "Gid")));
        Assert.NotEqual(Ns("user"), Ns("user", pid.ToString()));

        var inside = _rt.ExecOk(id, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map").Stdout.Split('\n');
        Assert.Equal("0", inside[0]);
        Assert.Equal("0", inside[1]);
        Assert.Equal("0 100000 65536", Squeeze(inside[2]));

        var made = Path.Combine(b.Rootfs, "tmp/made-inside");
        Tools.WaitUntil(() => File.Exists(made), "the file made inside the container");
        Assert.Equal("100000:100000", Tools.Sh($"stat -c %u:%g {made}").Stdout.Trim());
    }

    [RootFact]
    public void User_namespace_devices_are_bound_from_the_host_and_usable()
    {
        using var b = new TestBundle("sh", "-c", "ls -ln /dev/null /dev/zero; echo x > /dev/null && head -c 4 /dev/zero | wc -c")
            .With(s => s.UserNamespace(100000, 65536));
        Tools.Sh($"chown -R 100000:100000 {b.Rootfs}").ExitCode.ShouldBe(0, "chown the rootfs");
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // host root owns the nodes; unmapped, it shows as the overflow uid inside
        Assert.Matches(@"^crw-rw-rw-\s+1\s+65534\s+65534\s+1,\s+3 .*/dev/null$", lines[0]);
        Assert.Matches(@"^crw-rw-rw-\s+1\s+65534\s+65534\s+1,\s+5 .*/dev/zero$", lines[1]);
        Assert.Equal("4", lines[2].Trim());
    }

    [RootFact]
    public void User_namespace_without_mappings_is_refused()
    {
        using var b = new TestBundle().With(s => s.AddNamespace("user"));
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
    }

    [RootFact]
    public void Time_namespace_offsets_boottime_and_monotonic()
    {
        if (!File.Exists("/proc/self/ns/time")) { output.WriteLine("SKIP: this kernel has no time namespaces"); return; }
        using var b = new TestBundle("sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets; sleep 100")
            .With(s =>
            {
                s.AddNamespace("time");
                s.Linux!.TimeOffsets = new()
                {
                    ["boottime"] = new Hcs.Schema.Oci.TimeOffset { Secs = 86400 },
                    ["monotonic"] = new Hcs.Schema.Oci.TimeOffset { Secs = 3600, Nanosecs = 500 },
                };
            });
        _strayMarkers.Add(b.Dir);
        var (id, pid) = _rt.RunDetached(b);
        var hostUptime = HostUptime();
        var inside = _rt.ExecOk(id, "sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets").Stdout.Split('\n');
        var containerUptime = double.Parse(inside[0].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(containerUptime - hostUptime, 86400 - 5, 86400 + 30);
        var offsets = inside.Skip(1).Where(l => l.Length > 0).Select(Squeeze).ToList();
        Assert.Contains("monotonic 3600 500", offsets);
        Assert.Contains("boottime 86400 0", offsets);
        // the same offsets seen from the host; the host's own clock is not moved
        Assert.Contains("monotonic 3600 500", File.ReadAllLines($"/proc/{pid}/timens_offsets").Select(Squeeze));
        Assert.NotEqual(Ns("time"), Ns("time", pid.ToString()));
        Assert.InRange(HostUptime() - hostUptime, 0, 30);
    }

    [RootFact]
    public void Time_offsets_without_a_time_namespace_are_refused()
    {
        if (!File.Exists("/proc/self/ns/time")) { output.WriteLine("SKIP: this kernel has no time namespaces"); return; }
        using var b = new TestBundle().With(s => s.Linux!.TimeOffsets = new() { ["boottime"] = new Hcs.Schema.Oci.TimeOffset { Secs = 10 } });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("timeOffsets", r.Stderr);
    }

    [RootFact]
    public void Network_namespace_joined_by_path_shows_its_links()
    {
        var ns = "hcs-it-" + Guid.NewGuid().ToString("N")[..8];
        Tools.Sh($"ip netns add {ns}").ExitCode.ShouldBe(0, "ip netns add");
        try
        {
            Tools.Sh($"ip netns exec {ns} ip link add hcsv0 type veth peer name hcsv1").ExitCode.ShouldBe(0, "add a veth pair in the netns");
            var nsPath = $"/var/run/netns/{ns}";
            using var b = new TestBundle("sh", "-c", "cat /proc/net/dev; sleep 100")
                .With(s => s.AddNamespace("network", nsPath));
            var (id, pid) = _rt.RunDetached(b);
            var dev = _rt.ExecOk(id, "cat", "/proc/net/dev").Stdout;
            Assert.Contains("hcsv0:", dev);
            Assert.Contains("hcsv1:", dev);
            var inode = Tools.Sh($"stat -L -c %i {nsPath}").Stdout.Trim();
            Assert.Equal($"net:[{inode}]", Ns("net", pid.ToString()));
            // the other namespaces are still new ones
            Assert.NotEqual(Ns("uts"), Ns("uts", pid.ToString()));
        }
        finally
        {
            _rt.Dispose(); // containers out of the netns before it goes
            Tools.Sh($"ip netns del {ns}");
        }
    }

    [RootFact]
    public void Uts_and_pid_namespaces_of_another_container_can_be_joined()
    {
        using var a = new TestBundle("sleep", "100").With(s => s.Hostname = "alpha");
        var (_, pidA) = _rt.RunDetached(a);
        using var b = new TestBundle("sh", "-c", "hostname; ps -o pid,comm")
            .With(s =>
            {
                s.Hostname = null;
                s.AddNamespace("uts", $"/proc/{pidA}/ns/uts");
                s.AddNamespace("pid", $"/proc/{pidA}/ns/pid");
            });
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("alpha", lines[0]);
        // A's init is pid 1 in the shared pid namespace, and this container's shell is not
        Assert.Contains(lines.Skip(2), l => Squeeze(l) == "1 sleep");
        Assert.DoesNotContain(lines.Skip(2), l => Squeeze(l) == "1 sh");
    }

    [RootFact]
    public void Joining_a_namespace_path_that_is_not_a_namespace_fails_cleanly()
    {
        using var b = new TestBundle().With(s => s.AddNamespace("network", "/etc/hostname"));
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("run", "--bundle", b.Dir, id);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        // the error points at the config entry (it does not name the type: "setns namespace of type: ...")
        Assert.Contains("$.linux.namespaces[", r.Stderr);
        Assert.Contains("setns", r.Stderr);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Time_namespace_create_is_reliable()
    {
        if (!File.Exists("/proc/self/ns/time")) { output.WriteLine("SKIP: this kernel has no time namespaces"); return; }
        using var b = new TestBundle("true").With(s => s.AddNamespace("time"));
        _strayMarkers.Add(b.Dir);
        int raced = 0, strays = 0;
        var failures = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            // not RunFg, which retries the race; output through files, which a stray cannot hold open
            var r = Tools.RunDetached(Runtime.Binary, ["--root", _rt.Root, "run", "--bundle", b.Dir, Runtime.NewId()]);
            if (r.ExitCode == 0) continue;
            raced++;
            failures.Add(r.ToString());
            Thread.Sleep(100);
            foreach (var stray in KillStrays(b.Dir))
            {
                strays++;
                output.WriteLine("left behind: " + stray);
            }
        }
        output.WriteLine($"{raced} of 20 runs failed, {strays} processes left behind");
        foreach (var f in failures) output.WriteLine(f);
        Assert.All(failures, f => Assert.Contains(SpawnRace, f)); // nothing else may go wrong
        Assert.Equal(0, raced);
        Assert.Equal(0, strays);
    }

    private static double HostUptime() =>
        double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    private static string Squeeze(string s) => string.Join(' ', s.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));

    [LibraryImport("libc", EntryPoint = "shmget", SetLastError = true)]
    private static partial int ShmGet(int key, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "shmctl")]
    private static partial int ShmCtl(int id, int cmd, nint buf);
}
