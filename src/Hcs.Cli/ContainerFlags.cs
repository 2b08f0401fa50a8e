using System.Globalization;
using Hcs.Schema.Hcs;
using Oci = Hcs.Schema.Oci;

namespace Hcs.Cli;

/// <summary>
/// What `hcs run` and `hcs create` were told, and the HCS Container document it becomes
/// (docs/design/0003-hcsd-api.md "The Container document on Linux"). Pure: the only host
/// access is reading the rootfs's /etc/passwd and /etc/group to resolve `-u NAME`.
/// </summary>
public sealed class ContainerFlags
{
    /// <summary>hcs extension (docs/design/0003-hcsd-api.md): give the init a stdin pipe.</summary>
    public const string StdinAnnotation = "io.hcs.stdin";

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public string? Name { get; init; }
    /// <summary>A directory to use as the root filesystem (lowest layer).</summary>
    public string? Rootfs { get; init; }
    /// <summary>--rootfs DIR:O: the rootfs under an overlay, changes in a scratch of the container's.</summary>
    public bool RootfsOverlay { get; init; }
    /// <summary>An image reference (when there is no --rootfs): the first positional argument.</summary>
    public string? Image { get; init; }
    /// <summary>The command and its arguments; empty = the container runs hcs's pause init.</summary>
    public IReadOnlyList<string> Command { get; init; } = [];
    public IReadOnlyList<string> Env { get; init; } = [];
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string> Volumes { get; init; } = [];
    public string? Memory { get; init; }
    public double? Cpus { get; init; }
    public long? PidsLimit { get; init; }
    public string? Hostname { get; init; }
    public bool Tty { get; init; }
    /// <summary>-i: the init gets a stdin pipe (hcsd's annotation io.hcs.stdin).</summary>
    public bool Interactive { get; init; }
    /// <summary>The local terminal's size for -t: [rows, columns].</summary>
    public (ushort Rows, ushort Columns)? ConsoleSize { get; init; }
    /// <summary>The image's Env, the base that -e adds to (docker's order).</summary>
    public IReadOnlyList<string> ImageEnv { get; init; } = [];
    /// <summary>Where -u NAME is looked up: the image's layer directories, top-most first.</summary>
    public IReadOnlyList<string> ImageLayers { get; init; } = [];

    /// <summary>
    /// docker's defaults from an image config: the command is Entrypoint + (the given arguments,
    /// or Cmd); Env is the base the -e flags add to; WorkingDir and User apply unless -w/-u.
    /// </summary>
    public ContainerFlags WithImageDefaults(Hcs.Schema.Images.ImageDefaults config, IReadOnlyList<string> layerPathsLowestFirst)
    {
        var command = new List<string>(config.Entrypoint ?? []);
        command.AddRange(Command.Count > 0 ? Command : config.Cmd ?? []);
        if (command.Count == 0)
            throw new UsageException($"{Image}: the image names no command (no Entrypoint or Cmd): give one");
        return new ContainerFlags
        {
            Name = Name, Rootfs = Rootfs, RootfsOverlay = RootfsOverlay, Image = Image, Command = command, Env = Env,
            WorkingDirectory = WorkingDirectory ?? (config.WorkingDir is { Length: > 0 } w ? w : null),
            User = User ?? (config.User is { Length: > 0 } u ? u : null),
            Volumes = Volumes, Memory = Memory, Cpus = Cpus, PidsLimit = PidsLimit, Hostname = Hostname, Tty = Tty,
            Interactive = Interactive, ConsoleSize = ConsoleSize,
            ImageEnv = config.Env ?? [],
            ImageLayers = [.. layerPathsLowestFirst.Reverse()],
        };
    }

    /// <summary>Splits the positional arguments: with --rootfs they are all the command;
    /// otherwise the first is the image reference.</summary>
    public static (string? Image, string[] Command) SplitPositionals(string? rootfs, string[] positionals)
    {
        if (rootfs is not null) return (null, positionals);
        if (positionals.Length == 0) throw new UsageException("\"run\" requires an image reference or --rootfs DIR");
        return (positionals[0], positionals[1..]);
    }

    /// <summary>The document for container <paramref name="id"/>; <paramref name="scratch"/> is the
    /// writable layer's directory (null for an image: hcsd then makes and removes one).</summary>
    public ComputeSystem ToDocument(string id, string? scratch, Func<string, string?>? readEnv = null)
    {
        readEnv ??= Environment.GetEnvironmentVariable;
        var storage = new Storage { Path = scratch };
        if (Rootfs is not null)
            storage.Layers = [new Layer { Path = Path.GetFullPath(Rootfs) }];
        else
            storage.Image = Image ?? throw new UsageException("an image reference or --rootfs DIR is needed");

        var container = new Container { Storage = storage };
        if (Hostname is not null) container.GuestOs = new GuestOs { HostName = Hostname };
        if (Volumes.Count > 0) container.MappedDirectories = [.. Volumes.Select(ParseVolume)];
        if (Memory is not null) container.Memory = new ContainerMemory { SizeInMB = ParseMemoryMB(Memory) };
        if (Cpus is { } cpus) container.Processor = CpuLimit(cpus, Environment.ProcessorCount);

        Oci.Spec? spec = null;
        if (Command.Count > 0)
        {
            spec = new Oci.Spec
            {
                OciVersion = Oci.SpecVersion.Current,
                Process = new Oci.Process
                {
                    Args = [.. Command],
                    Env = BuildEnv(Env, Hostname ?? DefaultHostname(id), Tty, readEnv, ImageEnv),
                    Cwd = WorkingDirectory ?? "/",
                    Terminal = Tty,
                    User = User is null ? new Oci.User() : ResolveUser(User, Rootfs is null ? ImageLayers : [Rootfs]),
                    ConsoleSize = Tty && ConsoleSize is { } size ? new Oci.Box { Height = size.Rows, Width = size.Columns } : null,
                },
            };
        }
        else if (Env.Count > 0 || WorkingDirectory is not null || User is not null || Tty || Interactive)
        {
            throw new UsageException("-e, -w, -u, -i and -t describe the command: give a command to run");
        }
        if (Interactive) spec!.Annotations = new() { [StdinAnnotation] = "true" };
        if (PidsLimit is { } pids)
        {
            if (pids <= 0) throw new UsageException($"--pids-limit {pids}: must be a positive number");
            spec ??= new Oci.Spec { OciVersion = Oci.SpecVersion.Current };
            spec.Linux = new Oci.Linux { Resources = new Oci.Resources { Pids = new Oci.Pids { Limit = pids } } };
        }
        container.OciSpecification = spec;
        return new ComputeSystem { SchemaVersion = new SchemaVersion(), Container = container };
    }

    /// <summary>The hostname the daemon gives a container without --hostname (docs 0003).</summary>
    public static string DefaultHostname(string id) => id.Length > 12 ? id[..12] : id;

    /// <summary>docker's environment: PATH unless given, HOSTNAME, TERM with a terminal, the
    /// image's Env, then -e in order (later wins). "-e NAME" alone takes NAME from the caller's
    /// environment.</summary>
    public static List<string> BuildEnv(IReadOnlyList<string> flags, string hostname, bool tty, Func<string, string?> readEnv,
                                        IReadOnlyList<string>? imageEnv = null)
    {
        var env = new List<(string Key, string Value)> { ("PATH", DefaultPath), ("HOSTNAME", hostname) };
        if (tty) env.Add(("TERM", "xterm"));
        foreach (var e in imageEnv ?? [])
        {
            int eq = e.IndexOf('=');
            if (eq <= 0) continue; // an image's malformed entry: docker skips it too
            env.RemoveAll(x => x.Key == e[..eq]);
            env.Add((e[..eq], e[(eq + 1)..]));
        }
        foreach (var e in flags)
        {
            int eq = e.IndexOf('=');
            string key, value;
            if (eq < 0)
            {
                key = e;
                // docker: "-e NAME" with NAME unset in the caller's environment is left out
                if (readEnv(e) is not { } v) continue;
                value = v;
            }
            else
            {
                key = e[..eq];
                value = e[(eq + 1)..];
            }
            if (key.Length == 0) throw new UsageException($"-e {e}: the variable has no name");
            env.RemoveAll(x => x.Key == key);
            env.Add((key, value));
        }
        return [.. env.Select(x => $"{x.Key}={x.Value}")];
    }

    /// <summary>-v HOST:CONTAINER[:ro|rw]; the host path is made absolute.</summary>
    public static MappedDirectory ParseVolume(string text)
    {
        var parts = text.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[1].Length == 0)
            throw new UsageException($"-v {text}: expected HOST-PATH:CONTAINER-PATH[:ro]");
        bool readOnly = false;
        if (parts.Length == 3)
        {
            readOnly = parts[2] switch
            {
                "ro" => true,
                "rw" => false,
                _ => throw new UsageException($"-v {text}: unknown mode '{parts[2]}' (ro or rw)"),
            };
        }
        if (!parts[1].StartsWith('/')) throw new UsageException($"-v {text}: the container path must be absolute");
        return new MappedDirectory { HostPath = Path.GetFullPath(parts[0]), ContainerPath = parts[1], ReadOnly = readOnly };
    }

    /// <summary>docker's memory syntax: a number with an optional unit b, k, m or g (binary
    /// multiples), as whole MiB (rounded up: a limit is never looser than asked).</summary>
    public static ulong ParseMemoryMB(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t.EndsWith('b') && t.Length > 1 && !char.IsDigit(t[^2])) t = t[..^1]; // "512mb" = "512m"
        ulong unit = 1;
        if (t.Length > 0 && char.IsLetter(t[^1]))
        {
            unit = t[^1] switch
            {
                'b' => 1UL,
                'k' => 1UL << 10,
                'm' => 1UL << 20,
                'g' => 1UL << 30,
                't' => 1UL << 40,
                _ => throw new UsageException($"-m {text}: unknown unit '{t[^1]}' (b, k, m, g)"),
            };
            t = t[..^1];
        }
        if (!double.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n <= 0)
            throw new UsageException($"-m {text}: expected a size such as 512m or 1g");
        var bytes = n * unit;
        return (ulong)Math.Ceiling(bytes / (1 << 20));
    }

    /// <summary>--cpus N: whole CPUs as Count; a fraction as Maximum, the share of the whole
    /// host's CPU time in 1/10,000 (HCS's unit).</summary>
    public static ContainerProcessor CpuLimit(double cpus, int hostCpus)
    {
        if (!(cpus > 0) || double.IsInfinity(cpus)) throw new UsageException($"--cpus {cpus.ToString(CultureInfo.InvariantCulture)}: must be a positive number");
        if (cpus > hostCpus)
            throw new UsageException($"--cpus {cpus.ToString(CultureInfo.InvariantCulture)}: this host has {hostCpus} CPU(s)");
        if (cpus == Math.Floor(cpus)) return new ContainerProcessor { Count = (uint)cpus };
        var maximum = (long)Math.Round(cpus / hostCpus * 10000);
        return new ContainerProcessor { Maximum = Math.Clamp(maximum, 1, 10000) };
    }

    /// <summary>-u uid[:gid] or name[:group]; names are looked up in the root's /etc/passwd and
    /// /etc/group: the first of <paramref name="roots"/> (a rootfs, or an image's layers top-most
    /// first) that has the file (the daemon takes numbers for the init's OCI process).</summary>
    public static Oci.User ResolveUser(string text, IReadOnlyList<string> roots)
    {
        string? Has(string file) => roots.FirstOrDefault(r => File.Exists(Path.Combine(r, file)));
        var passwdRoot = Has("etc/passwd");
        var groupRoot = Has("etc/group");
        return ResolveUser(text, passwdRoot, groupRoot);
    }

    private static Oci.User ResolveUser(string text, string? rootfs, string? groupRootfs)
    {
        var (userPart, groupPart) = text.IndexOf(':') is var c and >= 0 ? (text[..c], text[(c + 1)..]) : (text, null);
        if (userPart.Length == 0) throw new UsageException($"-u {text}: no user");
        uint uid, gid = 0;
        if (uint.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            // a numeric uid without a group: the user's primary group if the rootfs knows the uid
            if (groupPart is null && rootfs is not null && FindEntry(rootfs, "etc/passwd", 2, userPart) is { } row
                && row.Length > 3 && uint.TryParse(row[3], out var g))
                gid = g;
        }
        else
        {
            var row = (rootfs is null ? null : FindEntry(rootfs, "etc/passwd", 0, userPart))
                      ?? throw new UsageException($"-u {text}: no user '{userPart}' in the container's /etc/passwd");
            if (row.Length < 4 || !uint.TryParse(row[2], out uid) || !uint.TryParse(row[3], out gid))
                throw new UsageException($"-u {text}: malformed /etc/passwd entry for '{userPart}'");
        }
        if (groupPart is not null)
        {
            if (!uint.TryParse(groupPart, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
            {
                var row = (groupRootfs is null ? null : FindEntry(groupRootfs, "etc/group", 0, groupPart))
                          ?? throw new UsageException($"-u {text}: no group '{groupPart}' in the container's /etc/group");
                if (row.Length < 3 || !uint.TryParse(row[2], out gid))
                    throw new UsageException($"-u {text}: malformed /etc/group entry for '{groupPart}'");
            }
        }
        return new Oci.User { Uid = uid, Gid = gid };
    }

    private static string[]? FindEntry(string rootfs, string file, int column, string value)
    {
        string path = Path.Combine(rootfs, file);
        if (!File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
        {
            var fields = line.Split(':');
            if (fields.Length > column && fields[column] == value) return fields;
        }
        return null;
    }
}

/// <summary>The user asked for something impossible: message to stderr, exit code 125.</summary>
public sealed class UsageException(string message) : Exception(message);
