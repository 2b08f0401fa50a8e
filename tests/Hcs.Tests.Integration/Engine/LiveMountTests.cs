using Hcs.Linux.Containers;
using Hcs.Linux.Rootfs;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Engine;

/// <summary>Mounts added to and removed from a running container (HCS modify of a mapped
/// directory), checked from inside it with exec and from the host.</summary>
public sealed class LiveMountTests(ITestOutputHelper output) : IDisposable
{
    private readonly EngineHarness _h = new();
    private readonly List<string> _hostDirs = [];

    public void Dispose()
    {
        _h.Dispose();
        foreach (var d in _hostDirs)
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    private string NewHostDir()
    {
        var d = HostDir("live");
        _hostDirs.Add(d);
        return d;
    }

    private ContainerRecord RunIdle(TestBundle b) =>
        PauseInitTests.PausePath() is { } pause ? _h.Run(b, initExecPath: pause) : _h.Run(b);

    [RootFact]
    public void Read_only_directory_appears_refuses_writes_and_goes_away_when_unmounted()
    {
        var dir = NewHostDir();
        File.WriteAllText(Path.Combine(dir, "hello.txt"), "from the host\n");
        using var b = new TestBundle("sleep", "1000");
        var c = RunIdle(b);
        var hostMounts = File.ReadAllText("/proc/self/mountinfo");

        LiveMounts.MountInto(c.Pid, dir, "/mnt/live/data", readOnly: true);

        Assert.Equal("from the host\n", _h.ExecOk(c.Id, "cat", "/mnt/live/data/hello.txt").Stdout);
        var write = _h.Exec(c.Id, null, "sh", "-c", "echo x > /mnt/live/data/new");
        output.WriteLine(write.ToString());
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("Read-only file system", write.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "new")));
        // the container's mount table has it, read-only; the host's did not change
        var mounts = _h.ExecOk(c.Id, "cat", "/proc/self/mountinfo").Stdout.Split('\n');
        var line = Assert.Single(mounts, l => l.Split(' ') is { Length: > 5 } f && f[4] == "/mnt/live/data");
        Assert.StartsWith("ro", line.Split(' ')[5]);
        Assert.Equal(hostMounts, File.ReadAllText("/proc/self/mountinfo"));

        LiveMounts.UnmountIn(c.Pid, "/mnt/live/data");

        var gone = _h.Exec(c.Id, null, "cat", "/mnt/live/data/hello.txt");
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("No such file", gone.Stderr);
        Assert.DoesNotContain(" /mnt/live/data ", _h.ExecOk(c.Id, "cat", "/proc/self/mountinfo").Stdout);
        Assert.True(File.Exists(Path.Combine(dir, "hello.txt")), "unmounting leaves the host directory alone");
    }

    [RootFact]
    public void Writable_file_is_mounted_with_missing_parents_and_writes_reach_the_host()
    {
        var dir = NewHostDir();
        var file = Path.Combine(dir, "app.conf");
        File.WriteAllText(file, "v1\n");
        using var b = new TestBundle("sleep", "1000");
        var c = RunIdle(b);

        LiveMounts.MountInto(c.Pid, file, "/etc/app/conf.d/app.conf", readOnly: false);

        Assert.Equal("v1\n", _h.ExecOk(c.Id, "cat", "/etc/app/conf.d/app.conf").Stdout);
        Assert.Equal("dir\n", _h.ExecOk(c.Id, "sh", "-c", "test -d /etc/app/conf.d && echo dir").Stdout);
        _h.ExecOk(c.Id, "sh", "-c", "echo v2 > /etc/app/conf.d/app.conf");
        Assert.Equal("v2\n", File.ReadAllText(file));
        // the target was made in the container's rootfs, not on the host
        Assert.True(File.Exists(Path.Combine(b.Rootfs, "etc/app/conf.d/app.conf")));

        LiveMounts.UnmountIn(c.Pid, "/etc/app/conf.d/app.conf");
        Assert.Equal("", _h.ExecOk(c.Id, "cat", "/etc/app/conf.d/app.conf").Stdout); // the empty placeholder
    }

    [RootFact]
    public void A_symlink_in_the_container_cannot_lead_the_mount_out_of_its_root()
    {
        var dir = NewHostDir();
        File.WriteAllText(Path.Combine(dir, "x"), "x");
        using var b = new TestBundle("sleep", "1000");
        // planted by the image: an absolute link, meaning the host's /tmp if followed outside
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "escape"), "/tmp");
        var c = RunIdle(b);
        var name = "hcs-live-" + Guid.NewGuid().ToString("N")[..8];

        LiveMounts.MountInto(c.Pid, dir, $"/escape/{name}", readOnly: true);

        // resolved inside the container: the target is the container's /tmp/NAME
        Assert.Equal("x", _h.ExecOk(c.Id, "cat", $"/tmp/{name}/x").Stdout);
        Assert.True(Directory.Exists(Path.Combine(b.Rootfs, "tmp", name)));
        Assert.False(Path.Exists(Path.Combine("/tmp", name)), "the mount target was created on the host");
        LiveMounts.UnmountIn(c.Pid, $"/escape/{name}");
    }

    [RootFact]
    public void Mount_into_a_container_with_its_own_user_namespace()
    {
        var dir = NewHostDir();
        File.WriteAllText(Path.Combine(dir, "hello.txt"), "mapped\n");
        using var b = new TestBundle("sleep", "1000").With(s => s.UserNamespace(100000, 65536));
        Tools.Sh($"chown -R 100000:100000 {b.Rootfs}").ExitCode.ShouldBe(0, "chown the rootfs");
        var c = _h.Run(b);
        Assert.NotEqual(Ns("user"), Ns("user", c.Pid.ToString()));

        LiveMounts.MountInto(c.Pid, dir, "/data", readOnly: true);

        Assert.Equal("mapped\n", _h.ExecOk(c.Id, "cat", "/data/hello.txt").Stdout);
        // created as the container's root (host 100000), which owns it inside
        Assert.Equal("100000:100000", Tools.Sh($"stat -c %u:%g {b.Rootfs}/data").Stdout.Trim());
        LiveMounts.UnmountIn(c.Pid, "/data");
        Assert.NotEqual(0, _h.Exec(c.Id, null, "cat", "/data/hello.txt").ExitCode);
    }

    [RootFact]
    public void Errors_name_the_path_and_the_failing_step()
    {
        using var b = new TestBundle("sleep", "1000");
        var c = RunIdle(b);
        var dir = NewHostDir();

        var missing = Path.Combine(dir, "no-such-dir");
        var e = Assert.Throws<RuntimeError>(() => LiveMounts.MountInto(c.Pid, missing, "/mnt/x", readOnly: true));
        output.WriteLine(e.Message);
        Assert.Contains($"open mount source {missing}: No such file or directory", e.Message);
        Assert.Equal(RuntimeErrorKind.NotFound, e.Kind);

        // a process that has exited and was reaped
        int dead = DeadPid();
        e = Assert.Throws<RuntimeError>(() => LiveMounts.MountInto(dead, dir, "/mnt/x", readOnly: true));
        output.WriteLine(e.Message);
        Assert.Contains($"open mount namespace /proc/{dead}/ns/mnt: No such process", e.Message);
        Assert.Equal(RuntimeErrorKind.InvalidState, e.Kind);
        e = Assert.Throws<RuntimeError>(() => LiveMounts.UnmountIn(dead, "/mnt/x"));
        Assert.Contains("No such process", e.Message);

        e = Assert.Throws<RuntimeError>(() => LiveMounts.UnmountIn(c.Pid, "/tmp"));
        output.WriteLine(e.Message);
        Assert.Contains("unmount /tmp (not a mount point)", e.Message);

        e = Assert.Throws<RuntimeError>(() => LiveMounts.MountInto(c.Pid, dir, "relative/target", readOnly: false));
        Assert.Contains("must be an absolute path", e.Message);

        // our own pid shares the host's mount namespace: refused, nothing mounted on the host
        e = Assert.Throws<RuntimeError>(() => LiveMounts.MountInto(Environment.ProcessId, dir, "/mnt/should-not-exist", readOnly: true));
        Assert.Contains("shares the host's mount namespace", e.Message);
        Assert.False(Directory.Exists("/mnt/should-not-exist"));
    }

    private static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start("/bin/true")!;
        p.WaitForExit();
        return p.Id;
    }
}
