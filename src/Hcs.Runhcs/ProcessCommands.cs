using System.Globalization;
using System.Text;
using System.Text.Json;
using Hcs.Linux.Cgroups;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema;
using Hcs.Schema.Oci;

namespace Hcs.Runhcs;

/// <summary>Commands on a live container: exec, ps, pause, resume, update, events.</summary>
internal static class ProcessCommands
{
    public static CommandSpec[] All =>
    [
        new("exec", "execute new process inside the container", "<container-id> <command> [command options]  ||  -p process.json <container-id>",
            [
                new("console-socket", FlagKind.String, "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
                new("cwd", FlagKind.String, "current working directory in the container"),
                new("env", FlagKind.List, "set environment variables", ["e"]),
                new("tty", FlagKind.Bool, "allocate a pseudo-TTY", ["t"]),
                new("user", FlagKind.String, "UID (format: <uid>[:<gid>])", ["u"]),
                new("additional-gids", FlagKind.List, "additional gids", ["g"]),
                new("process", FlagKind.String, "path to the process.json", ["p"]),
                new("detach", FlagKind.Bool, "detach from the container's process", ["d"]),
                new("pid-file", FlagKind.String, "specify the file to write the process id to"),
                new("process-label", FlagKind.String, "accepted for compatibility (no SELinux here)", Hidden: true),
                new("apparmor", FlagKind.String, "accepted for compatibility (no AppArmor here)", Hidden: true),
                new("no-new-privs", FlagKind.Bool, "set the no new privileges value for the process"),
                new("cap", FlagKind.List, "add a capability to the bounding set for the process", ["c"]),
                new("preserve-fds", FlagKind.Int, "pass N additional file descriptors to the container"),
                new("cgroup", FlagKind.List, "accepted for compatibility (the process joins the container's cgroup)", Hidden: true),
                new("ignore-paused", FlagKind.Bool, "accepted for compatibility", Hidden: true),
            ],
            Exec, 1, StopAtFirstArg: true),
        new("ps", "ps displays the processes running inside a container", "<container-id> [ps options]",
            [new("format", FlagKind.String, "select one of: table or json", ["f"], Default: "table")], Ps, 1, StopAtFirstArg: true),
        new("pause", "pause suspends all processes inside the container", "<container-id>", [], Pause, 1, 1),
        new("resume", "resumes all processes that have been previously paused", "<container-id>", [], Resume, 1, 1),
        new("update", "update container resource constraints", "<container-id>",
            [
                new("resources", FlagKind.String, "path to a file with the resources to update, or \"-\" for stdin", ["r"]),
                new("blkio-weight", FlagKind.String, "specifies per cgroup weight, range is from 10 to 1000"),
                new("cpu-period", FlagKind.String, "CPU CFS period to be used for hardcapping (in usecs)"),
                new("cpu-quota", FlagKind.String, "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
                new("cpu-share", FlagKind.String, "CPU shares (relative weight vs. other containers)"),
                new("cpu-rt-period", FlagKind.String, "CPU realtime period to be used for hardcapping (in usecs)"),
                new("cpu-rt-runtime", FlagKind.String, "CPU realtime hardcap limit (in usecs)"),
                new("cpuset-cpus", FlagKind.String, "CPU(s) to use"),
                new("cpuset-mems", FlagKind.String, "memory node(s) to use"),
                new("memory", FlagKind.String, "memory limit (in bytes, or with a unit: 32m, 1g)"),
                new("memory-reservation", FlagKind.String, "memory reservation or soft_limit (in bytes)"),
                new("memory-swap", FlagKind.String, "total memory usage (memory + swap); set '-1' to enable unlimited swap"),
                new("kernel-memory", FlagKind.String, "accepted for compatibility (kernel memory limits are deprecated)", Hidden: true),
                new("kernel-memory-tcp", FlagKind.String, "accepted for compatibility", Hidden: true),
                new("pids-limit", FlagKind.String, "maximum number of pids allowed in the container"),
                new("l3-cache-schema", FlagKind.String, "not supported (no Intel RDT here)", Hidden: true),
                new("mem-bw-schema", FlagKind.String, "not supported (no Intel RDT here)", Hidden: true),
            ],
            Update, 1, 1),
        new("events", "display container events such as OOM notifications, cpu, memory, and IO usage statistics", "<container-id>",
            [
                new("interval", FlagKind.String, "set the stats collection interval", Default: "5s"),
                new("stats", FlagKind.Bool, "display the container's stats then exit"),
            ],
            Events, 1, 1),
    ];

    private static int Exec(Invocation inv) => Program.Guard(inv, "exec failed", (engine, _) =>
    {
        var containerId = inv.Arg(0);
        var record = engine.Store.Load(containerId);
        Process process;
        if (inv.String("process") is { } file)
        {
            process = OciJson.ReadProcess(File.ReadAllBytes(file), file);
        }
        else
        {
            var args = inv.Args.GetRange(1, inv.Args.Count - 1).ToArray();
            if (args.Length == 0) throw new RuntimeError("exec: no command given (args or --process)");
            process = FromContainer(record.Config.Process!, args, inv.Bool("tty"), inv.String("cwd"), inv.List("env"),
                                    inv.String("user"), inv.List("additional-gids"), inv.List("cap"), inv.Bool("no-new-privs"));
        }
        bool detached = inv.Bool("detach");
        using var console = !detached && process.Terminal && inv.String("console-socket") is null ? ConsolePair.Create() : null;
        var exec = engine.Exec(containerId, process, new ExecOptions
        {
            ConsoleSocket = inv.String("console-socket"),
            ConsoleFd = console?.ChildFd ?? -1,
            PidFile = inv.String("pid-file"),
            PreserveFds = inv.Int("preserve-fds"),
        });
        if (detached)
        {
            exec.WaitStarted();
            return 0;
        }
        using var foreground = new Foreground(exec.Pid, console?.ReceiveMaster());
        exec.WaitStarted();
        return foreground.Wait();
    }, failureCode: 255);

    /// <summary>An exec without --process inherits the container's process settings (env, user,
    /// cwd, capabilities, rlimits) and overrides what the flags name, as runc does.</summary>
    private static Process FromContainer(Process init, string[] args, bool tty, string? cwd, List<string> env, string? user,
                                         List<string> gids, List<string> caps, bool noNewPrivs)
    {
        var envList = new List<string>(init.Env ?? []);
        foreach (var e in env)
        {
            var key = e.Split('=', 2)[0];
            envList.RemoveAll(x => x.StartsWith(key + "=", StringComparison.Ordinal));
            envList.Add(e.Contains('=') ? e : e + "=" + Environment.GetEnvironmentVariable(e));
        }
        var u = new User { Uid = init.User?.Uid ?? 0, Gid = init.User?.Gid ?? 0, Umask = init.User?.Umask, AdditionalGids = init.User?.AdditionalGids };
        if (user is { Length: > 0 })
        {
            var parts = user.Split(':');
            if (!uint.TryParse(parts[0], out var uid) || (parts.Length > 1 && !uint.TryParse(parts[1], out _)))
                throw new RuntimeError($"--user: expected <uid>[:<gid>], not \"{user}\"");
            u.Uid = uid;
            if (parts.Length > 1) u.Gid = uint.Parse(parts[1], CultureInfo.InvariantCulture);
        }
        if (gids.Count > 0)
        {
            u.AdditionalGids = [];
            foreach (var g in gids)
                u.AdditionalGids.Add(uint.TryParse(g, out var gid) ? gid : throw new RuntimeError($"--additional-gids: not a number: \"{g}\""));
        }
        Capabilities? capabilities = init.Capabilities is { } ic
            ? new Capabilities { Bounding = [.. ic.Bounding ?? []], Effective = [.. ic.Effective ?? []], Inheritable = [.. ic.Inheritable ?? []], Permitted = [.. ic.Permitted ?? []], Ambient = [.. ic.Ambient ?? []] }
            : null;
        if (caps.Count > 0)
        {
            capabilities ??= new Capabilities { Bounding = [], Effective = [], Inheritable = [], Permitted = [], Ambient = [] };
            foreach (var cap in caps)
            {
                var name = cap.StartsWith("CAP_", StringComparison.Ordinal) ? cap : "CAP_" + cap.ToUpperInvariant();
                foreach (var set in new[] { capabilities.Bounding!, capabilities.Effective!, capabilities.Inheritable!, capabilities.Permitted!, capabilities.Ambient! })
                    if (!set.Contains(name)) set.Add(name);
            }
        }
        return new Process
        {
            Terminal = tty,
            Args = [.. args],
            Env = envList,
            Cwd = cwd ?? init.Cwd ?? "/",
            User = u,
            Capabilities = capabilities,
            Rlimits = init.Rlimits,
            NoNewPrivileges = noNewPrivs || init.NoNewPrivileges,
            OomScoreAdj = init.OomScoreAdj,
        };
    }

    private static int Ps(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        var pids = engine.Pids(inv.Arg(0));
        var format = inv.String("format");
        if (format == "json")
        {
            Output.Json(w =>
            {
                w.WriteStartArray();
                foreach (var pid in pids) w.WriteNumberValue(pid);
                w.WriteEndArray();
            }, indented: false);
            return 0;
        }
        if (format != "table") throw new RuntimeError($"invalid format option \"{format}\"");
        var args = inv.Args.Count > 1 ? inv.Args.GetRange(1, inv.Args.Count - 1).ToArray() : ["-ef"];
        Stdio.Out(PsTable.Filter(args, pids));
        return 0;
    });

    private static int Pause(Invocation inv) => Program.Guard(inv, "", (engine, _) => { engine.Pause(inv.Arg(0)); return 0; });

    private static int Resume(Invocation inv) => Program.Guard(inv, "", (engine, _) => { engine.Resume(inv.Arg(0)); return 0; });

    private static int Update(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        Resources r;
        if (inv.String("resources") is { } file)
        {
            var bytes = file == "-" ? Stdio.ReadAllStdin() : File.ReadAllBytes(file);
            r = OciJson.ReadResources(bytes, file == "-" ? "stdin" : file);
        }
        else r = new Resources();
        if (inv.Has("l3-cache-schema") || inv.Has("mem-bw-schema"))
            throw new RuntimeError("Intel RDT is not supported on this host");
        if (inv.ULong("blkio-weight") is { } w)
            (r.BlockIO ??= new BlockIo()).Weight = w <= ushort.MaxValue ? (ushort)w : throw new RuntimeError($"--blkio-weight: {w} is out of range");
        var cpu = r.Cpu ?? new Cpu();
        cpu.Period = inv.ULong("cpu-period") ?? cpu.Period;
        cpu.Quota = inv.Long("cpu-quota") ?? cpu.Quota;
        cpu.Shares = inv.ULong("cpu-share") ?? cpu.Shares;
        cpu.RealtimePeriod = inv.ULong("cpu-rt-period") ?? cpu.RealtimePeriod;
        cpu.RealtimeRuntime = inv.Long("cpu-rt-runtime") ?? cpu.RealtimeRuntime;
        cpu.Cpus = inv.String("cpuset-cpus") ?? cpu.Cpus;
        cpu.Mems = inv.String("cpuset-mems") ?? cpu.Mems;
        if (cpu.Period is not null || cpu.Quota is not null || cpu.Shares is not null || cpu.RealtimePeriod is not null ||
            cpu.RealtimeRuntime is not null || cpu.Cpus is not null || cpu.Mems is not null)
            r.Cpu = cpu;
        var mem = r.Memory ?? new Memory();
        if (inv.String("memory") is { } m) mem.Limit = Units.ParseMemory(m, "--memory");
        if (inv.String("memory-reservation") is { } mr) mem.Reservation = Units.ParseMemory(mr, "--memory-reservation");
        if (inv.String("memory-swap") is { } ms) mem.Swap = Units.ParseMemory(ms, "--memory-swap");
        if (mem.Limit is not null || mem.Reservation is not null || mem.Swap is not null) r.Memory = mem;
        if (inv.Long("pids-limit") is { } pl) r.Pids = new Pids { Limit = pl };
        engine.Update(inv.Arg(0), r);
        return 0;
    });

    private static int Events(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        var containerId = inv.Arg(0);
        if (inv.Bool("stats"))
        {
            WriteEvent("stats", containerId, engine.Stats(containerId));
            return 0;
        }
        var period = Units.ParseDuration(inv.String("interval")!, "--interval");
        var record = engine.Store.Load(containerId);
        ulong ooms = engine.OomKills(record);
        while (engine.StatusOf(record) != ContainerStatus.Stopped)
        {
            WriteEvent("stats", containerId, engine.Stats(containerId));
            var deadline = Environment.TickCount64 + (long)period.TotalMilliseconds;
            // OOM kills are checked more often than stats are printed
            while (Environment.TickCount64 < deadline && engine.StatusOf(record) != ContainerStatus.Stopped)
            {
                var now = engine.OomKills(record);
                if (now > ooms) WriteEvent("oom", containerId, null);
                ooms = now;
                Thread.Sleep((int)Math.Min(100, Math.Max(1, deadline - Environment.TickCount64)));
            }
        }
        return 0;
    });

    private static void WriteEvent(string type, string id, CgroupStats? data)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteString("id", id);
            if (data is not null)
            {
                w.WritePropertyName("data");
                CgroupStatsJson.Write(w, data);
            }
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        Stdio.Write(1, ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }
}

/// <summary>`ps` in table form: run the host's ps and keep the header and our processes' lines.</summary>
internal static unsafe class PsTable
{
    public static string Filter(string[] args, IReadOnlyList<int> pids)
    {
        var (status, output) = Capture("ps", args);
        if (status != 0) throw new RuntimeError($"ps {string.Join(' ', args)} failed (exit status {status})");
        var lines = output.Split('\n');
        var header = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int pidColumn = Array.IndexOf(header, "PID");
        if (pidColumn < 0) throw new RuntimeError("couldn't find PID field in ps output");
        var set = new HashSet<int>(pids);
        var sb = new StringBuilder(lines[0]).Append('\n');
        for (int i = 1; i < lines.Length; i++)
        {
            var fields = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > pidColumn && int.TryParse(fields[pidColumn], out var pid) && set.Contains(pid))
                sb.Append(lines[i]).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Runs a program found in PATH and returns its exit status and stdout. posix_spawn
    /// (vfork-based, safe in a multi-threaded process) instead of System.Diagnostics.Process,
    /// which would bring its SIGCHLD machinery and a few hundred KiB into runhcs.</summary>
    private static (int Status, string Output) Capture(string file, string[] args)
    {
        int* pipe = stackalloc int[2];
        Libc.Check(Libc.Pipe2(pipe, Libc.O_CLOEXEC), "pipe");
        using var arena = new NativeArena();
        var actions = (byte*)arena.Alloc(256);
        Libc.PosixSpawnFileActionsInit(actions);
        Libc.PosixSpawnFileActionsAddDup2(actions, pipe[1], 1);
        var argv = arena.StrArray([file, .. args]);
        var envp = arena.StrArray(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]);
        int pid;
        int rc = Libc.PosixSpawnp(&pid, arena.Str(file), actions, null, argv, envp);
        Libc.PosixSpawnFileActionsDestroy(actions);
        Libc.Close(pipe[1]);
        if (rc != 0)
        {
            Libc.Close(pipe[0]);
            throw new ErrnoException(rc, $"run {file}");
        }
        var ms = new MemoryStream();
        var buf = new byte[16 * 1024];
        fixed (byte* b = buf)
            for (;;)
            {
                nint n = Libc.Read(pipe[0], b, buf.Length);
                if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                if (n <= 0) break;
                ms.Write(buf, 0, (int)n);
            }
        Libc.Close(pipe[0]);
        int status = Libc.ExitCodeOf(Libc.WaitForExit(pid));
        return (status, Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length));
    }
}

/// <summary>Sizes and durations in the forms runc (docker/go-units, Go's time) accepts.</summary>
internal static class Units
{
    public static long ParseMemory(string text, string flag)
    {
        var s = text.Trim().ToLowerInvariant();
        if (s == "-1") return -1;
        int end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] == '.')) end++;
        if (end == 0 || !double.TryParse(s[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            throw new RuntimeError($"{flag}: invalid size \"{text}\"");
        var unit = s[end..].TrimEnd('b').TrimEnd('i');
        long mult = unit switch
        {
            "" => 1, "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, "p" => 1L << 50,
            _ => throw new RuntimeError($"{flag}: invalid size \"{text}\""),
        };
        return (long)(value * mult);
    }

    /// <summary>Go's time.ParseDuration grammar: a sequence of number+unit ("1m30s", "500ms",
    /// "1.5h"), units ns, us (µs), ms, s, m, h.</summary>
    public static TimeSpan ParseDuration(string text, string flag)
    {
        var s = text.Trim();
        double totalMs = 0;
        int i = 0;
        if (s.Length == 0) throw new RuntimeError($"{flag}: invalid duration \"{text}\" (e.g. 5s, 500ms, 1m30s)");
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == start || !double.TryParse(s[start..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                throw new RuntimeError($"{flag}: invalid duration \"{text}\" (e.g. 5s, 500ms, 1m30s)");
            int unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.') i++;
            double ms = s[unitStart..i] switch
            {
                "ns" => 1e-6, "us" or "µs" => 1e-3, "ms" => 1, "s" => 1000, "m" => 60_000, "h" => 3_600_000,
                _ => throw new RuntimeError($"{flag}: invalid duration \"{text}\" (e.g. 5s, 500ms, 1m30s)"),
            };
            totalMs += value * ms;
        }
        if (totalMs <= 0) throw new RuntimeError($"{flag}: the duration must be positive, not \"{text}\"");
        return TimeSpan.FromMilliseconds(totalMs);
    }
}
