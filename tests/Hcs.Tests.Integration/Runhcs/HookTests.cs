using System.Text.Json;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): each hook is a shell
/// script that appends what it saw (its name, its mount namespace, the state on its stdin) to one
/// log, so the order, the namespaces and the state can be checked afterwards.</summary>
public sealed class HookTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    private static readonly string[] AllHooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

    private sealed record HookRun(string Name, string MountNs, JsonElement State);

    /// <summary>A bundle whose six hooks log to {bundle}/hooklog/log, a directory also bind-mounted
    /// at /hooklog so startContainer (which runs in the container, after pivot_root) reaches it.</summary>
    private static TestBundle BundleWithLoggingHooks(params string[] args)
    {
        var b = new TestBundle(args);
        var logDir = Path.Combine(b.Dir, "hooklog");
        Directory.CreateDirectory(logDir);
        const string body = "state=$(cat)\necho \"$1 $(readlink /proc/self/ns/mnt) $state\" >> \"$HOOKLOG\"";
        WriteScript(Path.Combine(b.Dir, "hook.sh"), body);
        WriteScript(Path.Combine(b.Rootfs, "hook.sh"), body);
        Hook H(string name, bool inContainer = false) => new()
        {
            Path = inContainer ? "/hook.sh" : Path.Combine(b.Dir, "hook.sh"),
            Args = ["hook.sh", name],
            Env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOOKLOG=" + (inContainer ? "/hooklog/log" : Path.Combine(logDir, "log"))],
        };
        return b.With(s =>
        {
            s.Mounts!.Add(new Mount { Destination = "/hooklog", Type = "bind", Source = logDir, Options = ["rbind"] });
            s.Hooks = new Hooks
            {
                Prestart = [H("prestart")],
                CreateRuntime = [H("createRuntime")],
                CreateContainer = [H("createContainer")],
                StartContainer = [H("startContainer", inContainer: true)],
                Poststart = [H("poststart")],
                Poststop = [H("poststop")],
            };
        });
    }

    private static List<HookRun> ReadLog(TestBundle b)
    {
        var log = Path.Combine(b.Dir, "hooklog", "log");
        if (!File.Exists(log)) return [];
        return [.. File.ReadAllLines(log).Where(l => l.Length > 0).Select(l =>
        {
            var parts = l.Split(' ', 3);
            return new HookRun(parts[0], parts[1], JsonDocument.Parse(parts[2]).RootElement.Clone());
        })];
    }

    [RootFact]
    public void Hooks_run_in_lifecycle_order_across_create_start_and_delete()
    {
        using var b = BundleWithLoggingHooks("sleep", "100");
        var id = Runtime.NewId();
        _rt.Ok("create", "--bundle", b.Dir, id);
        Assert.Equal(["prestart", "createRuntime", "createContainer"], ReadLog(b).Select(h => h.Name));
        _rt.Ok("start", id);
        Tools.WaitUntil(() => ReadLog(b).Count >= 5, "startContainer and poststart");
        var afterStart = ReadLog(b).Select(h => h.Name).ToList();
        output.WriteLine("after start: " + string.Join(' ', afterStart));
        // start waits for the program to be executed before poststart (the spec's order)
        Assert.Equal(["prestart", "createRuntime", "createContainer", "startContainer", "poststart"], afterStart);
        _rt.Ok("kill", id, "KILL");
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to stop");
        Assert.Equal(5, ReadLog(b).Count); // poststop belongs to delete
        _rt.Ok("delete", id);
        var all = ReadLog(b).Select(h => h.Name).ToList();
        Assert.Equal(AllHooks.Order(), all.Order());
        Assert.Equal("poststop", all[^1]);
    }

    [RootFact]
    public void Hooks_get_the_state_on_stdin()
    {
        using var b = BundleWithLoggingHooks("sleep", "100");
        var id = Runtime.NewId();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        int pid = _rt.Pid(id);
        Tools.WaitUntil(() => ReadLog(b).Count >= 5, "the start hooks");
        _rt.Ok("delete", "--force", id);
        var runs = ReadLog(b);
        Assert.Equal(AllHooks, runs.Select(h => h.Name));
        foreach (var h in runs)
        {
            Assert.Equal(id, h.State.GetProperty("id").GetString());
            Assert.Equal(b.Dir, h.State.GetProperty("bundle").GetString());
            Assert.StartsWith("1.", h.State.GetProperty("ociVersion").GetString());
            if (h.Name != "poststop") Assert.Equal(pid, h.State.GetProperty("pid").GetInt32());
        }
        string Status(string hook) => runs.Single(h => h.Name == hook).State.GetProperty("status").GetString()!;
        Assert.Contains(Status("prestart"), new[] { "creating", "created" });
        Assert.Contains(Status("createRuntime"), new[] { "creating", "created" });
        Assert.Contains(Status("createContainer"), new[] { "creating", "created" });
        foreach (var h in runs) output.WriteLine($"{h.Name}: {h.State.GetProperty("status").GetString()}");
        Assert.Equal("created", Status("startContainer"));
        Assert.Equal("running", Status("poststart"));
        Assert.Equal("stopped", Status("poststop"));
    }

    [RootFact]
    public void Runtime_hooks_run_in_the_hosts_mount_namespace_and_container_hooks_in_the_containers()
    {
        using var b = BundleWithLoggingHooks("sleep", "100");
        var id = Runtime.NewId();
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        var containerMnt = Ns("mnt", _rt.Pid(id).ToString());
        Tools.WaitUntil(() => ReadLog(b).Count >= 5, "the start hooks");
        _rt.Ok("delete", "--force", id);
        var ns = ReadLog(b).ToDictionary(h => h.Name, h => h.MountNs);
        var host = Ns("mnt");
        Assert.NotEqual(host, containerMnt);
        Assert.Equal(host, ns["prestart"]);
        Assert.Equal(host, ns["createRuntime"]);
        Assert.Equal(containerMnt, ns["createContainer"]);
        Assert.Equal(containerMnt, ns["startContainer"]);
        Assert.Equal(host, ns["poststart"]);
        Assert.Equal(host, ns["poststop"]);
    }

    [RootFact]
    public void Hook_args_and_env_are_passed_and_nothing_else()
    {
        using var b = new TestBundle("true");
        var log = Path.Combine(b.Dir, "args.log");
        WriteScript(Path.Combine(b.Dir, "args.sh"), $"echo \"[$1] [$2] [$HOOK_VAR]\" > {log}; env | grep -v -E '^(PWD|SHLVL|_)=' | sort >> {log}");
        b.With(s => s.Hooks = new Hooks
        {
            CreateRuntime = [new Hook { Path = Path.Combine(b.Dir, "args.sh"), Args = ["args.sh", "first", "second arg"], Env = ["HOOK_VAR=value with spaces", "OTHER=1"] }],
        });
        _rt.RunOk(b);
        var lines = File.ReadAllLines(log);
        Assert.Equal("[first] [second arg] [value with spaces]", lines[0]);
        Assert.Equal(["HOOK_VAR=value with spaces", "OTHER=1"], lines[1..]);
    }

    [RootFact]
    public void Hook_that_outlives_its_timeout_fails_create_and_leaves_nothing()
    {
        using var b = new TestBundle("true");
        WriteScript(Path.Combine(b.Dir, "slow.sh"), "exec sleep 7.25");
        b.With(s => s.Hooks = new Hooks { CreateRuntime = [new Hook { Path = Path.Combine(b.Dir, "slow.sh"), Timeout = 1 }] });
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        sw.Stop();
        output.WriteLine($"{sw.ElapsedMilliseconds} ms\n{r}");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("slow.sh", r.Stderr);
        Assert.Contains("$.hooks.createRuntime[0]", r.Stderr);
        Assert.Matches("(?i)time(d)? ?out", r.Stderr);
        // the hook was killed at its timeout, not waited for (no wall-clock assertion: the message says it)
        leaks.AssertClean(_rt, id, processMarker: "sleep 7.25");
    }

    [RootFact]
    public void Failing_hook_fails_create_with_its_output_and_leaves_nothing()
    {
        foreach (var kind in new[] { "prestart", "createRuntime", "createContainer" })
        {
            using var b = new TestBundle("true");
            WriteScript(Path.Combine(b.Dir, "fail.sh"), $"echo 'the {kind} hook says no' >&2; exit 3");
            var hook = new Hook { Path = Path.Combine(b.Dir, "fail.sh") };
            b.With(s => s.Hooks = kind switch
            {
                "prestart" => new Hooks { Prestart = [hook] },
                "createRuntime" => new Hooks { CreateRuntime = [hook] },
                _ => new Hooks { CreateContainer = [hook] },
            });
            var id = Runtime.NewId();
            var leaks = LeakCheck.Before();
            var r = _rt.Run("create", "--bundle", b.Dir, id);
            output.WriteLine($"{kind}: {r}");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains($"the {kind} hook says no", r.Stderr);
            Assert.Contains("3", r.Stderr);
            leaks.AssertClean(_rt, id);
        }
    }

    [RootFact]
    public void Failing_start_container_hook_fails_start()
    {
        using var b = new TestBundle("sh", "-c", "echo ran > /tmp/ran");
        WriteScript(Path.Combine(b.Rootfs, "fail.sh"), "echo 'startContainer refuses' >&2; exit 4");
        b.With(s => s.Hooks = new Hooks { StartContainer = [new Hook { Path = "/fail.sh" }] });
        var id = Runtime.NewId();
        _rt.Ok("create", "--bundle", b.Dir, id);
        var r = _rt.Run("start", id);
        output.WriteLine(r.ToString());
        // start may report it, or the container may just never run the program: it must not run it
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to stop");
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "tmp/ran")), "the program ran after its startContainer hook failed");
    }

    [RootFact]
    public void Failing_poststart_and_poststop_hooks_only_warn()
    {
        using var b = new TestBundle("sleep", "100");
        WriteScript(Path.Combine(b.Dir, "fail.sh"), "echo 'post hook fails' >&2; exit 5");
        var hook = new Hook { Path = Path.Combine(b.Dir, "fail.sh") };
        b.With(s => s.Hooks = new Hooks { Poststart = [hook], Poststop = [hook] });
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var run = _rt.Run("run", "-d", "--bundle", b.Dir, id);
        output.WriteLine(run.ToString());
        Assert.True(run.ExitCode == 0, "a failing poststart hook must not fail run: " + run);
        Assert.Equal("running", _rt.Status(id));
        var del = _rt.Run("delete", "--force", id);
        output.WriteLine(del.ToString());
        Assert.True(del.ExitCode == 0, "a failing poststop hook must not fail delete: " + del);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Relative_hook_path_is_refused_with_its_json_path()
    {
        using var b = new TestBundle().With(s => s.Hooks = new Hooks { Prestart = [new Hook { Path = "relative/hook.sh" }] });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.hooks.prestart[0].path", r.Stderr);
    }

    [RootFact]
    public void Several_hooks_of_one_kind_run_in_order()
    {
        using var b = new TestBundle("true");
        var log = Path.Combine(b.Dir, "order.log");
        WriteScript(Path.Combine(b.Dir, "n.sh"), $"echo $1 >> {log}");
        b.With(s => s.Hooks = new Hooks
        {
            CreateRuntime = [.. Enumerable.Range(1, 4).Select(i => new Hook { Path = Path.Combine(b.Dir, "n.sh"), Args = ["n.sh", i.ToString()] })],
        });
        _rt.RunOk(b);
        Assert.Equal(["1", "2", "3", "4"], File.ReadAllLines(log));
    }
}
