using System.Diagnostics;
using System.Text.Json;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Cli;

/// <summary>
/// The `hcs` CLI end to end, as a person or a script uses it: the published binary against a
/// private hcsd. Exit codes follow docker (the container's own; 125 hcs failed; 126/127 the
/// command could not be invoked / found).
/// </summary>
public sealed class CliTests
{
    private static readonly string Rootfs = HcsCli.Rootfs;

    [RootFact]
    public async Task Run_rm_prints_the_output_returns_0_and_leaves_nothing()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var r = hcs.Run("run", "--rm", "--name", "echo1", "--rootfs", Rootfs, "echo", "hello", "from", "hcs");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello from hcs\n", r.Stdout);
        Assert.DoesNotContain("echo1", hcs.Ids());
        Assert.False(Directory.Exists(Path.Combine(hcs.ScratchRoot, "echo1")), "run --rm left its scratch directory");
    }

    [RootFact]
    public async Task Run_returns_the_exit_code_of_the_command_and_keeps_stdout_and_stderr_apart()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var r = hcs.Run("run", "--rm", "--rootfs", Rootfs, "sh", "-c", "echo out; echo err >&2; exit 3");
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Equal("out\n", r.Stdout);
        Assert.Contains("err", r.Stderr);
    }

    [RootFact]
    public async Task A_missing_command_is_127_and_one_that_cannot_be_executed_126()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var missing = hcs.Run("run", "--rm", "--rootfs", Rootfs, "no-such-command");
        Assert.True(missing.ExitCode == 127, missing.ToString());
        Assert.Contains("no-such-command", missing.Stderr);

        var notExecutable = hcs.Run("run", "--rm", "--rootfs", Rootfs, "/etc/passwd");
        Assert.True(notExecutable.ExitCode == 126, notExecutable.ToString());

        Assert.Empty(hcs.Ids()); // --rm also cleans up after a command that never ran
    }

    [RootFact]
    public async Task Run_i_feeds_stdin_to_the_command_and_t_gives_it_a_terminal()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var cat = hcs.RunWithInput("first\nsecond\n", "run", "--rm", "-i", "--rootfs", Rootfs, "cat");
        Assert.True(cat.ExitCode == 0, cat.ToString());
        Assert.Equal("first\nsecond\n", cat.Stdout);

        // without -i the command's stdin is empty, not ours
        var noInput = hcs.RunWithInput("ignored\n", "run", "--rm", "--rootfs", Rootfs, "cat");
        Assert.True(noInput.ExitCode == 0, noInput.ToString());
        Assert.Equal("", noInput.Stdout);

        var tty = hcs.Run("run", "--rm", "-t", "--rootfs", Rootfs, "sh", "-c", "test -t 0 && test -t 1 && echo terminal");
        Assert.True(tty.ExitCode == 0, tty.ToString());
        Assert.Contains("terminal", tty.Stdout);
    }

    [RootFact]
    public async Task Detached_container_through_ps_logs_stop_and_rm()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var id = HcsCli.NewName("bg");
        // DIR:O: an overlay over the rootfs, its changes in a scratch directory of the container's
        var r = hcs.Ok("run", "-d", "--name", id, "--rootfs", Rootfs + ":O", "sh", "-c", "echo started; exec sleep 1000");
        Assert.Equal(id + "\n", r.Stdout);
        Assert.True(Directory.Exists(Path.Combine(hcs.ScratchRoot, id)), "the scratch directory hcs made");

        Assert.Contains(id, hcs.Ids(all: false));
        var table = hcs.Ok("ps").Stdout;
        Assert.Contains("CONTAINER ID", table);
        Assert.Contains("Running", table.Split('\n').Single(l => l.StartsWith(id)));

        Tools.WaitUntil(() => hcs.Ok("logs", id).Stdout.Contains("started"), "the init's output in hcs logs");

        var stop = hcs.Ok("stop", "-t", "1", id);
        Assert.Equal(id + "\n", stop.Stdout);
        Assert.DoesNotContain(id, hcs.Ids(all: false));
        Assert.Contains(id, hcs.Ids(all: true));
        Assert.Equal("Stopped", hcs.State(id));

        Assert.Equal(id + "\n", hcs.Ok("rm", id).Stdout);
        Assert.DoesNotContain(id, hcs.Ids());
        Assert.False(Directory.Exists(Path.Combine(hcs.ScratchRoot, id)), "rm left the scratch directory");
    }

    /// <summary>--rootfs DIR is the root as it is (podman's meaning: the container writes in it,
    /// no scratch); DIR:O puts an overlay over it whose changes go with the container.</summary>
    [RootFact]
    public async Task Rootfs_is_used_as_it_is_and_with_O_under_an_overlay()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var copy = Path.Combine("/tmp/hcs-it", "rootfs-" + Guid.NewGuid().ToString("N")[..8]);
        Tools.Sh($"mkdir -p /tmp/hcs-it && cp -a {Rootfs} {copy}").EnsureOk();
        try
        {
            var name = HcsCli.NewName("direct");
            hcs.Ok("run", "--rm", "--name", name, "--rootfs", copy, "sh", "-c", "echo direct > /written");
            Assert.Equal("direct\n", File.ReadAllText(Path.Combine(copy, "written")));
            Assert.False(Directory.Exists(Path.Combine(hcs.ScratchRoot, name)), "a plain --rootfs needs no scratch");

            name = HcsCli.NewName("overlaid");
            var r = hcs.Ok("run", "--rm", "--name", name, "--rootfs", copy + ":O", "sh", "-c", "echo overlaid > /overlaid; cat /written /overlaid");
            Assert.Equal("direct\noverlaid\n", r.Stdout);
            Assert.False(File.Exists(Path.Combine(copy, "overlaid")), "DIR:O wrote into the directory");
            Assert.False(Directory.Exists(Path.Combine(hcs.ScratchRoot, name)), "--rm left the scratch directory");
        }
        finally
        {
            Tools.Sh($"rm -rf {copy}");
        }
    }

    [RootFact]
    public async Task Exec_i_feeds_stdin_and_exec_returns_the_exit_code()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var id = HcsCli.NewName("ex");
        hcs.Ok("run", "-d", "--name", id, "--rootfs", Rootfs, "sleep", "1000");

        var cat = hcs.RunWithInput("line one\nline two\n", "exec", "-i", id, "cat");
        Assert.True(cat.ExitCode == 0, cat.ToString());
        Assert.Equal("line one\nline two\n", cat.Stdout);

        var env = hcs.Ok("exec", "-e", "GREETING=hi there", "-w", "/tmp", id, "sh", "-c", "echo \"$GREETING\"; pwd");
        Assert.Equal("hi there\n/tmp\n", env.Stdout);

        var code = hcs.Run("exec", id, "sh", "-c", "exit 5");
        Assert.True(code.ExitCode == 5, code.ToString());

        var missing = hcs.Run("exec", id, "no-such-command");
        Assert.True(missing.ExitCode == 127, missing.ToString());

        hcs.Ok("rm", "-f", id);
    }

    [RootFact]
    public async Task Env_workdir_volume_memory_cpus_pids_and_hostname_are_seen_inside()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var host = Path.Combine(d.Dir, "volume");
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "file"), "from the host");
        // v2 names first, then v1 (the container sees its own cgroup at /sys/fs/cgroup)
        const string script = """
            echo "env=$GREETING"
            echo "cwd=$(pwd)"
            echo "volume=$(cat /data/file)"
            touch /data/new 2>/dev/null && echo "volume-writable" || echo "volume-readonly"
            echo "hostname=$(hostname)"
            echo "memory=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
            echo "cpu=$(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
            echo "pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"
            """;
        var r = hcs.Run("run", "--rm", "--rootfs", Rootfs,
                        "-e", "GREETING=hello", "-w", "/tmp", "-v", $"{host}:/data:ro",
                        "-m", "64m", "--cpus", "0.5", "--pids-limit", "42", "--hostname", "cli-test",
                        "sh", "-c", script);
        Assert.True(r.ExitCode == 0, r.ToString());
        var seen = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        void Expect(string key, string expected) =>
            Assert.True(seen.GetValueOrDefault(key) == expected, $"{key}: expected \"{expected}\"\n{r}");
        Expect("env", "hello");
        Expect("cwd", "/tmp");
        Expect("volume", "from the host");
        Assert.Contains("volume-readonly", r.Stdout);
        Expect("hostname", "cli-test");
        Expect("memory", (64L << 20).ToString());
        // 0.5 CPU: half of one CPU's time per period (v2 "50000 100000", v1 "50000")
        Assert.StartsWith("50000", seen.GetValueOrDefault("cpu") ?? "", StringComparison.Ordinal);
        Expect("pids", "42");
        Assert.False(File.Exists(Path.Combine(host, "new")));
    }

    [RootFact]
    public async Task User_by_name_or_number_runs_the_command_as_that_user()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        // "nobody" is resolved from the rootfs's /etc/passwd (uid and primary group)
        var byName = hcs.Run("run", "--rm", "-u", "nobody", "--rootfs", Rootfs, "sh", "-c", "echo $(id -u):$(id -g)");
        Assert.True(byName.ExitCode == 0 && byName.Stdout == "65534:65534\n", byName.ToString());

        var byNumber = hcs.Run("run", "--rm", "-u", "1234:4321", "--rootfs", Rootfs, "sh", "-c", "echo $(id -u):$(id -g)");
        Assert.True(byNumber.ExitCode == 0 && byNumber.Stdout == "1234:4321\n", byNumber.ToString());

        var unknown = hcs.Run("run", "--rm", "-u", "no-such-user", "--rootfs", Rootfs, "true");
        Assert.True(unknown.ExitCode == 125, unknown.ToString());
        Assert.Contains("no-such-user", unknown.Stderr);
    }

    [RootFact]
    public async Task Inspect_and_ps_format_json_are_documents()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var id = HcsCli.NewName("js");
        Assert.Equal(id + "\n", hcs.Ok("create", "--name", id, "--rootfs", Rootfs, "true").Stdout);

        using (var inspect = JsonDocument.Parse(hcs.Ok("inspect", id).Stdout))
        {
            var p = inspect.RootElement[0];
            Assert.Equal(id, p.GetProperty("Id").GetString());
            Assert.Equal("Created", p.GetProperty("State").GetString());
            Assert.Equal("Container", p.GetProperty("SystemType").GetString());
        }
        using (var ps = JsonDocument.Parse(hcs.Ok("ps", "-a", "--format", "json").Stdout))
        {
            var mine = ps.RootElement.EnumerateArray().Single(s => s.GetProperty("Id").GetString() == id);
            Assert.Equal("Created", mine.GetProperty("State").GetString());
        }
        // --format json is a global flag: before the verb too
        using (var ps = JsonDocument.Parse(hcs.Ok("--format", "json", "ps").Stdout))
            Assert.Equal(JsonValueKind.Array, ps.RootElement.ValueKind);

        Assert.Equal(id + "\n", hcs.Ok("start", id).Stdout);
        Assert.Equal("0\n", hcs.Ok("wait", id).Stdout);
        hcs.Ok("rm", id);
    }

    [RootFact]
    public async Task Create_from_a_document_file()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var file = Path.Combine(d.Dir, "doc.json");
        File.WriteAllBytes(file, Schema.Hcs.HcsWriter.ToUtf8(w => Schema.Hcs.HcsWriter.Write(w, Hcsd.ContainerDocument("sh", "-c", "echo from-file; exit 4"))));
        var id = HcsCli.NewName("doc");
        Assert.Equal(id + "\n", hcs.Ok("create", "--file", file, "--name", id).Stdout);
        hcs.Ok("start", id);
        Assert.Equal("4\n", hcs.Ok("wait", id).Stdout);
        Assert.Contains("from-file", hcs.Ok("logs", id).Stdout);

        // a document hcsd refuses: 125, and the message names the field
        File.WriteAllText(file, """{"Container": {"Storage": {"Layers": [{"Path": "relative/dir"}]}, "Bogus": 1}}""");
        var bad = hcs.Run("create", "--file", file);
        Assert.True(bad.ExitCode == 125, bad.ToString());
        Assert.Contains("Bogus", bad.Stderr);
    }

    [RootFact]
    public async Task Kill_pause_unpause_and_wait()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var id = HcsCli.NewName("sig");
        hcs.Ok("run", "-d", "--name", id, "--rootfs", Rootfs, "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done");

        hcs.Ok("pause", id);
        Assert.Equal("Paused", hcs.State(id));
        Assert.Contains(id, hcs.Ids(all: false)); // docker ps lists paused containers
        hcs.Ok("unpause", id);
        Assert.Equal("Running", hcs.State(id));

        Assert.Equal(id + "\n", hcs.Ok("kill", "-s", "TERM", id).Stdout);
        Assert.Equal("7\n", hcs.Ok("wait", id).Stdout);

        var ps = hcs.Ok("ps", "-a").Stdout;
        Assert.Contains("Exited (7)", ps.Split('\n').Single(l => l.StartsWith(id)));
        hcs.Ok("rm", id);
    }

    [RootFact]
    public async Task Stats_no_stream_prints_one_sample_of_each_running_container()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var id = HcsCli.NewName("st");
        hcs.Ok("run", "-d", "--name", id, "-m", "64m", "--rootfs", Rootfs, "sleep", "1000");
        var r = hcs.Ok("stats", "--no-stream");
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("CONTAINER ID", lines[0]);
        var row = lines.Single(l => l.StartsWith(id));
        Assert.Contains("64MiB", row); // the limit
        Assert.Matches(@"\s1\s", row); // one process
        hcs.Ok("rm", "-f", id);
    }

    [RootFact]
    public async Task Events_reports_the_life_of_a_container()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        HcsCli.RequireBinary();
        var psi = new ProcessStartInfo(HcsCli.Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--socket", d.SocketPath, "events" }) psi.ArgumentList.Add(a);
        using var events = Process.Start(psi)!;
        var lines = new List<string>();
        var done = new TaskCompletionSource();
        events.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (lines) lines.Add(e.Data);
            if (e.Data.Contains("SystemExited")) done.TrySetResult();
        };
        events.BeginOutputReadLine();
        try
        {
            // events subscribes asynchronously: retry until a run is seen
            var deadline = Stopwatch.StartNew();
            while (!done.Task.IsCompleted && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                var run = hcs.Run("run", "--rm", "--rootfs", Rootfs, "sh", "-c", "exit 2");
                Assert.True(run.ExitCode == 2, run.ToString());
                await Task.WhenAny(done.Task, Task.Delay(500));
            }
            Assert.True(done.Task.IsCompleted, "no SystemExited event; hcs events printed:\n" + string.Join('\n', lines));
            lock (lines)
            {
                Assert.Contains(lines, l => l.Contains("SystemStarted"));
                Assert.Contains(lines, l => l.Contains("SystemExited") && l.Contains("exitCode=2"));
            }
        }
        finally
        {
            events.Kill();
            await events.WaitForExitAsync();
        }
    }

    [RootFact]
    public async Task Version_names_client_and_daemon()
    {
        await using var d = await Hcsd.StartAsync();
        var r = new HcsCli(d).Ok("version");
        Assert.Contains("Client: hcs", r.Stdout);
        Assert.Contains("Server: hcsd", r.Stdout);
    }

    [RootFact]
    public async Task Errors_of_hcs_are_125_with_a_message()
    {
        await using var d = await Hcsd.StartAsync();
        var hcs = new HcsCli(d);
        var badFlag = hcs.Run("run", "--rm", "--bogus-flag", "--rootfs", Rootfs, "true");
        Assert.True(badFlag.ExitCode == 125, badFlag.ToString());
        Assert.Contains("--bogus-flag", badFlag.Stderr);

        // flags after the command belong to the command, not to hcs
        var passed = hcs.Run("run", "--rm", "--rootfs", Rootfs, "echo", "--bogus-flag", "-x");
        Assert.True(passed.ExitCode == 0, passed.ToString());
        Assert.Equal("--bogus-flag -x\n", passed.Stdout);

        var badValue = hcs.Run("run", "--rm", "-m", "lots", "--rootfs", Rootfs, "true");
        Assert.True(badValue.ExitCode == 125, badValue.ToString());
        Assert.Contains("-m lots", badValue.Stderr);

        var missing = hcs.Run("stop", "no-such-container");
        Assert.True(missing.ExitCode == 125, missing.ToString());
        Assert.Contains("HCS_E_SYSTEM_NOT_FOUND", missing.Stderr + missing.Stdout);

        var noDaemon = Tools.Run(HcsCli.Binary, ["--socket", Path.Combine(d.Dir, "nothing.sock"), "ps"]);
        Assert.True(noDaemon.ExitCode == 125, noDaemon.ToString());
        Assert.Contains("nothing.sock", noDaemon.Stderr);
    }

    [Fact]
    public void Every_command_has_help()
    {
        HcsCli.RequireBinary();
        string[] verbs = ["run", "create", "start", "exec", "ps", "inspect", "stats", "stop", "kill",
                          "pause", "unpause", "rm", "wait", "logs", "events", "version", "image", "commit"];
        foreach (var verb in verbs)
        {
            var r = Tools.Run(HcsCli.Binary, [verb, "--help"]);
            Assert.True(r.ExitCode == 0, $"hcs {verb} --help: {r}");
            Assert.Contains($"hcs {verb}", r.Stdout);
            // a global option before the verb: the same command (hcs builds only the verb it is given)
            var afterGlobal = Tools.Run(HcsCli.Binary, ["--format", "json", verb, "--help"]);
            Assert.True(afterGlobal.ExitCode == 0 && afterGlobal.Stdout == r.Stdout, $"hcs --format json {verb} --help: {afterGlobal}");
        }
        // the whole tree for the root's help and for what is no verb
        foreach (var help in new[] { Tools.Run(HcsCli.Binary, ["--help"]), Tools.Run(HcsCli.Binary, []) })
        {
            Assert.True(help.ExitCode == 0, help.ToString());
            foreach (var verb in verbs) Assert.Matches($@"(?m)^\s+{verb}\b", help.Stdout);
        }
        var typo = Tools.Run(HcsCli.Binary, ["imgae", "ls"]);
        Assert.True(typo.ExitCode == 125, typo.ToString());
        Assert.Contains("imgae", typo.Stderr);

        // --version alone prints the version; with anything else it is an error, as is a
        // System.CommandLine directive, which hcs has none of
        var version = Tools.Run(HcsCli.Binary, ["--version"]);
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Matches(@"^\d+\.\d+\.\d+\n$", version.Stdout);
        foreach (var args in new[] { new[] { "--version", "ps" }, ["--format", "json", "--version"], ["[suggest]", "ps"] })
        {
            var r = Tools.Run(HcsCli.Binary, args);
            Assert.True(r.ExitCode == 125 && r.Stdout.Length == 0 && r.Stderr.Contains("hcs: "), $"hcs {string.Join(' ', args)}: {r}");
        }
    }
}
