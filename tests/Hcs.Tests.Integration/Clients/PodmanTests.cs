using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Clients;

/// <summary>
/// podman as a real client of runhcs (`--runtime /usr/local/bin/runhcs`), with storage of its
/// own so the host's images and containers are never touched. The image is a busybox rootfs
/// imported with `podman import`. This host withholds CAP_SYS_RESOURCE, so podman's default
/// rlimits (raised above the caller's hard limits) cannot be applied by any runtime: every run
/// passes the limits the host allows, as the issue notes.
/// </summary>
public sealed class PodmanFixture : IDisposable
{
    public string Storage { get; } = "/var/lib/hcs-it/podman-" + Guid.NewGuid().ToString("N")[..8];
    public string RunRoot { get; } = "/run/hcs-it/podman-" + Guid.NewGuid().ToString("N")[..8];
    public const string Image = "localhost/busybox:hcs-it";
    public bool Available { get; }
    public string? Why { get; }

    public PodmanFixture()
    {
        if (!Tools.Exists("podman")) { Why = "podman is not installed"; return; }
        if (!File.Exists(Runtime.Binary)) { Why = $"{Runtime.Binary} is not installed"; return; }
        using var bundle = new TestBundle();
        var tar = Path.Combine(Path.GetTempPath(), $"hcs-it-busybox-{Guid.NewGuid():N}.tar");
        Tools.Run("tar", ["-C", bundle.Rootfs, "-cf", tar, "."]).ExitCode.ShouldBe(0, "tar the rootfs");
        var r = Podman("import", tar, Image);
        File.Delete(tar);
        Assert.True(r.ExitCode == 0, $"podman import: {r}");
        Available = true;
    }

    public CommandResult Podman(params string[] args) => PodmanWithTimeout(120_000, args);

    public CommandResult PodmanWithTimeout(int timeoutMs, params string[] args) =>
        Tools.Run("podman", ["--root", Storage, "--runroot", RunRoot, "--cgroup-manager", "cgroupfs",
                             "--events-backend", "file", "--runtime", Runtime.Binary, .. args], timeoutMs: timeoutMs);

    /// <summary>`podman run` flags every run here needs (see the class comment).</summary>
    public static readonly string[] Limits = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];

    public void Dispose()
    {
        if (!Available) return;
        Podman("rm", "--all", "--force", "--time", "0");
        Podman("system", "reset", "--force");
        try { Directory.Delete(Storage, true); } catch (IOException) { }
        try { Directory.Delete(RunRoot, true); } catch (IOException) { }
    }
}

public sealed class PodmanTests(PodmanFixture podman, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<PodmanFixture>
{
    private bool Skip()
    {
        if (podman.Available) return false;
        output.WriteLine("SKIPPED: " + podman.Why);
        return true;
    }

    private CommandResult Run(params string[] args) => podman.Podman(["run", .. PodmanFixture.Limits, .. args]);

    [RootFact]
    public void Run_rm_echo()
    {
        if (Skip()) return;
        var r = Run("--rm", "--network", "none", PodmanFixture.Image, "echo", "hi");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hi\n", r.Stdout);
    }

    [RootFact]
    public void Run_with_the_default_network_and_exit_code()
    {
        if (Skip()) return;
        var r = Run("--rm", PodmanFixture.Image, "sh", "-c", "cat /proc/net/dev | grep -c : ; exit 7");
        Assert.Equal(7, r.ExitCode);
        Assert.True(int.Parse(r.Stdout.Trim()) >= 2, $"expected lo and eth0: {r}");
    }

    [RootFact]
    public void Run_interactive_with_a_terminal()
    {
        if (Skip()) return;
        // podman -it needs a terminal: util-linux `script` gives it one; runhcs receives the
        // console socket from conmon and sends the pty master over it.
        var cmd = $"podman --root {podman.Storage} --runroot {podman.RunRoot} --cgroup-manager cgroupfs --events-backend file " +
                  $"--runtime {Runtime.Binary} run --rm -it {string.Join(' ', PodmanFixture.Limits)} --network none " +
                  $"{PodmanFixture.Image} sh -c 'tty; echo interactive-ok'";
        var r = Tools.Run("script", ["-qec", cmd, "/dev/null"], timeoutMs: 120_000, keepStdinOpen: true);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("/dev/pts/0", r.Stdout);
        Assert.Contains("interactive-ok", r.Stdout);
    }

    [RootFact]
    public void Detached_then_exec_stop_rm()
    {
        if (Skip()) return;
        var name = "hcs-it-" + Guid.NewGuid().ToString("N")[..8];
        var r = Run("-d", "--name", name, "--network", "none", PodmanFixture.Image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done");
        Assert.True(r.ExitCode == 0, r.ToString());
        var exec = podman.Podman("exec", name, "sh", "-c", "echo exec-ok; exit 3");
        Assert.Equal(3, exec.ExitCode);
        Assert.Equal("exec-ok\n", exec.Stdout);
        var stop = podman.Podman("stop", "-t", "10", name);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        var state = podman.Podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name);
        Assert.Equal("exited 0", state.Stdout.Trim());
        Assert.Equal(0, podman.Podman("rm", name).ExitCode);
        Assert.NotEqual(0, podman.Podman("inspect", name).ExitCode);
    }

    [RootFact]
    public void Memory_limit_is_enforced_by_the_oom_killer()
    {
        if (Skip()) return;
        // 64 MiB written to /dev/shm (tmpfs, charged to the container's memory) under -m 32m
        var r = Run("--rm", "--network", "none", "-m", "32m", PodmanFixture.Image,
                    "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=64");
        Assert.True(r.ExitCode == 137, $"expected the OOM killer (137): {r}");
    }

    [RootFact]
    public void Pids_limit_is_enforced()
    {
        if (Skip()) return;
        var r = Run("--rm", "--network", "none", "--pids-limit", "10", PodmanFixture.Image,
                    "sh", "-c", "for i in $(seq 20); do sleep 5 & done; wait");
        Assert.Contains("can't fork", r.Stderr);
    }

    [RootFact]
    public void Pause_and_unpause()
    {
        if (Skip()) return;
        var name = "hcs-it-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, Run("-d", "--name", name, "--network", "none", PodmanFixture.Image, "sleep", "1000").ExitCode);
        Assert.Equal(0, podman.Podman("pause", name).ExitCode);
        Assert.Equal("paused", podman.Podman("inspect", "--format", "{{.State.Status}}", name).Stdout.Trim());
        Assert.Equal(0, podman.Podman("unpause", name).ExitCode);
        Assert.Equal("running", podman.Podman("inspect", "--format", "{{.State.Status}}", name).Stdout.Trim());
        Assert.Equal(0, podman.Podman("rm", "-f", "-t", "0", name).ExitCode);
    }

    [RootFact]
    public void Read_only_root()
    {
        if (Skip()) return;
        var r = Run("--rm", "--network", "none", "--read-only", PodmanFixture.Image,
                    "sh", "-c", "touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-writable");
        Assert.Contains("Read-only file system", r.Stdout);
        Assert.Contains("rc=1", r.Stdout);
        Assert.Contains("tmp-writable", r.Stdout);
    }

    [RootFact]
    public void Capabilities_drop_and_add()
    {
        if (Skip()) return;
        var r = Run("--rm", "--network", "none", "--cap-drop", "all", "--cap-add", "NET_RAW", PodmanFixture.Image,
                    "grep", "CapEff", "/proc/self/status");
        Assert.Equal("CapEff:\t0000000000002000", r.Stdout.Trim()); // only bit 13, CAP_NET_RAW
        var chown = Run("--rm", "--network", "none", "--cap-drop", "CHOWN", PodmanFixture.Image, "chown", "1:1", "/tmp");
        Assert.NotEqual(0, chown.ExitCode);
    }

    [RootFact]
    public void User_option()
    {
        if (Skip()) return;
        var r = Run("--rm", "--network", "none", "--user", "1000:1000", PodmanFixture.Image, "id", "-u");
        Assert.Equal("1000\n", r.Stdout);
    }

    [RootFact]
    public void Missing_command_gives_127()
    {
        if (Skip()) return;
        var r = Run("--rm", "--network", "none", PodmanFixture.Image, "no-such-command");
        Assert.Equal(127, r.ExitCode);
    }
}
