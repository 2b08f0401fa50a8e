using System.Text.Json;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>The OCI lifecycle through the runhcs binary, as a runc user drives it.</summary>
public sealed class LifecycleTests : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    [RootFact]
    public void Run_prints_output_and_returns_the_exit_code()
    {
        using var b = new TestBundle("sh", "-c", "echo hello from $(hostname); exit 3");
        var id = Runtime.NewId();
        var r = _rt.Run("run", "--bundle", b.Dir, id);
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("hello from busybox\n", r.Stdout);
        // run deletes the container when it exits
        Assert.Equal(1, _rt.Run("state", id).ExitCode);
    }

    [RootFact]
    public void Create_waits_for_start_then_runs()
    {
        using var b = new TestBundle("sh", "-c", "echo started > /tmp/marker; sleep 100");
        var id = Runtime.NewId();
        _rt.Ok("create", "--bundle", b.Dir, id);
        Assert.Equal("created", _rt.Status(id));
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "tmp/marker")), "the process ran before start");
        _rt.Ok("start", id);
        Assert.Equal("running", _rt.Status(id));
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/marker")), "the process to run");
        var start2 = _rt.Run("start", id);
        Assert.NotEqual(0, start2.ExitCode);
        _rt.Ok("kill", id, "KILL");
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to stop");
        Assert.Equal(0, _rt.Pid(id));
        _rt.Ok("delete", id);
        Assert.Equal(1, _rt.Run("state", id).ExitCode);
    }

    [RootFact]
    public void State_matches_the_runtime_spec_shape()
    {
        using var b = new TestBundle("sleep", "100").With(s => s.Annotations = new() { ["org.example.key"] = "value" });
        var id = Runtime.NewId();
        _rt.Ok("create", "--bundle", b.Dir, id);
        using var doc = JsonDocument.Parse(_rt.Ok("state", id).Stdout);
        var root = doc.RootElement;
        Assert.Equal(id, root.GetProperty("id").GetString());
        Assert.Equal("created", root.GetProperty("status").GetString());
        Assert.Equal(b.Dir, root.GetProperty("bundle").GetString());
        Assert.True(root.GetProperty("pid").GetInt32() > 0);
        Assert.StartsWith("1.", root.GetProperty("ociVersion").GetString());
        Assert.Equal("value", root.GetProperty("annotations").GetProperty("org.example.key").GetString());
        Assert.True(Directory.Exists($"/proc/{root.GetProperty("pid").GetInt32()}"));
    }

    [RootFact]
    public void Delete_refuses_a_running_container_unless_forced()
    {
        using var b = new TestBundle("sleep", "100");
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        int pid = _rt.Pid(id);
        var refused = _rt.Run("delete", id);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("not stopped", refused.Stderr);
        _rt.Ok("delete", "--force", id);
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z", "init survived delete --force");
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Kill_accepts_names_and_numbers_and_all()
    {
        using var b = new TestBundle("sh", "-c", "trap 'echo got-usr1 > /tmp/sig' USR1; sleep 100 & wait; sleep 100");
        var id = Runtime.NewId();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Thread.Sleep(200); // let sh install its trap
        _rt.Ok("kill", id, "SIGUSR1");
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/sig")), "the USR1 trap");
        Assert.NotEqual(0, _rt.Run("kill", id, "NOTASIGNAL").ExitCode);
        _rt.Ok("kill", "--all", id, "9");
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to stop");
        Assert.NotEqual(0, _rt.Run("kill", id, "TERM").ExitCode);
    }

    [RootFact]
    public void List_shows_containers_as_table_and_json()
    {
        using var b = new TestBundle("sleep", "100");
        var id = Runtime.NewId();
        _rt.Ok("create", "--bundle", b.Dir, id);
        var table = _rt.Ok("list").Stdout.Split('\n');
        Assert.StartsWith("ID", table[0]);
        Assert.Contains(table, l => l.StartsWith(id + " ") && l.Contains("created"));
        using var doc = JsonDocument.Parse(_rt.Ok("list", "--format", "json").Stdout);
        Assert.Contains(doc.RootElement.EnumerateArray(), e => e.GetProperty("id").GetString() == id);
        Assert.Equal(id + "\n", _rt.Ok("list", "-q").Stdout);
    }

    [RootFact]
    public void Exec_runs_in_the_container_with_its_exit_code()
    {
        using var b = new TestBundle("sleep", "100");
        var id = Runtime.NewId();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        var r = _rt.Run("exec", id, "sh", "-c", "echo $$ $(hostname) $FOO; exit 5");
        Assert.Equal(5, r.ExitCode);
        Assert.Matches(@"^\d+ busybox $", r.Stdout.Trim('\n') + " ");
        var env = _rt.Ok("exec", "--env", "FOO=bar", "--cwd", "/tmp", id, "sh", "-c", "echo $FOO $(pwd)");
        Assert.Equal("bar /tmp\n", env.Stdout);
        var user = _rt.Ok("exec", "--user", "1000:1001", id, "id");
        Assert.Equal("uid=1000 gid=1001\n", user.Stdout);
        var missing = _rt.Run("exec", id, "no-such-program");
        Assert.Equal(255, missing.ExitCode);
        Assert.Contains("executable file not found in $PATH", missing.Stderr);
        // exec with a process.json, detached, with a pid file
        var processJson = Path.Combine(b.Dir, "process.json");
        File.WriteAllText(processJson, """{"args":["sh","-c","echo detached > /tmp/d; sleep 100"],"cwd":"/","env":["PATH=/bin"]}""");
        var pidFile = Path.Combine(b.Dir, "exec.pid");
        _rt.Ok("exec", "--process", processJson, "--detach", "--pid-file", pidFile, id);
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/d")), "the detached exec");
        var pid = int.Parse(File.ReadAllText(pidFile));
        Assert.Contains(pid, JsonSerializer.Deserialize<int[]>(_rt.Ok("ps", "--format", "json", id).Stdout)!);
    }

    [RootFact]
    public void Pause_freezes_and_resume_thaws()
    {
        using var b = new TestBundle("sh", "-c", "while true; do echo x >> /tmp/ticks; sleep 0.05; done");
        var id = Runtime.NewId();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        var ticks = Path.Combine(b.Rootfs, "tmp/ticks");
        Tools.WaitUntil(() => File.Exists(ticks), "ticks");
        _rt.Ok("pause", id);
        Assert.Equal("paused", _rt.Status(id));
        var frozenLength = new FileInfo(ticks).Length;
        Thread.Sleep(300);
        Assert.Equal(frozenLength, new FileInfo(ticks).Length);
        Assert.NotEqual(0, _rt.Run("exec", id, "true").ExitCode);
        _rt.Ok("resume", id);
        Assert.Equal("running", _rt.Status(id));
        Tools.WaitUntil(() => new FileInfo(ticks).Length > frozenLength, "ticks after resume");
        Assert.NotEqual(0, _rt.Run("resume", id).ExitCode);
    }

    [RootFact]
    public void Spec_writes_a_config_that_runs()
    {
        var dir = Path.Combine("/tmp/hcs-it", Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            _rt.Ok("spec", "--bundle", dir);
            var spec = Hcs.Schema.Oci.OciJson.ReadSpec(File.ReadAllBytes(Path.Combine(dir, "config.json")), "config.json");
            Assert.Equal(["sh"], spec.Process!.Args!);
            Assert.True(spec.Process.Terminal);
            Assert.Equal(1, _rt.Run("spec", "--bundle", dir).ExitCode); // refuses to overwrite
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [RootFact]
    public void Features_describes_the_runtime()
    {
        using var doc = JsonDocument.Parse(_rt.Ok("features").Stdout);
        var linux = doc.RootElement.GetProperty("linux");
        Assert.Contains(linux.GetProperty("namespaces").EnumerateArray(), n => n.GetString() == "user");
        Assert.True(linux.GetProperty("seccomp").GetProperty("enabled").GetBoolean());
        Assert.Contains(doc.RootElement.GetProperty("hooks").EnumerateArray(), h => h.GetString() == "createContainer");
    }
}
