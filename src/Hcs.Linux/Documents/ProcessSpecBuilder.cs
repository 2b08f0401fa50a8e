using System.Text;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Oci;
using OciSpec = Hcs.Schema.Oci.Spec;

namespace Hcs.Linux.Documents;

/// <summary>
/// HCS ProcessParameters → the OCI process to start in a running container (an exec, or the
/// process of `hcs run`). The container's init is both the default and the ceiling: the engine
/// gives an exec whatever its process says and nothing else (no capabilities listed = every
/// capability the monitor has, no user = root, no rlimits = the monitor's), so everything the
/// parameters leave out is copied from the init, and what they do say must not exceed it:
/// capabilities within the init's, noNewPrivileges never turned off, rlimits not above the
/// init's hard limits, the same AppArmor/SELinux confinement, an oomScoreAdj not below the
/// init's. The user may change (as `docker exec -u`); capabilities still bound it.
/// </summary>
public static class ProcessSpecBuilder
{
    private const string Source = "process parameters";

    /// <param name="p">The parameters as the client sent them (not modified).</param>
    /// <param name="container">The container's spec; its process is the init.</param>
    /// <param name="readContainerFile">The container's file at an absolute path ("/etc/passwd"),
    /// or null when it has none; used only to resolve user and group names.</param>
    /// <param name="path">Where the parameters sit in the request, prefixing every error path.</param>
    /// <exception cref="DocumentException">Every problem, each with its path.</exception>
    public static Process Build(ProcessParameters p, OciSpec container, Func<string, string?> readContainerFile, string path = "$")
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(container);
        ArgumentNullException.ThrowIfNull(readContainerFile);

        var errors = new DocumentErrors();
        var init = container.Process is { } ip ? Clone(ip) : new Process();
        var oci = p.OciProcess;
        var ociPath = $"{path}.OciProcess";
        if (oci is not null) ValidateOciProcess(oci, ociPath, errors);
        var result = oci is not null ? Clone(oci) : new Process();

        result.Args = Args(p, oci, path, errors);
        result.CommandLine = null;
        if (p.RestrictedToken)
            errors.Add($"{path}.RestrictedToken", "not supported on Linux (a Windows token); limit capabilities in OciProcess instead");

        if (p.WorkingDirectory is { Length: > 0 } wd)
        {
            if (wd[0] != '/') errors.Add($"{path}.WorkingDirectory", $"must be an absolute path, not \"{wd}\"");
            else result.Cwd = wd;
        }
        else if (string.IsNullOrEmpty(result.Cwd))
        {
            result.Cwd = init.Cwd is { Length: > 0 } cwd ? cwd : "/";
        }

        result.Env = Environment(oci?.Env ?? init.Env, p.Environment, $"{path}.Environment", errors);
        result.User = User(p.User, oci?.User ?? init.User, readContainerFile, $"{path}.User", errors);

        if (oci?.Capabilities is { } caps)
            CheckCapabilities(caps, init.Capabilities, $"{ociPath}.capabilities", errors);
        else
            result.Capabilities = init.Capabilities;
        result.NoNewPrivileges = init.NoNewPrivileges || result.NoNewPrivileges;

        if (oci?.Rlimits is { } rlimits)
            CheckRlimits(rlimits, init.Rlimits, $"{ociPath}.rlimits", errors);
        else
            result.Rlimits = init.Rlimits;

        result.ApparmorProfile = SameConfinement(oci?.ApparmorProfile, init.ApparmorProfile, $"{ociPath}.apparmorProfile", "AppArmor profile", errors);
        result.SelinuxLabel = SameConfinement(oci?.SelinuxLabel, init.SelinuxLabel, $"{ociPath}.selinuxLabel", "SELinux label", errors);
        if (oci?.OomScoreAdj is { } adj && init.OomScoreAdj is { } initAdj && adj < initAdj)
            errors.Add($"{ociPath}.oomScoreAdj", $"must not be below the container's ({initAdj}), not {adj}");
        result.OomScoreAdj ??= init.OomScoreAdj;

        Console(p, result, path, errors);
        errors.ThrowIfAny(Source);
        return result;
    }

    // ---- the program ------------------------------------------------------------------------

    private static List<string> Args(ProcessParameters p, Process? oci, string path, DocumentErrors errors)
    {
        List<string> args = [];
        bool hasLine = !string.IsNullOrEmpty(p.CommandLine);
        if (p.CommandArgs is not null && hasLine)
            errors.Add($"{path}.CommandLine", "CommandArgs and CommandLine are exclusive: give one");
        else if (p.CommandArgs is { } given)
        {
            if (given.Count == 0) errors.Add($"{path}.CommandArgs", "must not be empty: the first is the program to run");
            for (int i = 0; i < given.Count; i++)
            {
                if (given[i] is null) errors.Add($"{path}.CommandArgs[{i}]", "must be a string, not null");
                else if (given[i].Contains('\0')) errors.Add($"{path}.CommandArgs[{i}]", "must not contain NUL");
            }
            if (given.Count > 0 && given[0] == "")
                errors.Add($"{path}.CommandArgs[0]", "the program must not be empty");
            args = [.. given];
        }
        else if (hasLine)
        {
            args = SplitCommandLine(p.CommandLine!, $"{path}.CommandLine", errors);
            if (args.Count == 0 && !errors.All.Any(e => e.Path == $"{path}.CommandLine"))
                errors.Add($"{path}.CommandLine", "names no program");
            else if (args.Count > 0 && args[0] == "")
                errors.Add($"{path}.CommandLine", "the program must not be empty");
        }
        else if (oci?.Args is { Count: > 0 } ociArgs)
            args = ociArgs;
        else
            errors.Add($"{path}.CommandArgs", "required: CommandArgs or CommandLine (the program to run)");

        // Linux has no separate image name: the program is args[0].
        if (p.ApplicationName is { Length: > 0 } app && (args.Count == 0 || args[0] != app))
            errors.Add($"{path}.ApplicationName", "not supported on Linux unless it equals the program (the first of CommandArgs or CommandLine)");
        return args;
    }

    /// <summary>
    /// Splits a command line into arguments the way a POSIX shell splits words, without any
    /// expansion: blanks separate words; '…' keeps everything literally; "…" keeps everything
    /// except that \ escapes " \ $ ` and newline; outside quotes \ escapes any character and
    /// \newline joins lines. $, *, ~, |, ; and the like are ordinary characters (no shell runs).
    /// </summary>
    public static List<string> SplitCommandLine(string commandLine, string path, DocumentErrors errors)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        string s = commandLine;
        int i = 0;
        while (i < s.Length)
        {
            char ch = s[i];
            if (ch is ' ' or '\t' or '\n' or '\r')
            {
                if (inWord) { words.Add(word.ToString()); word.Clear(); inWord = false; }
                i++;
                continue;
            }
            if (ch == '\\' && i + 1 < s.Length && s[i + 1] == '\n')
            {
                i += 2; // a line continuation is not part of any word
                continue;
            }
            inWord = true;
            switch (ch)
            {
                case '\'':
                    int end = s.IndexOf('\'', i + 1);
                    if (end < 0)
                    {
                        errors.Add(path, $"the single quote at offset {i} is not closed");
                        return words;
                    }
                    word.Append(s, i + 1, end - i - 1);
                    i = end + 1;
                    break;
                case '"':
                    int open = i++;
                    bool closed = false;
                    while (i < s.Length)
                    {
                        char c = s[i];
                        if (c == '"') { closed = true; i++; break; }
                        if (c == '\\' && i + 1 < s.Length && s[i + 1] is '"' or '\\' or '$' or '`' or '\n')
                        {
                            if (s[i + 1] != '\n') word.Append(s[i + 1]);
                            i += 2;
                            continue;
                        }
                        word.Append(c);
                        i++;
                    }
                    if (!closed)
                    {
                        errors.Add(path, $"the double quote at offset {open} is not closed");
                        return words;
                    }
                    break;
                case '\\':
                    if (i + 1 >= s.Length)
                    {
                        errors.Add(path, "ends with a backslash that escapes nothing");
                        return words;
                    }
                    word.Append(s[i + 1]);
                    i += 2;
                    break;
                default:
                    word.Append(ch);
                    i++;
                    break;
            }
        }
        if (inWord) words.Add(word.ToString());
        if (words.Exists(w => w.Contains('\0'))) errors.Add(path, "must not contain NUL");
        return words;
    }

    // ---- environment and user --------------------------------------------------------------

    /// <summary>The base (OciProcess's env, else the init's) with the parameters' variables
    /// replacing those of the same name and the new ones appended.</summary>
    private static List<string> Environment(List<string>? baseEnv, Dictionary<string, string>? overrides, string path, DocumentErrors errors)
    {
        var env = new List<string>(baseEnv ?? []);
        if (overrides is null) return env;
        foreach (var (key, value) in overrides)
        {
            var at = JsonMapper.Child(path, key);
            if (key.Length == 0 || key.Contains('=') || key.Contains('\0'))
            {
                errors.Add(at, "a variable name must be non-empty, without '=' or NUL");
                continue;
            }
            if (value is null || value.Contains('\0'))
            {
                errors.Add(at, "the value must be a string without NUL");
                continue;
            }
            var entry = $"{key}={value}";
            int index = env.FindIndex(e => e.StartsWith(key + "=", StringComparison.Ordinal));
            if (index >= 0) env[index] = entry;
            else env.Add(entry);
        }
        return env;
    }

    private static User User(string? user, User? inherited, Func<string, string?> readContainerFile, string path, DocumentErrors errors)
    {
        inherited ??= new User();
        if (string.IsNullOrEmpty(user)) return inherited;
        var resolved = ContainerUsers.Resolve(user, readContainerFile, out var problem);
        if (resolved is null)
        {
            errors.Add(path, problem!);
            return inherited;
        }
        return new User { Uid = resolved.Uid, Gid = resolved.Gid, AdditionalGids = resolved.AdditionalGids, Umask = inherited.Umask };
    }

    // ---- the ceiling: the init's privileges ---------------------------------------------------

    private static void CheckCapabilities(Capabilities asked, Capabilities? init, string path, DocumentErrors errors)
    {
        // No capabilities in the init's process means it kept every one the monitor has.
        if (init is null) return;
        var had = new HashSet<string>(StringComparer.Ordinal);
        foreach (var set in new[] { init.Bounding, init.Effective, init.Permitted, init.Inheritable, init.Ambient })
            if (set is not null) had.UnionWith(set);
        Check(asked.Bounding, "bounding");
        Check(asked.Effective, "effective");
        Check(asked.Permitted, "permitted");
        Check(asked.Inheritable, "inheritable");
        Check(asked.Ambient, "ambient");

        void Check(List<string>? set, string name)
        {
            if (set is null) return;
            for (int i = 0; i < set.Count; i++)
                if (!had.Contains(set[i]) && LinuxNames.Capabilities.ContainsKey(set[i])) // unknown names are reported already
                    errors.Add($"{path}.{name}[{i}]", $"the container's init does not have {set[i]}; a process started in it cannot have more");
        }
    }

    private static void CheckRlimits(List<Rlimit> asked, List<Rlimit>? init, string path, DocumentErrors errors)
    {
        if (init is null) return;
        for (int i = 0; i < asked.Count; i++)
            if (init.Find(r => r.Type == asked[i].Type) is { } limit && asked[i].Hard > limit.Hard)
                errors.Add($"{path}[{i}].hard", $"must not be above the container's hard limit for {limit.Type} ({limit.Hard}), not {asked[i].Hard}");
    }

    private static string? SameConfinement(string? asked, string? init, string path, string what, DocumentErrors errors)
    {
        if (string.IsNullOrEmpty(asked) || asked == init) return init;
        errors.Add(path, init is { Length: > 0 }
            ? $"must be the container's {what} (\"{init}\") or left out, not \"{asked}\""
            : $"the container runs without an {what}; a process started in it must too (not \"{asked}\")");
        return init;
    }

    // ---- console -----------------------------------------------------------------------------

    private static void Console(ProcessParameters p, Process result, string path, DocumentErrors errors)
    {
        result.Terminal |= p.EmulateConsole;
        if (p.ConsoleSize is { } size)
        {
            if (size.Count != 2)
                errors.Add($"{path}.ConsoleSize", $"must be [height, width], not {size.Count} numbers");
            else if (!result.Terminal)
                errors.Add($"{path}.ConsoleSize", "only valid with EmulateConsole");
            else
                result.ConsoleSize = new Box { Height = size[0], Width = size[1] };
        }
        if (!result.Terminal && result.ConsoleSize is not null)
            errors.Add($"{path}.OciProcess.consoleSize", "only valid with a terminal (EmulateConsole)");
    }

    // ---- helpers -----------------------------------------------------------------------------

    /// <summary>The OciProcess on its own, as the engine checks an exec's process; a missing cwd
    /// is not an error here (it is inherited).</summary>
    private static void ValidateOciProcess(Process oci, string path, DocumentErrors errors)
    {
        var copy = Clone(oci);
        if (string.IsNullOrEmpty(copy.Cwd)) copy.Cwd = "/";
        SpecValidator.ValidateProcess(copy, path, errors, requireArgs: false);
        if (!string.IsNullOrEmpty(oci.CommandLine))
            errors.Add($"{path}.commandLine", "a Windows field; use args (or CommandLine in the parameters)");
    }

    /// <summary>A deep copy, so neither the parameters nor the container's spec change.</summary>
    public static Process Clone(Process p) =>
        OciReader.ReadProcess(HcsWriter.ToUtf8(w => OciWriter.Write(w, p)), "OciProcess");
}
