using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>
/// Failures, through the runhcs binary: "a malformed or invalid config.json is refused with an
/// error that names the JSON path and the problem, a non-zero exit code, and nothing left behind:
/// no state dir, cgroup, mount, pid file or process. The same holds when any step fails halfway."
/// Each case is injected into a fresh bundle and tried with `create` and with `run`; after each
/// attempt the mount table, the cgroup trees, the state root, the pid file and the process table
/// are checked. Then the runtime errors of the lifecycle commands, compared with runc's.
/// </summary>
public sealed class FailureTests : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    // ---- the cases ------------------------------------------------------------------------

    /// <summary>Changes a bundle so that create must fail; returns what the error must mention:
    /// JSON paths (starting with "$", matched exactly), words (matched ignoring case), or a
    /// regular expression ("re:...").</summary>
    private delegate string[] Inject(TestBundle b, string id);

    private sealed record Case(Inject Prepare, bool ViaCreate = true, bool ViaRun = true);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // -- the document itself ---------------------------------------------------------
        ["malformed: truncated file"] = new((b, _) =>
        {
            var path = Path.Combine(b.Dir, "config.json");
            var text = File.ReadAllBytes(path);
            File.WriteAllBytes(path, text[..(text.Length / 2)]);
            return ["malformed", @"re:line \d+, byte \d+"];
        }),
        ["malformed: trailing garbage"] = new((b, _) =>
        {
            File.AppendAllText(Path.Combine(b.Dir, "config.json"), "}");
            return ["malformed", @"re:line \d+, byte \d+"];
        }),
        ["wrong type: process.args is a number (whole document)"] = new((b, _) =>
        {
            File.WriteAllText(Path.Combine(b.Dir, "config.json"), """{"process":{"args":5}}""");
            return ["$.process.args", "expected an array", "number"];
        }),
        ["wrong type: process.args is a number"] = new((b, _) =>
        {
            EditJson(b, j => j["process"]!["args"] = 5);
            return ["$.process.args", "expected an array"];
        }),
        ["wrong type: terminal is \"yes\""] = new((b, _) =>
        {
            EditJson(b, j => j["process"]!["terminal"] = "yes");
            return ["$.process.terminal", "expected true or false"];
        }),
        ["wrong type: uid is -1"] = new((b, _) =>
        {
            EditJson(b, j => j["process"]!["user"]!["uid"] = -1);
            return ["$.process.user.uid", "-1", "out of range"];
        }),
        ["not an object: the document is an array"] = new((b, _) =>
        {
            File.WriteAllText(Path.Combine(b.Dir, "config.json"), "[1,2]");
            return ["$", "expected a JSON object"];
        }),

        // -- invalid values ----------------------------------------------------------------
        ["unknown namespace type"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Namespaces![1].Type = "bogus");
            return ["$.linux.namespaces[1].type", "unknown namespace type", "bogus"];
        }),
        ["namespace given twice"] = new((b, _) =>
        {
            int n = b.Spec.Linux!.Namespaces!.Count;
            b.With(s => s.Linux!.Namespaces!.Add(new Namespace { Type = "pid" }));
            return [$"$.linux.namespaces[{n}].type", "given twice"];
        }),
        ["missing process.args"] = new((b, _) =>
        {
            b.With(s => s.Process!.Args = null);
            return ["$.process.args", "required"];
        }),
        ["relative cwd"] = new((b, _) =>
        {
            b.With(s => s.Process!.Cwd = "tmp");
            return ["$.process.cwd", "absolute path", "tmp"];
        }),
        ["unknown capability"] = new((b, _) =>
        {
            int n = b.Spec.Process!.Capabilities!.Bounding!.Count;
            b.With(s => s.Process!.Capabilities!.Bounding!.Add("CAP_BOGUS"));
            return [$"$.process.capabilities.bounding[{n}]", "unknown capability", "CAP_BOGUS"];
        }),
        ["unknown rlimit"] = new((b, _) =>
        {
            b.With(s => s.Process!.Rlimits = [new Rlimit { Type = "RLIMIT_BOGUS", Soft = 1, Hard = 1 }]);
            return ["$.process.rlimits[0].type", "unknown rlimit", "RLIMIT_BOGUS"];
        }),
        ["rlimit soft above hard"] = new((b, _) =>
        {
            b.With(s => s.Process!.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 2048, Hard = 1024 }]);
            return ["$.process.rlimits[0].soft", "above the hard limit", "2048", "1024"];
        }),
        ["negative memory limit"] = new((b, _) =>
        {
            Resources(b).Memory = new Memory { Limit = -5 };
            b.Save();
            return ["$.linux.resources.memory.limit", "-5", "must be positive"];
        }),
        ["memory+swap below the memory limit"] = new((b, _) =>
        {
            Resources(b).Memory = new Memory { Limit = 64 << 20, Swap = 32 << 20 };
            b.Save();
            return ["$.linux.resources.memory.swap", "below the memory limit"];
        }),
        ["invalid cpuset string"] = new((b, _) =>
        {
            Resources(b).Cpu = new Cpu { Cpus = "0-a" };
            b.Save();
            return ["$.linux.resources.cpu.cpus", "not a cpu list", "0-a"];
        }),
        ["pids limit -2"] = new((b, _) =>
        {
            Resources(b).Pids = new Pids { Limit = -2 };
            b.Save();
            return ["$.linux.resources.pids.limit", "-2"];
        }),
        ["non-namespaced sysctl"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Sysctl = new() { ["kernel.pid_max"] = "1000" });
            return ["$.linux.sysctl", "kernel.pid_max", "not namespaced"];
        }),
        ["nonexistent rootfs"] = new((b, _) =>
        {
            b.With(s => s.Root!.Path = "no-such-rootfs");
            return ["$.root.path", "no-such-rootfs", "does not exist"];
        }),
        ["rootfs is a file"] = new((b, _) =>
        {
            File.WriteAllText(Path.Combine(b.Dir, "rootfs-file"), "not a directory");
            b.With(s => s.Root!.Path = Path.Combine(b.Dir, "rootfs-file"));
            return ["$.root.path", "not a directory"];
        }),
        ["bind mount source does not exist"] = new((b, _) =>
        {
            b.With(s => s.Mounts!.Insert(2, new Mount
            {
                Destination = "/mnt", Type = "bind", Source = "/nonexistent/hcs-it-src", Options = ["rbind", "ro"],
            }));
            return ["$.mounts[2].source", "/nonexistent/hcs-it-src", "does not exist"];
        }),
        ["unknown seccomp syscall"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Seccomp = new Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW",
                Syscalls = [new SyscallRule { Names = ["no_such_syscall"], Action = "SCMP_ACT_ERRNO" }],
            });
            return ["$.linux.seccomp.syscalls[0].names[0]", "unknown syscall", "no_such_syscall"];
        }),
        ["unknown seccomp action"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Seccomp = new Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW",
                Syscalls = [new SyscallRule { Names = ["getpid"], Action = "SCMP_ACT_BOGUS" }],
            });
            return ["$.linux.seccomp.syscalls[0].action", "unknown action", "SCMP_ACT_BOGUS"];
        }),
        ["unknown seccomp default action"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Seccomp = new Seccomp { DefaultAction = "SCMP_ACT_MAYBE" });
            return ["$.linux.seccomp.defaultAction", "SCMP_ACT_MAYBE"];
        }),

        // -- steps that fail halfway: namespaces and cgroups already exist -------------------
        // A passing hook first, so the index in the path is not trivially 0. The leak checks pass
        // for the hooks; the message does not name the hook's JSON path:
        ["failing createRuntime hook"] = new((b, id) =>
        {
            b.With(s => s.Hooks = new Hooks { CreateRuntime = [OkHook(id), FailingHook(id)] });
            return ["$.hooks.createRuntime[1]", "createRuntime", "exit status 1", "hook-says-no"];
        }),
        ["failing prestart hook"] = new((b, id) =>
        {
            b.With(s => s.Hooks = new Hooks { Prestart = [OkHook(id), FailingHook(id)] });
            return ["$.hooks.prestart[1]", "prestart", "exit status 1"];
        }),
        ["failing createContainer hook"] = new((b, id) =>
        {
            b.With(s => s.Hooks = new Hooks { CreateContainer = [OkHook(id), FailingHook(id)] });
            return ["$.hooks.createContainer[1]", "createContainer", "exit status 1"];
        }),
        ["hook past its timeout"] = new((b, id) =>
        {
            b.With(s => s.Hooks = new Hooks
            {
                CreateRuntime = [new Hook { Path = "/bin/sh", Args = ["sh", "-c", $"sleep 5; : {id}"], Timeout = 1 }],
            });
            return ["$.hooks.createRuntime[0]", "re:(?i)time(d)? ?out"];
        }),
        ["cpuset the kernel refuses (a cpu the host lacks)"] = new((b, _) =>
        {
            var cpu = Math.Max(63, Environment.ProcessorCount).ToString();
            Resources(b).Cpu = new Cpu { Cpus = cpu };
            b.Save();
            return ["$.linux.resources.cpu.cpus", cpu, "cpuset.cpus"];
        }),
        ["cfs quota the kernel refuses (10us < 1ms)"] = new((b, _) =>
        {
            Resources(b).Cpu = new Cpu { Quota = 10, Period = 100000 };
            b.Save();
            return ["$.linux.resources.cpu.quota", "Invalid argument"];
        }),
        // Errors found after validation (cgroup writes, the child's setup steps) carry the
        // kernel's reason but not the JSON path of the config value that caused them.
        ["executable not found"] = new((b, _) =>
        {
            b.With(s => s.Process!.Args = ["no-such-program-hcs"]);
            return ["$.process.args[0]", "executable file not found in $PATH", "no-such-program-hcs"];
        }),
        // a missing cwd is created (as runc does); one under a file cannot be
        ["cwd that cannot be created"] = new((b, _) =>
        {
            b.With(s => s.Process!.Cwd = "/etc/passwd/x");
            return ["$.process.cwd", "/etc/passwd/x", "Not a directory"];
        }),
        ["mount destination under a read-only mount"] = new((b, _) =>
        {
            var src = Path.Combine(b.Dir, "ro-src");
            Directory.CreateDirectory(src);
            int n = b.Spec.Mounts!.Count;
            b.With(s =>
            {
                s.Mounts!.Add(new Mount { Destination = "/ro", Type = "bind", Source = src, Options = ["rbind", "ro"] });
                s.Mounts.Add(new Mount { Destination = "/ro/sub", Type = "tmpfs", Source = "tmpfs" });
            });
            return [$"$.mounts[{n + 1}]", "/ro/sub", "Read-only file system"];
        }),
        ["mount of an unknown filesystem type"] = new((b, _) =>
        {
            int n = b.Spec.Mounts!.Count;
            b.With(s => s.Mounts!.Add(new Mount { Destination = "/mnt", Type = "hcsbogusfs", Source = "none" }));
            return [$"$.mounts[{n}]", "hcsbogusfs", "No such device"];
        }),
        ["namespace path that does not exist"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Namespaces![1] = new Namespace { Type = "network", Path = "/proc/999999999/ns/net" });
            return ["$.linux.namespaces[1].path", "/proc/999999999/ns/net", "No such file or directory"];
        }),
        ["namespaced sysctl the kernel refuses"] = new((b, _) =>
        {
            b.With(s => s.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "abc" });
            return ["$.linux.sysctl", "net.ipv4.ip_forward", "Invalid argument"];
        }),

        // -- `run` only: create is fine, the failure comes between start and the user's program --
        ["run: execve fails after setup (exec format error)"] = new((b, _) =>
        {
            var bad = Path.Combine(b.Rootfs, "bin/not-a-binary");
            File.WriteAllText(bad, "garbage, not an ELF file and no #!\n");
            File.SetUnixFileMode(bad, (UnixFileMode)0x1ed /* 0755 */);
            b.With(s => s.Process!.Args = ["/bin/not-a-binary"]);
            return ["$.process.args[0]", "/bin/not-a-binary", "exec format error"];
        }, ViaCreate: false),
        ["run: failing startContainer hook"] = new((b, id) =>
        {
            b.With(s => s.Hooks = new Hooks { StartContainer = [OkHook(id), FailingHook(id)] });
            return ["$.hooks.startContainer[1]", "startContainer", "exit status 1"];
        }, ViaCreate: false),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    private static Hook OkHook(string id) => new() { Path = "/bin/sh", Args = ["sh", "-c", $"cat >/dev/null; : {id}"] };

    private static Hook FailingHook(string id) =>
        new() { Path = "/bin/sh", Args = ["sh", "-c", $"cat >/dev/null; echo hook-says-no >&2; exit 1; : {id}"] };

    private static Resources Resources(TestBundle b) => b.Spec.Linux!.Resources ??= new Resources();

    /// <summary>Edits config.json as JSON text, for values the typed spec cannot hold.</summary>
    private static void EditJson(TestBundle b, Action<JsonObject> edit)
    {
        var path = Path.Combine(b.Dir, "config.json");
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(root);
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The container's process; the id in its command line lets the leak check find
    /// it (before execve, the init is a clone of runhcs, whose command line has the id too).</summary>
    private static TestBundle NewBundle(string id) => new("sh", "-c", $"sleep 3; : {id}");

    [RootTheory]
    [MemberData(nameof(CaseNames))]
    public void Refused_with_json_path_nonzero_exit_and_nothing_left_behind(string name)
    {
        var c = Cases[name];
        var id = Runtime.NewId("f");
        using var b = NewBundle(id);
        var expected = c.Prepare(b, id);
        var pidFile = Path.Combine(b.Dir, "pid");
        var failures = new List<string>();

        foreach (var verb in new[] { "create", "run" })
        {
            if (verb == "create" ? !c.ViaCreate : !c.ViaRun) continue;
            var leaks = LeakCheck.Before();
            var r = _rt.Run(verb, "--bundle", b.Dir, "--pid-file", pidFile, id);
            // Each property on its own, so a missing JSON path does not hide a leak.
            Check(failures, verb, "exit code", () => Assert.True(r.ExitCode != 0, $"{verb} succeeded:\n{r}"));
            Check(failures, verb, "message", () => AssertMentions(r, expected));
            Check(failures, verb, "leaks", () => leaks.AssertClean(_rt, id, pidFile, id));
            // clean up whatever is left, so the next verb starts from nothing
            _rt.Run("delete", "--force", id);
            File.Delete(pidFile);
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    /// <summary>A child that fails a mount step may exit before it reads what hcs-monitor sent it
    /// meanwhile (the cgroup's "made"); its error must still be the one reported, every time,
    /// not the socket reset its exit causes.</summary>
    [RootFact]
    public void A_failed_mount_step_is_reported_with_its_path_every_time()
    {
        var id = Runtime.NewId("f");
        using var b = NewBundle(id);
        int n = b.Spec.Mounts!.Count;
        b.With(s => s.Mounts!.Add(new Mount { Destination = "/mnt", Type = "hcsbogusfs", Source = "none" }));
        for (int i = 0; i < 20; i++)
        {
            var r = _rt.Run("create", "--bundle", b.Dir, id);
            Assert.True(r.ExitCode != 0, $"create succeeded:\n{r}");
            AssertMentions(r, [$"$.mounts[{n}]", "hcsbogusfs", "No such device"]);
            _rt.Run("delete", "--force", id);
        }
    }

    private static void Check(List<string> failures, string verb, string what, Action check)
    {
        try { check(); }
        catch (Xunit.Sdk.XunitException e) { failures.Add($"runhcs {verb}, {what}: {e.Message}"); }
    }

    /// <summary>The error must carry each fragment: "$..." exactly, "re:..." as a regex, other
    /// words ignoring case. Logged errors are logrus lines (msg="..." JSON-quoted): unquoted first.</summary>
    private static void AssertMentions(CommandResult r, IEnumerable<string> fragments)
    {
        var text = r.Stderr + "\n" + Unquoted(r.Stderr);
        foreach (var f in fragments)
        {
            bool ok = f.StartsWith("re:", StringComparison.Ordinal) ? Regex.IsMatch(text, f[3..])
                : f.StartsWith('$') ? text.Contains(f, StringComparison.Ordinal)
                : text.Contains(f, StringComparison.OrdinalIgnoreCase);
            Assert.True(ok, $"the error does not mention \"{f}\":\n{r}");
        }
    }

    /// <summary>The msg of each logrus text line, unquoted.</summary>
    private static string Unquoted(string stderr)
    {
        var sb = new StringBuilder();
        foreach (var line in stderr.Split('\n'))
        {
            int i = line.IndexOf(" msg=\"", StringComparison.Ordinal);
            if (i < 0) continue;
            try
            {
                using var doc = JsonDocument.Parse(line[(i + 5)..]);
                sb.Append(doc.RootElement.GetString()).Append('\n');
            }
            catch (JsonException) { }
        }
        return sb.ToString();
    }

    // ---- ids ----------------------------------------------------------------------------

    [RootFact]
    public void Id_in_use_is_refused_and_the_first_container_is_undisturbed()
    {
        var id = Runtime.NewId("f");
        using var first = new TestBundle("sh", "-c", $"echo ran > /tmp/marker; sleep 1000; : {id}");
        using var second = new TestBundle("sh", "-c", $"echo second > /tmp/marker; sleep 1000; : {id}");
        var pid1File = Path.Combine(first.Dir, "pid");
        var pid2File = Path.Combine(second.Dir, "pid");
        _rt.Ok("create", "--bundle", first.Dir, "--pid-file", pid1File, id);
        int pid = _rt.Pid(id);
        var cgroupsBefore = LeakCheck.CgroupDirsNamed(id);
        Assert.NotEmpty(cgroupsBefore);

        foreach (var verb in new[] { "create", "run" })
        {
            var r = _rt.Run(verb, "--bundle", second.Dir, "--pid-file", pid2File, id);
            Assert.True(r.ExitCode != 0, $"second {verb} with the same id succeeded:\n{r}");
            // runc's words (libcontainer ErrExist), which podman and containerd show
            AssertMentions(r, ["container with id exists", id]);
            Assert.False(File.Exists(pid2File), $"second {verb} wrote its pid file");
        }

        // The first container: same state, same pid, its pid file and cgroups intact.
        Assert.Equal("created", _rt.Status(id));
        Assert.Equal(pid, _rt.Pid(id));
        Assert.Equal(pid.ToString(), File.ReadAllText(pid1File).Trim());
        Assert.Equal(cgroupsBefore.Order(), LeakCheck.CgroupDirsNamed(id).Order());
        Assert.Contains(pid, JsonSerializer.Deserialize<int[]>(_rt.Ok("ps", "--format", "json", id).Stdout)!);
        // ... and it still starts and runs its own process, not the second bundle's.
        _rt.Ok("start", id);
        // the shell creates the file before it writes to it: wait for the text, not the name
        var marker = Path.Combine(first.Rootfs, "tmp/marker");
        Tools.WaitUntil(() => File.Exists(marker) && new FileInfo(marker).Length > 0, "the first container's process to run");
        Assert.Equal("ran\n", File.ReadAllText(marker));
        Assert.False(File.Exists(Path.Combine(second.Rootfs, "tmp/marker")), "the second bundle's process ran");
        Assert.Equal("running", _rt.Status(id));

        var leaks = LeakCheck.Before();
        _rt.Ok("delete", "--force", id);
        leaks.AssertClean(_rt, id, processMarker: id);
    }

    [RootTheory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("x/../../../etc")]
    public void Invalid_id_is_refused_and_nothing_is_made(string id)
    {
        using var b = new TestBundle("sleep", "1000");
        var pidFile = Path.Combine(b.Dir, "pid");
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Length;
        // where a naive runtime would have put the state directory and the cgroups
        var statePath = Path.GetFullPath(Path.Combine(_rt.Root, id));
        bool stateExisted = Path.Exists(statePath);
        var names = id.Split('/').Where(p => p is not ("" or "." or "..")).ToList();
        var cgroupCandidates = Directory.GetDirectories("/sys/fs/cgroup")
            .SelectMany(h => names.Select(n => Path.Combine(h, n)))
            .Where(p => !Directory.Exists(p)).ToList();
        foreach (var verb in new[] { "create", "run" })
        {
            var r = _rt.Run(verb, "--bundle", b.Dir, "--pid-file", pidFile, id);
            Assert.Equal(1, r.ExitCode);
            AssertMentions(r, [id.Length == 0 ? "container id cannot be empty" : "invalid container id"]);
            Assert.Empty(Directory.GetFileSystemEntries(_rt.Root));
            Assert.Equal(stateExisted, Path.Exists(statePath));
            Assert.All(cgroupCandidates, p => Assert.False(Directory.Exists(p), $"cgroup made: {p}"));
            Assert.Equal(mounts, File.ReadAllLines("/proc/self/mountinfo").Length);
            Assert.False(File.Exists(pidFile));
        }
    }

    [RootFact]
    public void After_a_failed_create_the_same_id_is_reusable()
    {
        var id = Runtime.NewId("f");
        using var b = new TestBundle("sh", "-c", $"echo ran > /tmp/marker; sleep 1000; : {id}");
        var pidFile = Path.Combine(b.Dir, "pid");
        // fail late (after cgroups, namespaces and the init exist), then early
        b.With(s => s.Hooks = new Hooks { CreateRuntime = [FailingHook(id)] });
        Assert.NotEqual(0, _rt.Run("create", "--bundle", b.Dir, "--pid-file", pidFile, id).ExitCode);
        b.With(s => { s.Hooks = null; s.Process!.Cwd = "relative"; });
        Assert.NotEqual(0, _rt.Run("create", "--bundle", b.Dir, "--pid-file", pidFile, id).ExitCode);
        b.With(s => s.Process!.Cwd = "/");

        _rt.Ok("create", "--bundle", b.Dir, "--pid-file", pidFile, id);
        Assert.Equal("created", _rt.Status(id));
        Assert.Equal(_rt.Pid(id).ToString(), File.ReadAllText(pidFile).Trim());
        _rt.Ok("start", id);
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/marker")), "the process to run");
        var leaks = LeakCheck.Before();
        _rt.Ok("delete", "--force", id);
        leaks.AssertClean(_rt, id, processMarker: id);
    }

    // ---- runtime errors (exit codes and messages as runc 1.1 gives them) -------------------

    private string StoppedContainer(TestBundle b)
    {
        var id = Runtime.NewId("f");
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to stop");
        return id;
    }

    [RootFact]
    public void Start_of_a_stopped_container_fails()
    {
        using var b = new TestBundle("true");
        var id = StoppedContainer(b);
        var r = _rt.Run("start", id);
        Assert.Equal(1, r.ExitCode);
        AssertMentions(r, ["cannot start a container that has stopped"]);
        Assert.Equal("stopped", _rt.Status(id));
    }

    [RootFact]
    public void Start_of_a_running_container_fails()
    {
        using var b = new TestBundle("sleep", "1000");
        var id = Runtime.NewId("f");
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        var r = _rt.Run("start", id);
        Assert.Equal(1, r.ExitCode);
        AssertMentions(r, ["cannot start an already running container"]);
        Assert.Equal("running", _rt.Status(id));
    }

    [RootFact]
    public void Exec_into_a_stopped_container_fails_with_255()
    {
        using var b = new TestBundle("true");
        var id = StoppedContainer(b);
        var r = _rt.Run("exec", id, "true");
        Assert.Equal(255, r.ExitCode);
        AssertMentions(r, ["cannot exec in a stopped container"]);
    }

    [RootFact]
    public void Kill_pause_resume_of_a_stopped_container_fail()
    {
        using var b = new TestBundle("true");
        var id = StoppedContainer(b);
        foreach (var args in new[] { new[] { "kill", id, "KILL" }, ["pause", id] })
        {
            var r = _rt.Run(args);
            Assert.Equal(1, r.ExitCode);
            AssertMentions(r, ["container not running"]);
        }
        var resume = _rt.Run("resume", id);
        Assert.Equal(1, resume.ExitCode);
        AssertMentions(resume, ["container not paused"]);
        _rt.Ok("delete", id); // a stopped container is deleted without --force
    }

    [RootFact]
    public void Commands_on_a_deleted_or_unknown_container()
    {
        using var b = new TestBundle("true");
        var id = StoppedContainer(b);
        _rt.Ok("delete", id);
        foreach (var args in new[] { new[] { "kill", id, "KILL" }, ["state", id], ["start", id], ["pause", id], ["delete", id],
                                     ["delete", "hcs-it-never-created"], ["ps", id], ["events", "--stats", id], ["update", "--pids-limit", "5", id] })
        {
            var r = _rt.Run(args);
            Assert.True(r.ExitCode == 1, $"runhcs {string.Join(' ', args)}: expected exit 1\n{r}");
            AssertMentions(r, ["container does not exist"]);
        }
        var exec = _rt.Run("exec", id, "true");
        Assert.Equal(255, exec.ExitCode);
        AssertMentions(exec, ["container does not exist"]);
        // delete --force of an unknown id succeeds quietly (containerd relies on it)
        var forced = _rt.Run("delete", "--force", "hcs-it-never-created");
        Assert.Equal(0, forced.ExitCode);
        Assert.Equal("", forced.Stderr);
    }

    [RootFact]
    public void Resume_of_a_running_container_fails()
    {
        using var b = new TestBundle("sleep", "1000");
        var id = Runtime.NewId("f");
        _rt.Ok("run", "-d", "--bundle", b.Dir, id);
        var r = _rt.Run("resume", id);
        Assert.Equal(1, r.ExitCode);
        AssertMentions(r, ["container not paused"]);
        Assert.Equal("running", _rt.Status(id));
    }

    [RootFact]
    public void Pause_of_a_created_container_then_resume()
    {
        // runc 1.1.5 on the same bundle: pause → state "paused", resume → "created", start runs it.
        using var b = new TestBundle("sh", "-c", "echo ran > /tmp/marker; sleep 1000");
        var id = Runtime.NewId("f");
        _rt.Ok("create", "--bundle", b.Dir, id);
        _rt.Ok("pause", id);
        Assert.Equal("paused", _rt.Status(id));
        _rt.Ok("resume", id);
        Assert.Equal("created", _rt.Status(id));
        _rt.Ok("start", id);
        Tools.WaitUntil(() => File.Exists(Path.Combine(b.Rootfs, "tmp/marker")), "the process to run after resume + start");
        Assert.Equal("running", _rt.Status(id));
    }

    [RootFact]
    public void Delete_of_a_created_container_needs_no_force()
    {
        // as runc: a created container is not running yet, delete kills its init and removes it
        using var b = new TestBundle("sh", "-c", "sleep 1000");
        var id = Runtime.NewId("f");
        var leaks = LeakCheck.Before();
        _rt.Ok("create", "--bundle", b.Dir, id);
        _rt.Ok("delete", id);
        leaks.AssertClean(_rt, id);
    }

    // ---- logging ------------------------------------------------------------------------

    [RootFact]
    public void Log_json_writes_an_error_object_to_the_file_and_the_plain_message_to_stderr()
    {
        using var b = new TestBundle("sleep", "1000");
        var log = Path.Combine(b.Dir, "runhcs.log");
        var r = _rt.Run($"--log={log}", "--log-format=json", "delete", "hcs-it-never-created");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("container does not exist\n", r.Stderr);
        var line = Assert.Single(File.ReadAllLines(log));
        AssertErrorLine(line, "container does not exist");

        // An invalid config: the JSON path travels in msg (containerd shows msg to the user).
        var id = Runtime.NewId("f");
        b.With(s => s.Linux!.Namespaces![1].Type = "bogus");
        File.Delete(log);
        var create = _rt.Run($"--log={log}", "--log-format=json", "create", "--bundle", b.Dir, id);
        Assert.Equal(1, create.ExitCode);
        Assert.Contains("$.linux.namespaces[1].type: unknown namespace type \"bogus\"", create.Stderr);
        Assert.DoesNotContain("level=", create.Stderr);
        var msg = AssertErrorLine(Assert.Single(File.ReadAllLines(log)), "$.linux.namespaces[1].type");
        Assert.Contains("unknown namespace type \"bogus\"", msg);
    }

    [RootFact]
    public void Log_text_goes_to_the_file_as_logrus_lines()
    {
        using var b = new TestBundle("sleep", "1000");
        var log = Path.Combine(b.Dir, "runhcs.log");
        var r = _rt.Run($"--log={log}", "kill", "hcs-it-never-created", "KILL");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("container does not exist\n", r.Stderr);
        Assert.Matches("^time=\"[^\"]+\" level=error msg=\"container does not exist\"$", Assert.Single(File.ReadAllLines(log)));
    }

    private static string AssertErrorLine(string line, string msgContains)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        Assert.Equal("error", root.GetProperty("level").GetString());
        var msg = root.GetProperty("msg").GetString()!;
        Assert.Contains(msgContains, msg);
        var time = root.GetProperty("time").GetString()!;
        Assert.True(DateTimeOffset.TryParse(time, System.Globalization.CultureInfo.InvariantCulture,
                                            System.Globalization.DateTimeStyles.None, out var t), $"time is not RFC 3339: {time}");
        Assert.True(Math.Abs((DateTimeOffset.UtcNow - t).TotalMinutes) < 5, $"time is not now: {time}");
        return msg;
    }
}
