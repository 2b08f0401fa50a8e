using System.CommandLine;

namespace Hcs.Cli;

/// <summary>
/// `hcs run [OPTIONS] IMAGE|--rootfs DIR COMMAND [ARG...]`: everything from the first positional
/// argument on belongs to the container (`sh -c 'exit 3'` must not have its `-c` parsed as an
/// option of hcs). System.CommandLine reads options anywhere, so before parsing, a "--" is put
/// in front of the first positional argument of the commands that take a command line. Which
/// tokens are option values is known from the command's own option definitions.
/// </summary>
internal static class ArgumentShape
{
    /// <summary>The arguments to parse, or the first unknown option. System.CommandLine would
    /// take an unknown "--flag" as a value of a command's positional arguments (a container id,
    /// a command word), so unknown options are caught here, where it is known what is an option.</summary>
    public static (string[] Args, string? UnknownOption) Prepare(string[] args, Command root, IReadOnlySet<string> commandsWithCommandLine)
    {
        var (i, unknown) = SkipOptions(args, 0, root, root, stopAtArgument: true);
        if (unknown is not null || i >= args.Length) return (args, unknown);
        var command = Subcommand(root, args[i]);
        if (command is null) return (args, null);
        // a group (hcs image pull ...): its options, then the subcommand's
        while (command.Subcommands.Count > 0)
        {
            var (next, unknownInGroup) = SkipOptions(args, i + 1, command, root, stopAtArgument: true);
            if (unknownInGroup is not null) return (args, unknownInGroup);
            if (next >= args.Length || Subcommand(command, args[next]) is not { } sub) return (args, null);
            (i, command) = (next, sub);
        }
        bool hasCommandLine = commandsWithCommandLine.Contains(command.Name);
        var (first, unknownInCommand) = SkipOptions(args, i + 1, command, root, stopAtArgument: hasCommandLine);
        if (unknownInCommand is not null) return (args, unknownInCommand);
        if (!hasCommandLine || first >= args.Length || args[first] == "--") return (args, null);
        return ([.. args[..first], "--", .. args[first..]], null);
    }

    /// <summary>Walks options (and their values) from <paramref name="start"/>: returns the index
    /// of the first positional argument (with <paramref name="stopAtArgument"/>; otherwise
    /// positional arguments are stepped over too), or the first token that is no known option.</summary>
    private static (int Index, string? Unknown) SkipOptions(string[] args, int start, Command command, Command root, bool stopAtArgument)
    {
        int i = start;
        while (i < args.Length)
        {
            var token = args[i];
            if (token == "--") return (i, null);
            if (token.Length < 2 || token[0] != '-')
            {
                if (stopAtArgument) return (i, null);
                i++;
                continue;
            }
            i++;
            int eq = token.IndexOf('=');
            var name = eq > 0 ? token[..eq] : token;
            if (Find(name, command, root) is { } option)
            {
                if (eq < 0 && TakesValue(option) && i < args.Length) i++;
                continue;
            }
            if (token[1] == '-') return (i - 1, name);
            // a POSIX bundle of short options (-it, -dit; the last may take a value: -de K=V)
            for (int k = 1; k < token.Length; k++)
            {
                if (Find("-" + token[k], command, root) is not { } o) return (i - 1, k == 1 ? token : $"-{token[k]} (in {token})");
                if (!TakesValue(o)) continue;
                if (k == token.Length - 1 && i < args.Length) i++; // its value is the next token
                break; // otherwise the rest of the token is the value
            }
        }
        return (i, null);
    }

    private static Command? Subcommand(Command parent, string token) =>
        parent.Subcommands.FirstOrDefault(c => c.Name == token || c.Aliases.Contains(token));

    private static Option? Find(string token, Command command, Command root)
    {
        foreach (var o in command.Options)
            if (o.Name == token || o.Aliases.Contains(token)) return o;
        if (!ReferenceEquals(command, root))
            foreach (var o in root.Options)
                if (o.Recursive && (o.Name == token || o.Aliases.Contains(token))) return o;
        return null;
    }

    private static bool TakesValue(Option o) => o.ValueType != typeof(bool) && o.Arity.MaximumNumberOfValues > 0;
}
