using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Hcs.Client;
using Hcs.Schema;
using Hcs.Schema.Hcs;

namespace Hcs.Cli;

/// <summary>The command tree: each verb's options, and the action that runs it.</summary>
internal static class Commands
{
    /// <summary>Verbs whose trailing arguments are a command line for the container.</summary>
    public static readonly IReadOnlySet<string> WithCommandLine = new HashSet<string> { "run", "create", "exec" };

    private static readonly Option<string> Socket = new("--socket")
    {
        Description = "hcsd's socket ($HCS_SOCKET, or /run/hcs/hcs.sock)",
        Recursive = true,
        DefaultValueFactory = _ => HostComputeService.DefaultSocketPath,
    };

    private static readonly Option<string?> Format = CreateFormat();

    private static Option<string?> CreateFormat()
    {
        var o = new Option<string?>("--format") { Description = "output format of data: table or json", Recursive = true, HelpName = "table|json" };
        o.AcceptOnlyFromAmong("table", "json");
        return o;
    }

    /// <summary>Every verb, made on demand: building the whole tree (some 150 options) costs a
    /// CLI that lives milliseconds more than the parse itself, so a known verb gets a root with
    /// only itself (its help needs no siblings); anything else (help, a typo) the full tree.</summary>
    private static readonly (string Name, Func<Command> Make)[] Verbs =
    [
        ("run", RunCommand),
        ("create", CreateCommand),
        ("start", () => Simple("start", "Start one or more created containers", Lifecycle.Start)),
        ("exec", ExecCommand),
        ("ps", PsCommand),
        ("inspect", () => Ids("inspect", "Show the properties of one or more containers", Queries.Inspect)),
        ("stats", StatsCommand),
        ("stop", StopCommand),
        ("kill", KillCommand),
        ("pause", () => Simple("pause", "Pause all processes of one or more containers", Lifecycle.Pause)),
        ("unpause", () => Simple("unpause", "Resume the processes of one or more paused containers", Lifecycle.Unpause)),
        ("rm", RmCommand),
        ("wait", () => Simple("wait", "Wait for containers to stop, then print their exit codes", Lifecycle.Wait)),
        ("logs", LogsCommand),
        ("events", EventsCommand),
        ("version", VersionCommand),
        ("image", () => Images.Build(Guard)),
        ("commit", () => Images.Commit(Guard)),
    ];

    /// <summary>The command tree for these arguments: only their verb when it is a known one.</summary>
    public static Command Build(IReadOnlyList<string> args)
    {
        var verb = VerbOf(args);
        // A Command with RootCommand's two options rather than a RootCommand: its constructor
        // reads System.CommandLine's string resources for their descriptions (reflection over the
        // assembly, then the resource reader), about 0.4 ms of CPU in every `hcs` (measured with
        // perf over `hcs run`). The texts are the same; errors and help still read the resources,
        // when there is one to show.
        var root = new Command("hcs", "hcs: run and manage containers through hcsd, the Host Compute Service for Linux")
        {
            Socket, Format,
            new Option<bool>("--help", "-h", "/h", "-?", "/?") { Description = "Show help and usage information", Recursive = true, Arity = ArgumentArity.Zero, Action = new HelpAction() },
            new Option<bool>("--version") { Description = "Show version information", Arity = ArgumentArity.Zero, Action = new PrintVersion() },
        };
        foreach (var (name, make) in Verbs)
            if (verb is null || verb == name) root.Add(make());
        // `hcs` alone: the help, as docker does
        root.SetAction(_ =>
        {
            new HelpAction().Invoke(root.Parse(["--help"]));
            return 0;
        });
        return root;
    }

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            // alone, as RootCommand's --version has it
            if (parseResult.Tokens.Count != 1)
            {
                Output.Error("hcs: --version option cannot be combined with other arguments.");
                Output.Error("See 'hcs --help'.");
                return ExitCodes.HcsFailed;
            }
            Output.Line(Program.Version);
            return 0;
        }
    }

    /// <summary>The first argument after the global options, if it names a verb.</summary>
    internal static string? VerbOf(IReadOnlyList<string> args)
    {
        for (int i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "--socket" or "--format") { i++; continue; }
            if (a.StartsWith("--socket=", StringComparison.Ordinal) || a.StartsWith("--format=", StringComparison.Ordinal)) continue;
            foreach (var (name, _) in Verbs)
                if (a == name) return name;
            return null;
        }
        return null;
    }

    // ---- container flags shared by run and create ---------------------------------------

    private sealed class ContainerOptions
    {
        public readonly Option<string?> Name = new("--name") { Description = "the container's id (default: 12 random hex digits)" };
        public readonly Option<string?> Rootfs = new("--rootfs") { Description = "a directory to use as the root filesystem, as it is (instead of an image; as podman, the container writes in it); DIR:O puts a writable overlay over it, removed with the container", HelpName = "DIR[:O]" };
        public readonly Option<bool> Interactive = new("--interactive", "-i") { Description = "keep the command's standard input open" };
        public readonly Option<bool> Tty = new("--tty", "-t") { Description = "give the command a terminal" };
        public readonly Option<string[]> Env = new("--env", "-e") { Description = "set an environment variable (NAME=VALUE, or NAME to pass yours)", HelpName = "NAME=VALUE" };
        public readonly Option<string?> Workdir = new("--workdir", "-w") { Description = "working directory inside the container", HelpName = "DIR" };
        public readonly Option<string?> User = new("--user", "-u") { Description = "user to run as: uid[:gid] or name[:group]", HelpName = "USER" };
        public readonly Option<string[]> Volume = new("--volume", "-v") { Description = "bind a host path: HOST:CONTAINER[:ro]", HelpName = "HOST:CONTAINER[:ro]" };
        public readonly Option<string?> Memory = new("--memory", "-m") { Description = "memory limit (e.g. 512m, 1g)", HelpName = "SIZE" };
        public readonly Option<string?> Cpus = new("--cpus") { Description = "CPU limit in CPUs (e.g. 1.5)", HelpName = "N" };
        public readonly Option<string?> PidsLimit = new("--pids-limit") { Description = "maximum number of processes", HelpName = "N" };
        public readonly Option<string?> Hostname = new("--hostname") { Description = "the container's hostname", HelpName = "NAME" };
        public readonly Argument<string[]> Positionals = new("IMAGE|COMMAND") { Arity = ArgumentArity.ZeroOrMore, Description = "an image reference (without --rootfs), then the command and its arguments" };

        public void AddTo(Command c)
        {
            c.Add(Name); c.Add(Rootfs); c.Add(Interactive); c.Add(Tty); c.Add(Env); c.Add(Workdir); c.Add(User);
            c.Add(Volume); c.Add(Memory); c.Add(Cpus); c.Add(PidsLimit); c.Add(Hostname); c.Add(Positionals);
        }

        /// <summary>The first option besides --name that was given, if any.</summary>
        public string? Given(ParseResult r)
        {
            Option[] describing = [Rootfs, Interactive, Tty, Env, Workdir, User, Volume, Memory, Cpus, PidsLimit, Hostname];
            foreach (var o in describing)
                if (r.GetResult(o) is { Implicit: false }) return o.Name;
            return (r.GetValue(Positionals) ?? []).Length > 0 ? "a command" : null;
        }

        public ContainerFlags Read(ParseResult r, bool tty)
        {
            var rootfs = r.GetValue(Rootfs);
            // podman's spelling: DIR:O is DIR under an overlay with a scratch of its own
            bool overlay = rootfs is { Length: > 2 } && rootfs.EndsWith(":O", StringComparison.Ordinal);
            if (overlay) rootfs = rootfs![..^2];
            var (image, command) = ContainerFlags.SplitPositionals(rootfs, r.GetValue(Positionals) ?? []);
            return new ContainerFlags
            {
                Name = r.GetValue(Name),
                Rootfs = rootfs,
                RootfsOverlay = overlay,
                Image = image,
                Command = command,
                Env = r.GetValue(Env) ?? [],
                WorkingDirectory = r.GetValue(Workdir),
                User = r.GetValue(User),
                Volumes = r.GetValue(Volume) ?? [],
                Memory = r.GetValue(Memory),
                Cpus = Number.Parse<double>(r.GetValue(Cpus), "--cpus"),
                PidsLimit = Number.Parse<long>(r.GetValue(PidsLimit), "--pids-limit"),
                Hostname = r.GetValue(Hostname),
                Tty = tty,
                Interactive = r.GetValue(Interactive),
                ConsoleSize = tty ? Terminal.Size(1) ?? Terminal.Size(0) : null,
            };
        }
    }

    private static Command RunCommand()
    {
        var c = new Command("run", "Create and start a container running a command; by default wait for it and return its exit code");
        var o = new ContainerOptions();
        o.AddTo(c);
        var rm = new Option<bool>("--rm") { Description = "delete the container (and its scratch directory) when it exits" };
        var detach = new Option<bool>("--detach", "-d") { Description = "start the container in the background and print its id" };
        c.Add(rm); c.Add(detach);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) =>
        {
            var tty = r.GetValue(o.Tty);
            return Containers.Run(g, o.Read(r, tty), r.GetValue(detach), r.GetValue(rm), ct);
        }));
        return c;
    }

    private static Command CreateCommand()
    {
        var c = new Command("create", "Create a container (from --file DOC.json, or from the same flags as run) and print its id");
        var o = new ContainerOptions();
        o.AddTo(c);
        var file = new Option<string?>("--file", "-f") { Description = "a ComputeSystem document (HCS schema v2 JSON)", HelpName = "DOC.json" };
        c.Add(file);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) =>
        {
            var path = r.GetValue(file);
            if (path is not null)
            {
                if (o.Given(r) is { } other)
                    throw new UsageException($"--file with {other}: the document says everything (only --name applies)");
                return Containers.CreateFromFile(g, path, r.GetValue(o.Name), ct);
            }
            return Containers.Create(g, o.Read(r, r.GetValue(o.Tty)), ct);
        }));
        return c;
    }

    private static Command ExecCommand()
    {
        var c = new Command("exec", "Run a command in a running container");
        var interactive = new Option<bool>("--interactive", "-i") { Description = "keep standard input open" };
        var tty = new Option<bool>("--tty", "-t") { Description = "give the command a terminal" };
        var env = new Option<string[]>("--env", "-e") { Description = "set an environment variable (NAME=VALUE)", HelpName = "NAME=VALUE" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "working directory inside the container", HelpName = "DIR" };
        var user = new Option<string?>("--user", "-u") { Description = "user to run as: uid[:gid] or name[:group]" };
        var detach = new Option<bool>("--detach", "-d") { Description = "run the command in the background" };
        var args = new Argument<string[]>("CONTAINER COMMAND") { Arity = ArgumentArity.OneOrMore, Description = "the container, then the command and its arguments" };
        c.Add(interactive); c.Add(tty); c.Add(env); c.Add(workdir); c.Add(user); c.Add(detach); c.Add(args);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) =>
        {
            var a = r.GetValue(args) ?? [];
            if (a.Length < 2) throw new UsageException("\"exec\" requires a container and a command");
            return Containers.Exec(g, a[0], a[1..], r.GetValue(env) ?? [], r.GetValue(workdir), r.GetValue(user),
                                   r.GetValue(interactive), r.GetValue(tty), r.GetValue(detach), ct);
        }));
        return c;
    }

    private static Command PsCommand()
    {
        var c = new Command("ps", "List containers (running ones unless -a)");
        var all = new Option<bool>("--all", "-a") { Description = "show every container, not only running ones" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only the ids" };
        c.Add(all); c.Add(quiet);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Queries.Ps(g, r.GetValue(all), r.GetValue(quiet), ct)));
        return c;
    }

    private static Command StatsCommand()
    {
        var c = new Command("stats", "Live resource usage of containers (all running ones when none is named)");
        var noStream = new Option<bool>("--no-stream") { Description = "print one sample and exit" };
        var ids = new Argument<string[]>("CONTAINER") { Arity = ArgumentArity.ZeroOrMore };
        c.Add(noStream); c.Add(ids);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Queries.Stats(g, r.GetValue(ids) ?? [], r.GetValue(noStream), ct)));
        return c;
    }

    private static Command StopCommand()
    {
        var c = new Command("stop", "Stop containers: SIGTERM to the init, SIGKILL after the timeout");
        var time = new Option<string>("--time", "-t") { Description = "seconds to wait before killing (default 10)", HelpName = "SECONDS" };
        var ids = IdsArgument();
        c.Add(time); c.Add(ids);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Lifecycle.Stop(g, r.GetValue(ids)!, Number.Parse<int>(r.GetValue(time), "-t") ?? 10, ct)));
        return c;
    }

    private static Command KillCommand()
    {
        var c = new Command("kill", "Send a signal to containers' init processes (SIGKILL: every process)");
        var signal = new Option<string>("--signal", "-s") { Description = "signal name or number (default KILL)", HelpName = "SIGNAL" };
        var ids = IdsArgument();
        c.Add(signal); c.Add(ids);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Lifecycle.Kill(g, r.GetValue(ids)!, r.GetValue(signal) ?? "KILL", ct)));
        return c;
    }

    private static Command RmCommand()
    {
        var c = new Command("rm", "Delete containers (and the scratch directories hcs made for them)");
        var force = new Option<bool>("--force", "-f") { Description = "kill running containers first" };
        var ids = IdsArgument();
        c.Add(force); c.Add(ids);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Lifecycle.Remove(g, r.GetValue(ids)!, r.GetValue(force), ct)));
        return c;
    }

    private static Command LogsCommand()
    {
        var c = new Command("logs", "Print the output of a container's command");
        var follow = new Option<bool>("--follow", "-f") { Description = "keep printing new output until the container stops" };
        var id = new Argument<string>("CONTAINER");
        c.Add(follow); c.Add(id);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Queries.Logs(g, r.GetValue(id)!, r.GetValue(follow), ct)));
        return c;
    }

    private static Command EventsCommand()
    {
        var c = new Command("events", "Print events as they happen (all containers, or the ones named)");
        var ids = new Argument<string[]>("CONTAINER") { Arity = ArgumentArity.ZeroOrMore };
        c.Add(ids);
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Queries.Events(g, r.GetValue(ids) ?? [], ct)));
        return c;
    }

    private static Command VersionCommand()
    {
        var c = new Command("version", "Show the versions of hcs and hcsd");
        c.SetAction((r, ct) => Guard(r, ct, Queries.Version));
        return c;
    }

    private static Argument<string[]> IdsArgument() => new("CONTAINER") { Arity = ArgumentArity.OneOrMore };

    /// <summary>A verb applied to each named container in turn (docker: print the id on success).</summary>
    private static Command Simple(string name, string description, Func<Globals, string, CancellationToken, Task> each)
    {
        var ids = IdsArgument();
        var c = new Command(name, description) { ids };
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => Lifecycle.ForEach(r.GetValue(ids)!, id => each(g, id, ct), printId: name != "wait")));
        return c;
    }

    private static Command Ids(string name, string description, Func<Globals, string[], CancellationToken, Task<int>> run)
    {
        var ids = IdsArgument();
        var c = new Command(name, description) { ids };
        c.SetAction((r, ct) => Guard(r, ct, (g, ct) => run(g, r.GetValue(ids)!, ct)));
        return c;
    }

    /// <summary>Runs a command body; every failure of hcs (not of the container) is one message
    /// on stderr and exit code 125.</summary>
    private static async Task<int> Guard(ParseResult r, CancellationToken ct, Func<Globals, CancellationToken, Task<int>> body)
    {
        var g = new Globals(r.GetValue(Socket)!, r.GetValue(Format));
        try
        {
            return await body(g, ct);
        }
        catch (CommandNotRunnable e)
        {
            Output.Error("Error response from hcsd: " + e.Message);
            return e.ExitCode;
        }
        catch (Exception e)
        {
            Output.Error(Describe(e));
            return ExitCodes.HcsFailed;
        }
    }

    /// <summary>hcsd's error: its name (what scripts match), its message, and every JSON path
    /// at fault when the document was refused.</summary>
    public static string FromDaemon(HcsException e)
    {
        var text = $"Error response from hcsd ({e.Error.Name}): {e.Message}";
        if (e.Errors is { Count: > 1 } errors) text += "\n  " + string.Join("\n  ", errors);
        return text;
    }

    /// <summary>The one line a person reads for a failure of hcs.</summary>
    public static string Describe(Exception e) => e switch
    {
        UsageException => "hcs: " + e.Message,
        // no answer at all (no daemon, connection lost): the client's message says what happened
        HcsException { Error.HttpStatus: 0 } => "hcs: " + e.Message,
        HcsException h => FromDaemon(h),
        DocumentException => "hcs: " + e.Message,
        IOException or UnauthorizedAccessException => "hcs: " + e.Message,
        OperationCanceledException => "hcs: interrupted",
        // a bug of ours: still one line; no type name (naming types links reflection metadata)
        _ => "hcs: internal error: " + e.Message,
    };
}

/// <summary>Numbers from flags, parsed here so that a bad one is reported in words, not .NET types.</summary>
internal static class Number
{
    public static T? Parse<T>(string? text, string flag) where T : struct, System.Numerics.INumber<T>
    {
        if (text is null) return null;
        if (T.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)) return v;
        throw new UsageException($"{flag} {text}: not a number");
    }
}
