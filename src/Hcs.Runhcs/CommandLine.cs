using System.Text;

namespace Hcs.Runhcs;

/// <summary>
/// runc's command-line grammar (Go's flag package as urfave/cli v1 uses it), written by hand.
///
/// Why not System.CommandLine, which the rest of hcs uses: runhcs starts once per container
/// operation and its floors are "faster than crun" and "at most 5 MiB peak RSS". Measured
/// here, System.CommandLine added 1.7 MiB of RSS and 0.6 ms to every invocation (its code and
/// type metadata are paged in and rehydrated at start). The grammar it would parse is small:
///   runhcs [global flags] COMMAND [flags] ARGS...
/// - flags take one or two dashes ("-root" = "--root"), values as "--f v" or "--f=v",
///   booleans as "--b" or "--b=false"; short aliases ("-d");
/// - flags may follow positional arguments (urfave reorders), except for commands whose
///   trailing arguments belong to another program (exec, ps): there the first positional
///   argument ends flag parsing; "--" always does.
/// </summary>
public enum FlagKind { Bool, String, Int, List }

public sealed record Flag(string Name, FlagKind Kind, string Usage, string[]? Aliases = null, string? Default = null, bool Hidden = false);

public sealed record CommandSpec(
    string Name,
    string Usage,
    string ArgsUsage,
    Flag[] Flags,
    Func<Invocation, int> Run,
    int MinArgs = 0,
    int MaxArgs = int.MaxValue,
    bool StopAtFirstArg = false,
    string[]? Aliases = null);

/// <summary>A parsed command line: global flags, the command's flags, positional arguments.</summary>
public sealed class Invocation
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Flag> _flags = new(StringComparer.Ordinal);
    /// <summary>Global flags live apart from the command's: runc's global --rootless and
    /// `spec --rootless` are different flags with one name.</summary>
    public Invocation Globals => field ??= new Invocation();
    public List<string> Args { get; } = [];
    public CommandSpec? Command { get; set; }

    public void Declare(Flag f) => _flags[f.Name] = f;

    public void Set(string name, string value)
    {
        if (!_values.TryGetValue(name, out var list)) _values[name] = list = [];
        list.Add(value);
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) =>
        _values.TryGetValue(name, out var v) ? v[^1] : _flags.TryGetValue(name, out var f) ? f.Default : null;

    public bool Bool(string name) => String(name) is { } v && v is "true" or "1" or "t" or "T" or "TRUE" or "True";

    public int Int(string name)
    {
        var v = String(name);
        if (v is null) return 0;
        return int.TryParse(v, out var n) ? n : throw new UsageError($"invalid value \"{v}\" for flag --{name}: not an integer");
    }

    public long? Long(string name)
    {
        var v = String(name);
        if (v is null) return null;
        return long.TryParse(v, out var n) ? n : throw new UsageError($"invalid value \"{v}\" for flag --{name}: not an integer");
    }

    public ulong? ULong(string name)
    {
        var v = String(name);
        if (v is null) return null;
        return ulong.TryParse(v, out var n) ? n : throw new UsageError($"invalid value \"{v}\" for flag --{name}: not a non-negative integer");
    }

    public List<string> List(string name) => _values.TryGetValue(name, out var v) ? v : [];

    public string Arg(int i) => Args[i];
}

public sealed class UsageError(string message) : Exception(message);

public static class CommandLineParser
{
    /// <summary>Parses flags from args[start..] into inv until a command name or the end
    /// (global mode), or all of them (command mode). Returns the index it stopped at.</summary>
    public static int ParseFlags(string[] args, int start, Flag[] flags, Invocation command, bool global, bool stopAtFirstArg)
    {
        var inv = global ? command.Globals : command;
        foreach (var f in flags) inv.Declare(f);
        int i = start;
        bool flagsDone = false;
        while (i < args.Length)
        {
            var a = args[i];
            if (!flagsDone && a == "--")
            {
                flagsDone = true;
                i++;
                continue;
            }
            if (flagsDone || a.Length < 2 || a[0] != '-')
            {
                if (global) return i; // the command name
                command.Args.Add(a);
                if (stopAtFirstArg) flagsDone = true;
                i++;
                continue;
            }
            var body = a.StartsWith("--", StringComparison.Ordinal) ? a[2..] : a[1..];
            string? inline = null;
            int eq = body.IndexOf('=');
            if (eq >= 0)
            {
                inline = body[(eq + 1)..];
                body = body[..eq];
            }
            var flag = Find(flags, body);
            if (flag is null)
            {
                if (body is "h" or "help") { inv.Set("help", "true"); i++; continue; }
                throw new UsageError($"flag provided but not defined: -{body}");
            }
            if (flag.Kind == FlagKind.Bool)
            {
                inv.Set(flag.Name, inline ?? "true");
                i++;
                continue;
            }
            if (inline is null)
            {
                if (i + 1 >= args.Length) throw new UsageError($"flag needs an argument: -{body}");
                inline = args[++i];
            }
            inv.Set(flag.Name, inline);
            i++;
        }
        return i;
    }

    private static Flag? Find(Flag[] flags, string name)
    {
        foreach (var f in flags)
        {
            if (f.Name == name) return f;
            if (f.Aliases is { } aliases)
                foreach (var alias in aliases)
                    if (alias == name) return f;
        }
        return null;
    }

    public static string Help(string program, string description, Flag[] globals, IReadOnlyList<CommandSpec> commands)
    {
        var sb = new StringBuilder();
        sb.Append("NAME:\n   ").Append(program).Append(" - ").Append(description).Append("\n\nUSAGE:\n   ")
          .Append(program).Append(" [global options] command [command options] [arguments...]\n\nCOMMANDS:\n");
        foreach (var c in commands)
            sb.Append("   ").Append(c.Name.PadRight(12)).Append(c.Usage).Append('\n');
        sb.Append("\nGLOBAL OPTIONS:\n");
        AppendFlags(sb, globals);
        sb.Append("   --help, -h  show help\n   --version, -v  print the version\n");
        return sb.ToString();
    }

    public static string Help(string program, CommandSpec c)
    {
        var sb = new StringBuilder();
        sb.Append("NAME:\n   ").Append(program).Append(' ').Append(c.Name).Append(" - ").Append(c.Usage)
          .Append("\n\nUSAGE:\n   ").Append(program).Append(' ').Append(c.Name).Append(" [command options] ").Append(c.ArgsUsage).Append('\n');
        if (c.Flags.Length > 0)
        {
            sb.Append("\nOPTIONS:\n");
            AppendFlags(sb, c.Flags);
        }
        return sb.ToString();
    }

    private static void AppendFlags(StringBuilder sb, Flag[] flags)
    {
        foreach (var f in flags)
        {
            if (f.Hidden) continue;
            var names = "--" + f.Name;
            if (f.Aliases is { } aliases)
                foreach (var alias in aliases) names += alias.Length == 1 ? $", -{alias}" : $", --{alias}";
            if (f.Kind != FlagKind.Bool) names += " value";
            sb.Append("   ").Append(names.PadRight(28)).Append(f.Usage);
            if (f.Default is { } d && f.Kind != FlagKind.Bool) sb.Append(" (default: \"").Append(d).Append("\")");
            sb.Append('\n');
        }
    }
}
