using System.Text.Json;
using Hcs.Linux.Cgroups;
using Hcs.Linux.Containers;
using Hcs.Linux.Spec;

namespace Hcs.Runhcs;

/// <summary>The OCI lifecycle: create, start, run, state, kill, delete, list.</summary>
internal static class LifecycleCommands
{
    private static readonly Flag[] CreateFlags =
    [
        new("bundle", FlagKind.String, "path to the root of the bundle directory", ["b"], Default: "."),
        new("console-socket", FlagKind.String, "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
        new("pid-file", FlagKind.String, "specify the file to write the process id to"),
        new("no-pivot", FlagKind.Bool, "do not use pivot root to jail process inside rootfs"),
        new("no-new-keyring", FlagKind.Bool, "do not create a new session keyring for the container"),
        new("preserve-fds", FlagKind.Int, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"),
    ];

    public static CommandSpec[] All =>
    [
        new("create", "create a container", "<container-id>", CreateFlags, Create, 1, 1),
        new("start", "executes the user defined process in a created container", "<container-id>", [], Start, 1, 1),
        new("run", "create and run a container", "<container-id>",
            [.. CreateFlags,
             new("detach", FlagKind.Bool, "detach from the container's process", ["d"]),
             new("keep", FlagKind.Bool, "do not delete the container after it exits"),
             new("no-subreaper", FlagKind.Bool, "accepted for compatibility", Hidden: true)],
            Run, 1, 1),
        new("state", "output the state of a container", "<container-id>", [], State, 1, 1),
        new("kill", "kill sends the specified signal (default: SIGTERM) to the container's init process", "<container-id> [signal]",
            [new("all", FlagKind.Bool, "send the specified signal to all processes inside the container", ["a"])], Kill, 1, 2),
        new("delete", "delete any resources held by the container often used with detached container", "<container-id>",
            [new("force", FlagKind.Bool, "forcibly deletes the container if it is still running (uses SIGKILL)", ["f"])], Delete, 1, 1),
        new("list", "lists containers started by runhcs with the given root", "",
            [new("format", FlagKind.String, "select one of: table or json", ["f"], Default: "table"),
             new("quiet", FlagKind.Bool, "display only container IDs", ["q"])], List, 0, 0, Aliases: ["ls"]),
    ];

    private static CreateOptions ReadCreate(Invocation inv, bool startViaSession, int consoleFd = -1,
                                            (Schema.Oci.Spec, byte[])? loaded = null) => new()
    {
        Loaded = loaded,
        ConsoleSocket = inv.String("console-socket"),
        ConsoleFd = consoleFd,
        PidFile = inv.String("pid-file"),
        NoPivot = inv.Bool("no-pivot"),
        NoNewKeyring = inv.Bool("no-new-keyring"),
        PreserveFds = inv.Int("preserve-fds") + ListenFds(),
        StartViaSession = startViaSession,
    };

    /// <summary>systemd socket activation: LISTEN_FDS fds after stdio are passed on too.</summary>
    private static int ListenFds() =>
        int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), out var n) && n > 0 ? n : 0;

    private static int Create(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        engine.Create(inv.Arg(0), inv.String("bundle")!, ReadCreate(inv, startViaSession: false));
        return 0;
    });

    private static int Start(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        engine.Start(inv.Arg(0));
        return 0;
    });

    private static int Run(Invocation inv) => Program.Guard(inv, "runhcs run failed", (engine, log) =>
    {
        var containerId = inv.Arg(0);
        var bundle = inv.String("bundle")!;
        bool detached = inv.Bool("detach");
        Hcs.Linux.PerfTrace.Mark("run: action");
        // In the foreground with a terminal and no console socket, we hold the pty ourselves.
        var spec = ContainerEngine.LoadSpec(Path.GetFullPath(bundle), out var specBytes);
        bool ownTty = !detached && inv.String("console-socket") is null && spec.Process?.Terminal == true;
        using var console = ownTty ? ConsolePair.Create() : null;
        var created = engine.Create(containerId, bundle, ReadCreate(inv, startViaSession: true, console?.ChildFd ?? -1, (spec, specBytes)));
        if (detached)
        {
            engine.StartSession(created);
            return 0;
        }
        using var foreground = new Foreground(created.Record.Pid, console?.ReceiveMaster());
        Hcs.Linux.PerfTrace.Mark("run: foreground ready");
        engine.StartSession(created);
        Hcs.Linux.PerfTrace.Mark("run: started");
        int code = foreground.Wait();
        Hcs.Linux.PerfTrace.Mark("run: exited");
        if (!inv.Bool("keep"))
        {
            try { engine.DeleteExited(created.Record); Hcs.Linux.PerfTrace.Mark("run: deleted"); }
            catch (Exception e) when (e is RuntimeError or IOException or CgroupException)
            {
                log.Warn($"delete {containerId}: {e.Message}");
            }
        }
        return code;
    });

    private static int State(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        var summary = engine.Summarize(engine.Store.Load(inv.Arg(0)));
        Output.Json(w => Output.Write(w, summary), indented: true);
        return 0;
    });

    private static int Kill(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        var text = inv.Args.Count > 1 ? inv.Arg(1) : "SIGTERM";
        if (!LinuxNames.TryParseSignal(text, out var sig))
            throw new RuntimeError($"unknown signal \"{text}\"");
        engine.Kill(inv.Arg(0), sig, inv.Bool("all"));
        return 0;
    });

    private static int Delete(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        engine.Delete(inv.Arg(0), inv.Bool("force"));
        return 0;
    });

    private static int List(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        var list = engine.List();
        if (inv.Bool("quiet"))
        {
            var sb = new System.Text.StringBuilder();
            foreach (var s in list) sb.Append(s.Id).Append('\n');
            Stdio.Out(sb.ToString());
            return 0;
        }
        switch (inv.String("format"))
        {
            case "json":
                Output.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var s in list) Output.Write(w, s);
                    w.WriteEndArray();
                }, indented: false);
                break;
            case "table":
                var rows = new List<string[]> { new[] { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" } };
                foreach (var s in list)
                    rows.Add([s.Id, s.Pid.ToString(), s.Status, s.Bundle, s.Created.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ"),
                              s.Owner.Length > 0 ? s.Owner : "root"]);
                Output.Table(rows);
                break;
            default:
                throw new RuntimeError($"invalid format option \"{inv.String("format")}\" (table or json)");
        }
        return 0;
    });
}

/// <summary>Writing results to stdout the way runc does.</summary>
internal static class Output
{
    public static void Json(Action<Utf8JsonWriter> write, bool indented)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
            write(w);
        Stdio.Write(1, buffer.WrittenSpan);
        Stdio.Write(1, "\n"u8);
    }

    /// <summary>runc's state document: the OCI state plus rootfs, created and owner.</summary>
    public static void Write(Utf8JsonWriter w, ContainerSummary s)
    {
        w.WriteStartObject();
        w.WriteString("ociVersion", s.OciVersion);
        w.WriteString("id", s.Id);
        w.WriteNumber("pid", s.Pid);
        w.WriteString("status", s.Status);
        w.WriteString("bundle", s.Bundle);
        w.WriteString("rootfs", s.Rootfs);
        w.WriteString("created", s.Created);
        w.WriteString("owner", s.Owner);
        if (s.Annotations is { Count: > 0 } annotations)
        {
            w.WriteStartObject("annotations");
            foreach (var (k, v) in annotations) w.WriteString(k, v);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    /// <summary>Columns padded like Go's tabwriter(minwidth 12, padding 3).</summary>
    public static void Table(List<string[]> rows)
    {
        int cols = rows[0].Length;
        var widths = new int[cols];
        foreach (var r in rows)
            for (int i = 0; i < cols; i++) widths[i] = Math.Max(widths[i], Math.Max(12, r[i].Length + 3));
        var sb = new System.Text.StringBuilder();
        foreach (var r in rows)
        {
            for (int i = 0; i < cols; i++)
                sb.Append(i == cols - 1 ? r[i] : r[i].PadRight(widths[i]));
            sb.Append('\n');
        }
        Stdio.Out(sb.ToString());
    }
}
