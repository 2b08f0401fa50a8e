using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>process (config.md "Process", config-linux.md "Sysctl", "Personality"): what the
/// container's first process is given, read back from its own /proc and from the host's.</summary>
public sealed class ProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    [RootFact]
    public void Args_env_and_cwd_are_passed_exactly()
    {
        using var b = new TestBundle("sh", "-c", "echo \"[$0] [$1]\"; echo \"$FOO\"; pwd; env | grep -c =", "zero", "one two")
            .With(s =>
            {
                s.Process!.Env = ["PATH=/bin", "FOO=bar  baz", "EMPTY="];
                s.Process.Cwd = "/tmp";
            });
        var lines = _rt.RunOk(b).Split('\n');
        Assert.Equal("[zero] [one two]", lines[0]);
        Assert.Equal("bar  baz", lines[1]);
        Assert.Equal("/tmp", lines[2]);
        // PATH, FOO, EMPTY, plus what sh itself exports (PWD, SHLVL) and possibly HOME: nothing of the caller's
        Assert.InRange(int.Parse(lines[3]), 3, 6);
        using var envBundle = new TestBundle("env").With(s => s.Process!.Env = ["PATH=/bin", "FOO=x"]);
        var env = _rt.RunOk(envBundle).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("FOO=x", env);
        Assert.DoesNotContain(env, e => e.StartsWith("DOTNET_") || e.StartsWith("HCS_"));
    }

    [RootFact]
    public void Missing_cwd_is_created_as_runc_does()
    {
        using var b = new TestBundle("pwd").With(s => s.Process!.Cwd = "/does/not/exist/yet");
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.Equal("/does/not/exist/yet\n", r.Stdout);
    }

    [RootFact]
    public void Relative_program_is_found_on_the_containers_path()
    {
        using var b = new TestBundle("hostname").With(s => s.Process!.Env = ["PATH=/usr/bin:/bin"]);
        Assert.Equal("busybox\n", _rt.RunOk(b));
    }

    [RootFact]
    public void User_uid_gid_and_additional_gids_are_set()
    {
        using var b = new TestBundle("sh", "-c", "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status")
            .With(s => s.Process!.User = new User { Uid = 1000, Gid = 1001, AdditionalGids = [10, 20, 1001] });
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("uid=1000 gid=1001 groups=", lines[0]);
        Assert.Equal("1000 1000 1000 1000", Squeeze(StatusField(string.Join('\n', lines[1..]), "Uid")));
        Assert.Equal("1001 1001 1001 1001", Squeeze(StatusField(string.Join('\n', lines[1..]), "Gid")));
        Assert.Equal(["10", "20", "1001"], Squeeze(StatusField(string.Join('\n', lines[1..]), "Groups")).Split(' ').OrderBy(int.Parse));
    }

    [RootFact]
    public void Root_user_has_no_supplementary_groups_of_the_host()
    {
        using var b = new TestBundle("grep", "^Groups:", "/proc/self/status");
        Assert.Equal("Groups:", _rt.RunOk(b).Trim());
    }

    [RootFact]
    public void Umask_is_applied_and_defaults_to_0022()
    {
        using var set = new TestBundle("sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f")
            .With(s => s.Process!.User = new User { Uid = 0, Gid = 0, Umask = 0x17 /* 0027 */ });
        Assert.Equal("0027\n640\n", _rt.RunOk(set));
        using var dflt = new TestBundle("sh", "-c", "umask");
        Assert.Equal("0022\n", _rt.RunOk(dflt));
    }

    [RootFact]
    public void Rlimits_are_set_soft_and_hard()
    {
        var hostHard = Tools.Sh("ulimit -Hn").Stdout.Trim();
        output.WriteLine($"host RLIMIT_NOFILE hard limit: {hostHard}");
        if (hostHard != "unlimited" && long.Parse(hostHard) < 1024) { output.WriteLine("SKIP: the host's hard limit is below 1024"); return; }
        using var b = new TestBundle("sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; sleep 100")
            .With(s => s.Process!.Rlimits =
            [
                new Rlimit { Type = "RLIMIT_NOFILE", Soft = 512, Hard = 1024 },
                new Rlimit { Type = "RLIMIT_CORE", Soft = 0, Hard = 0 },
            ]);
        var (id, pid) = _rt.RunDetached(b);
        Assert.Equal("512\n1024\n0\n", _rt.ExecOk(id, "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c").Stdout);
        var limits = File.ReadAllLines($"/proc/{pid}/limits");
        Assert.Equal("Max open files 512 1024 files", Squeeze(limits.Single(l => l.StartsWith("Max open files"))));
        Assert.Equal("Max core file size 0 0 bytes", Squeeze(limits.Single(l => l.StartsWith("Max core file size"))));
    }

    [RootFact]
    public void Raising_an_rlimit_above_the_callers_hard_limit_fails_cleanly()
    {
        // this host withholds CAP_SYS_RESOURCE: a hard limit above the current one cannot be set
        if (Status(Environment.ProcessId, "CapEff") is var eff && (Convert.ToUInt64(eff, 16) & (1UL << 24)) != 0)
        {
            output.WriteLine("SKIP: the runtime has CAP_SYS_RESOURCE here, raising is allowed");
            return;
        }
        using var b = new TestBundle().With(s => s.Process!.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 1 << 24, Hard = 1 << 24 }]);
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("rlimit", r.Stderr, StringComparison.OrdinalIgnoreCase);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Capabilities_of_a_non_root_user_are_the_five_sets_asked_for()
    {
        // For a non-root user, execve keeps bounding and inheritable, and permitted = effective = ambient.
        string[] bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"];
        string[] permitted = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"];
        string[] inheritable = ["CAP_KILL", "CAP_NET_RAW"];
        string[] ambient = ["CAP_KILL"];
        using var b = new TestBundle("cat", "/proc/self/status")
            .With(s =>
            {
                s.Process!.User = new User { Uid = 1000, Gid = 1000 };
                s.Process.Capabilities = new Capabilities
                {
                    Bounding = [.. bounding], Effective = ["CAP_CHOWN", "CAP_KILL"], Permitted = [.. permitted],
                    Inheritable = [.. inheritable], Ambient = [.. ambient],
                };
            });
        var status = _rt.RunOk(b);
        Assert.Equal(CapMask(bounding), StatusField(status, "CapBnd"));
        Assert.Equal(CapMask(inheritable), StatusField(status, "CapInh"));
        Assert.Equal(CapMask(ambient), StatusField(status, "CapAmb"));
        Assert.Equal(CapMask(ambient), StatusField(status, "CapPrm"));
        Assert.Equal(CapMask(ambient), StatusField(status, "CapEff"));
    }

    [RootFact]
    public void Capabilities_of_root_are_bounded_by_the_sets_asked_for()
    {
        string[] bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"];
        string[] permitted = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"];
        string[] effective = ["CAP_CHOWN", "CAP_KILL"];
        string[] inheritable = ["CAP_KILL", "CAP_NET_RAW"];
        string[] ambient = ["CAP_KILL"];
        using var b = new TestBundle("cat", "/proc/self/status")
            .With(s => s.Process!.Capabilities = new Capabilities
            {
                Bounding = [.. bounding], Effective = [.. effective], Permitted = [.. permitted],
                Inheritable = [.. inheritable], Ambient = [.. ambient],
            });
        var status = _rt.RunOk(b);
        output.WriteLine(string.Join('\n', status.Split('\n').Where(l => l.StartsWith("Cap"))));
        Assert.Equal(CapMask(bounding), StatusField(status, "CapBnd"));
        Assert.Equal(CapMask(inheritable), StatusField(status, "CapInh"));
        Assert.Equal(CapMask(ambient), StatusField(status, "CapAmb"));
        ulong prm = Convert.ToUInt64(StatusField(status, "CapPrm"), 16), eff = Convert.ToUInt64(StatusField(status, "CapEff"), 16);
        ulong effAsked = Convert.ToUInt64(CapMask(effective), 16), bnd = Convert.ToUInt64(CapMask(bounding), 16);
        Assert.True((eff & effAsked) == effAsked, $"CapEff {eff:x} lacks {effAsked:x}");
        Assert.True((prm & ~bnd) == 0, $"CapPrm {prm:x} exceeds the bounding set {bnd:x}");
        Assert.True((eff & ~prm) == 0, $"CapEff {eff:x} exceeds CapPrm {prm:x}");
        Assert.Equal(0UL, prm & (1UL << CapBits["CAP_SYS_ADMIN"])); // only in the bounding set
    }

    [RootFact]
    public void Default_spec_capabilities_are_the_runc_default_three()
    {
        using var b = new TestBundle("cat", "/proc/self/status");
        var status = _rt.RunOk(b);
        var three = CapMask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE");
        Assert.Equal(three, StatusField(status, "CapBnd"));
        Assert.Equal(three, StatusField(status, "CapEff"));
        Assert.Equal(three, StatusField(status, "CapPrm"));
        Assert.Equal("0000000000000000", StatusField(status, "CapAmb"));
    }

    [RootFact]
    public void Capabilities_decide_what_root_may_do()
    {
        const string script = "touch /tmp/f; chown 1000 /tmp/f && echo chown-ok; mkdir -p /mnt; mount -t tmpfs none /mnt 2>/dev/null && echo mount-ok; true";
        using var without = new TestBundle("sh", "-c", script);
        Assert.Equal("", _rt.RunOk(without));
        using var with = new TestBundle("sh", "-c", script).With(s => s.AddCaps("CAP_CHOWN", "CAP_SYS_ADMIN"));
        Assert.Equal("chown-ok\nmount-ok\n", _rt.RunOk(with));
    }

    [RootFact]
    public void Unknown_capability_is_refused_with_its_json_path()
    {
        using var b = new TestBundle().With(s => s.AddCaps("CAP_NOT_A_THING"));
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.process.capabilities", r.Stderr);
        Assert.Contains("CAP_NOT_A_THING", r.Stderr);
    }

    [RootFact]
    public void No_new_privileges_is_set_only_when_asked()
    {
        using var on = new TestBundle("grep", "^NoNewPrivs:", "/proc/self/status").With(s => s.Process!.NoNewPrivileges = true);
        Assert.Equal("1", _rt.RunOk(on).Split(':')[1].Trim());
        using var off = new TestBundle("grep", "^NoNewPrivs:", "/proc/self/status").With(s => s.Process!.NoNewPrivileges = false);
        Assert.Equal("0", _rt.RunOk(off).Split(':')[1].Trim());
    }

    [RootFact]
    public void Oom_score_adj_is_raised()
    {
        using var b = new TestBundle("sh", "-c", "cat /proc/self/oom_score_adj; sleep 100").With(s => s.Process!.OomScoreAdj = 500);
        var (id, pid) = _rt.RunDetached(b);
        Assert.Equal("500", File.ReadAllText($"/proc/{pid}/oom_score_adj").Trim());
        Assert.Equal("500\n", _rt.ExecOk(id, "cat", "/proc/self/oom_score_adj").Stdout);
    }

    [RootFact]
    public void Namespaced_sysctls_are_written_in_the_containers_namespaces()
    {
        var hostTtl = File.ReadAllText("/proc/sys/net/ipv4/ip_default_ttl");
        var hostShmmni = File.ReadAllText("/proc/sys/kernel/shmmni");
        using var b = new TestBundle("cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_default_ttl", "/proc/sys/kernel/shmmni")
            .With(s => s.Linux!.Sysctl = new()
            {
                ["net.ipv4.ip_forward"] = "1",
                ["net.ipv4.ip_default_ttl"] = "42",
                ["kernel.shmmni"] = "1234",
            });
        Assert.Equal("1\n42\n1234\n", _rt.RunOk(b));
        Assert.Equal(hostTtl, File.ReadAllText("/proc/sys/net/ipv4/ip_default_ttl"));
        Assert.Equal(hostShmmni, File.ReadAllText("/proc/sys/kernel/shmmni"));
    }

    [RootFact]
    public void Non_namespaced_sysctl_is_refused_at_create()
    {
        var hostPanic = File.ReadAllText("/proc/sys/kernel/panic");
        using var b = new TestBundle().With(s => s.Linux!.Sysctl = new() { ["kernel.panic"] = "17" });
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("$.linux.sysctl", r.Stderr);
        Assert.Contains("kernel.panic", r.Stderr);
        Assert.Equal(hostPanic, File.ReadAllText("/proc/sys/kernel/panic"));
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Network_sysctl_without_a_network_namespace_is_refused()
    {
        var before = File.ReadAllText("/proc/sys/net/ipv4/ip_default_ttl");
        using var b = new TestBundle().With(s =>
        {
            s.RemoveNamespace("network");
            s.Linux!.Sysctl = new() { ["net.ipv4.ip_default_ttl"] = "33" };
        });
        var r = _rt.RunFg(b);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.linux.sysctl", r.Stderr);
        Assert.Equal(before, File.ReadAllText("/proc/sys/net/ipv4/ip_default_ttl"));
    }

    [RootFact]
    public void Personality_linux32_makes_uname_report_a_32_bit_machine()
    {
        if (System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            output.WriteLine("SKIP: LINUX32 is checked against x86_64 here");
            return;
        }
        using var b = new TestBundle("sh", "-c", "uname -m; cat /proc/self/personality")
            .With(s => s.Linux!.Personality = new Personality { Domain = "LINUX32" });
        var lines = _rt.RunOk(b).Split('\n');
        Assert.Matches("^i[3-6]86$", lines[0]);
        Assert.Equal("00000008", lines[1]);
        using var dflt = new TestBundle("uname", "-m");
        Assert.Equal("x86_64\n", _rt.RunOk(dflt));
    }

    [RootFact]
    public void Preserve_fds_passes_extra_descriptors_to_the_container()
    {
        using var b = new TestBundle("sh", "-c", "cat /proc/self/fd/3; test -e /proc/self/fd/4 && echo fd4-leaked || echo fd4-closed");
        var id = Runtime.NewId();
        var expected = File.ReadAllText("/etc/hostname");
        // the caller opens 3 and 4 and asks for one extra descriptor: 3 goes in, 4 does not
        var r = Tools.Sh($"exec 3</etc/hostname 4</etc/hostname; exec {Runtime.Binary} --root {_rt.Root} run --preserve-fds 1 --bundle {b.Dir} {id}");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(expected + "fd4-closed\n", r.Stdout);
    }

    [RootFact]
    public void Without_preserve_fds_the_callers_descriptors_stay_outside()
    {
        using var b = new TestBundle("sh", "-c", "test -e /proc/self/fd/5 && echo leaked || echo closed");
        var id = Runtime.NewId();
        var r = Tools.Sh($"exec 5</etc/hostname; exec {Runtime.Binary} --root {_rt.Root} run --bundle {b.Dir} {id}");
        Assert.Equal("closed\n", r.Stdout);
    }

    [RootFact]
    public void Io_priority_is_applied()
    {
        using var b = new TestBundle("sh", "-c", "ionice -p $$")
            .With(s => s.Process!.IoPriority = new IoPriority { Class = "IOPRIO_CLASS_BE", Priority = 4 });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.Equal("best-effort: prio 4\n", r.Stdout);
    }

    [RootFact]
    public void Scheduler_policy_and_nice_are_applied()
    {
        using var b = new TestBundle("sh", "-c", "cut -d' ' -f19 /proc/self/stat; grep '^policy' /proc/self/sched")
            .With(s => s.Process!.Scheduler = new Scheduler { Policy = "SCHED_BATCH", Nice = 5 });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.StartsWith("5\n", r.Stdout);
        Assert.Matches(@"policy\s+:\s+3", r.Stdout); // SCHED_BATCH
    }

    [RootFact]
    public void Exec_is_reliable()
    {
        using var b = new TestBundle("sleep", "100");
        var (id, _) = _rt.RunDetached(b);
        int failed = 0;
        for (int i = 0; i < 30; i++)
        {
            // output through files: a process left behind by a failed spawn would hold pipes open
            var r = Tools.RunDetached(Runtime.Binary, ["--root", _rt.Root, "exec", id, "true"]);
            if (r.ExitCode == 0) continue;
            failed++;
            Assert.True(r.Stderr.Contains(SpawnRace), r.ToString()); // nothing else may go wrong
        }
        output.WriteLine($"{failed} of 30 execs lost the spawn race");
        // exec spawns through an intermediate whose PID message must precede the process's own
        // first message on their shared socket (they are ordered by a pipe)
        Assert.Equal(0, failed);
    }

    private static string Squeeze(string s) => string.Join(' ', s.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));
}
