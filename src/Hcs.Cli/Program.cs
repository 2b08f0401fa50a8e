using System.CommandLine;
using System.CommandLine.Help;
using Hcs.Client;

namespace Hcs.Cli;

/// <summary>
/// hcs: docker's verbs over hcsd's v2 API (docs/design/0003-hcsd-api.md), through Hcs.Client.
/// Exit codes follow docker: a container's own code, 125 when hcs failed, 126/127 when the
/// container's command could not be invoked or found.
/// </summary>
public static class Program
{
    public const string Version = "0.1.0";

    public static async Task<int> Main(string[] args)
    {
        Trace.Mark("main");
        // "[name]" first is a directive to System.CommandLine, which a root that is no
        // RootCommand skips in silence (hcs has none: not even [suggest])
        if (args.Length > 0 && args[0].StartsWith('[') && args[0].EndsWith(']'))
        {
            Output.Error($"hcs: unknown command: {args[0]}");
            Output.Error("See 'hcs --help'.");
            return ExitCodes.HcsFailed;
        }
        var root = Commands.Build(args);
        var (prepared, unknown) = ArgumentShape.Prepare(args, root, Commands.WithCommandLine);
        // response files (@file) off: "@..." is an ordinary argument of a container's command
        var parse = root.Parse(prepared, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Action is HelpAction) return await parse.InvokeAsync();
        if (unknown is not null || parse.Errors.Count > 0)
        {
            if (unknown is not null) Output.Error($"hcs: unknown flag: {unknown}");
            else foreach (var e in parse.Errors) Output.Error("hcs: " + e.Message);
            var name = parse.CommandResult.Command == root ? "hcs" : "hcs " + parse.CommandResult.Command.Name;
            Output.Error($"See '{name} --help'.");
            return ExitCodes.HcsFailed;
        }
        Trace.Mark("parsed");
        // no termination handler of System.CommandLine's: run and exec forward SIGINT/SIGTERM to
        // the container, and the other commands may just die of them
        return await parse.InvokeAsync(new InvocationConfiguration
        {
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        });
    }
}

/// <summary>The options every command sees, and the connection to hcsd.</summary>
internal sealed class Globals(string socket, string? format)
{
    public string Socket { get; } = socket;
    /// <summary>"table" or "json", or null when not given (each command has its default).</summary>
    public string? Format { get; } = format;
    public bool Json => Format == "json";

    /// <summary>A blocking transport: hcs lives milliseconds with one flow of work (see
    /// <see cref="HostComputeServiceOptions.BlockingTransport"/>).</summary>
    public HostComputeService Connect() => new(Socket, new HostComputeServiceOptions { BlockingTransport = true });
}
