using Hcs.Linux.Cgroups;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema;

namespace Hcs.Runhcs;

/// <summary>
/// runhcs: runc's command line over the Hcs.Linux engine, so podman, containerd (and through
/// it Kubernetes) can use it wherever they use runc. Output formats and exit codes follow runc.
/// </summary>
public static class Program
{
    public const string Version = "0.1.0";
    public const string Description = "a runc-compatible OCI runtime on the hcs engine (Linux namespaces + cgroups)";

    public static readonly Flag[] GlobalFlags =
    [
        new("root", FlagKind.String, "root directory for storage of container state (this should be located in tmpfs)", Default: "/run/runhcs"),
        new("log", FlagKind.String, "set the log file to write runhcs logs to (default is '/dev/stderr')"),
        new("log-format", FlagKind.String, "set the log format ('text' (default), or 'json')", Default: "text"),
        new("debug", FlagKind.Bool, "enable debug logging"),
        new("systemd-cgroup", FlagKind.Bool, "treat cgroupsPath as slice:prefix:name (systemd style)"),
        new("criu", FlagKind.String, "accepted for compatibility; checkpoint/restore is not supported", Hidden: true),
        new("rootless", FlagKind.String, "accepted for compatibility ('true', 'false' or 'auto')", Hidden: true),
    ];

    public static readonly CommandSpec[] Commands =
    [
        .. LifecycleCommands.All, .. ProcessCommands.All, .. SpecCommands.All,
    ];

    public static int Main(string[] args)
    {
        Hcs.Linux.PerfTrace.Mark("main");
        if (args is ["--version"] or ["-v"] or ["version"])
        {
            Stdio.Out($"runhcs version {Version}\nspec: {Schema.Oci.SpecVersion.Current}\n");
            return 0;
        }
        var inv = new Invocation();
        RuntimeLog? log = null;
        try
        {
            int i = CommandLineParser.ParseFlags(args, 0, GlobalFlags, inv, global: true, stopAtFirstArg: false);
            var globals = inv.Globals;
            if (i >= args.Length || globals.Bool("help"))
            {
                Stdio.Out(CommandLineParser.Help("runhcs", Description, GlobalFlags, Commands));
                return i >= args.Length && !globals.Bool("help") ? 1 : 0;
            }
            var command = Find(args[i]) ?? throw new UsageError($"No help topic for '{args[i]}'");
            inv.Command = command;
            CommandLineParser.ParseFlags(args, i + 1, command.Flags, inv, global: false, command.StopAtFirstArg);
            if (inv.Bool("help"))
            {
                Stdio.Out(CommandLineParser.Help("runhcs", command));
                return 0;
            }
            if (inv.Args.Count < command.MinArgs || inv.Args.Count > command.MaxArgs)
                throw new UsageError($"\"{command.Name}\" requires {Expect(command)} argument(s): {command.ArgsUsage}");
            log = LogFor(inv);
            Hcs.Linux.PerfTrace.Mark("parsed");
            return command.Run(inv);
        }
        catch (UsageError e)
        {
            (log ?? LogFor(inv)).Error(e.Message);
            return 1;
        }
    }

    private static string Expect(CommandSpec c) =>
        c.MinArgs == c.MaxArgs ? c.MinArgs.ToString() : c.MaxArgs == int.MaxValue ? $"at least {c.MinArgs}" : $"{c.MinArgs} to {c.MaxArgs}";

    private static CommandSpec? Find(string name)
    {
        foreach (var c in Commands)
        {
            if (c.Name == name) return c;
            if (c.Aliases is { } aliases && Array.IndexOf(aliases, name) >= 0) return c;
        }
        return null;
    }

    public static RuntimeLog LogFor(Invocation inv) =>
        new(inv.Globals.String("log"), inv.Globals.String("log-format") == "json", inv.Globals.Bool("debug"));

    public static ContainerEngine EngineFor(Invocation inv, RuntimeLog log) => new(new EngineOptions
    {
        Root = inv.Globals.String("root") ?? "/run/runhcs",
        SystemdCgroup = inv.Globals.Bool("systemd-cgroup"),
        Warn = log.Warn,
    });

    /// <summary>Runs a command body with runc's error convention: message to the log, exit code 1
    /// (or the code the command asks for on failure, e.g. 255 for exec).</summary>
    public static int Guard(Invocation inv, string what, Func<ContainerEngine, RuntimeLog, int> body, int failureCode = 1)
    {
        var log = LogFor(inv);
        try
        {
            return body(EngineFor(inv, log), log);
        }
        catch (Exception e) when (e is RuntimeError or DocumentException or SpawnException or ErrnoException
                                      or CgroupException or UsageError or IOException or UnauthorizedAccessException
                                      or InvalidOperationException)
        {
            log.Error(what.Length > 0 ? $"{what}: {e.Message}" : e.Message);
            return failureCode;
        }
        catch (Exception e)
        {
            // a bug of ours: still one error line (callers parse the log); no type name, as naming
            // types would link reflection metadata into this NativeAOT binary
            log.Error($"{(what.Length > 0 ? what + ": " : "")}internal error: {e.Message}");
            return failureCode;
        }
    }
}
