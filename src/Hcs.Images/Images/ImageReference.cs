using System.Diagnostics.CodeAnalysis;

namespace Hcs.Images.Images;

/// <summary>
/// An image reference, normalised as docker does it:
/// <code>
///   busybox                      → docker.io/library/busybox:latest
///   user/app:1.2                 → docker.io/user/app:1.2
///   host:5000/a/b:tag            → host:5000/a/b:tag        (first part has '.', ':' or is localhost)
///   name@sha256:&lt;64 hex&gt;        → docker.io/library/name@sha256:...   (no tag is added)
///   index.docker.io/x            → docker.io/library/x:latest
/// </code>
/// Grammar (distribution's reference grammar): name components are lowercase alphanumerics
/// separated by '.', '_', '__' or dashes; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a domain
/// is host[:port] with host a dotted name, "localhost" or a bracketed IPv6 address.
/// </summary>
public sealed record ImageReference
{
    public const string DefaultDomain = "docker.io";
    public const string DefaultTag = "latest";
    private const string LegacyDomain = "index.docker.io";
    private const int MaxNameLength = 255;

    /// <summary>The registry: "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000".</summary>
    public string Domain { get; }
    /// <summary>The repository inside the registry: "library/busybox".</summary>
    public string Path { get; }
    /// <summary>Null only when the reference is by digest alone.</summary>
    public string? Tag { get; }
    public string? Digest { get; }

    private ImageReference(string domain, string path, string? tag, string? digest)
    {
        Domain = domain;
        Path = path;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>domain/path, without tag or digest.</summary>
    public string Name => Domain + "/" + Path;

    /// <summary>What to ask the registry for: the digest if there is one, else the tag.</summary>
    public string Reference => Digest ?? Tag!;

    /// <summary>The canonical form: domain/path[:tag][@digest].</summary>
    public override string ToString() => Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>The short form people type: "busybox:latest", "user/app:1.2", "host:5000/a:b".</summary>
    public string Familiar
    {
        get
        {
            var name = Domain != DefaultDomain ? Name
                : Path.StartsWith("library/", StringComparison.Ordinal) && Path.IndexOf('/', 8) < 0 ? Path[8..] : Path;
            return name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);
        }
    }

    /// <summary>The same repository with another tag (and no digest).</summary>
    public ImageReference WithTag(string tag)
    {
        if (!IsTag(tag)) throw new FormatException($"invalid tag \"{tag}\": a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
        return new ImageReference(Domain, Path, tag, null);
    }

    /// <summary>The same repository by digest (no tag).</summary>
    public ImageReference WithDigest(string digest) => new(Domain, Path, null, Images.Digest.Validate(digest, "reference"));

    /// <exception cref="FormatException">the text is not a reference; the message says why.</exception>
    public static ImageReference Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException(error);

    public static bool TryParse(string? text, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        error = Check(text, out var parsed);
        if (error is not null)
        {
            error = $"invalid reference \"{text}\": {error}";
            return false;
        }
        reference = parsed!;
        return true;
    }

    private static string? Check(string? text, out ImageReference? reference)
    {
        reference = null;
        if (string.IsNullOrEmpty(text)) return "it is empty";
        foreach (var c in text)
            if (c <= ' ' || c >= 0x7f) return "only printable ASCII without spaces is allowed";

        // name[:tag][@digest]: the digest after the last '@', the tag after the last ':' that
        // follows the last '/' (a ':' before it is a port)
        string rest = text;
        string? digest = null;
        int at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (CheckDigest(digest) is { } bad) return bad;
        }
        string? tag = null;
        int colon = rest.LastIndexOf(':');
        if (colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!IsTag(tag))
                return tag.Length == 0 ? "the tag after ':' is empty"
                    : tag.Length > 128 ? "the tag is longer than 128 characters"
                    : $"tag \"{tag}\" may only have letters, digits, '_', '.' and '-', and must not start with '.' or '-'";
        }
        if (rest.Length == 0) return "the repository name is missing";

        // docker: the first component is a domain if it has a '.' or ':', is "localhost", or has
        // an uppercase letter (a repository path cannot)
        string domain, path;
        int slash = rest.IndexOf('/');
        string first = slash < 0 ? "" : rest[..slash];
        if (slash >= 0 && (first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsAsciiLetterUpper)))
        {
            domain = first;
            path = rest[(slash + 1)..];
            if (CheckDomain(domain) is { } bad) return bad;
        }
        else
        {
            domain = DefaultDomain;
            path = rest;
        }
        if (domain == LegacyDomain) domain = DefaultDomain;
        if (domain == DefaultDomain && !path.Contains('/')) path = "library/" + path;

        if (path.Length == 0) return "the repository name is missing";
        if (path.Any(char.IsAsciiLetterUpper)) return $"repository name \"{path}\" must be lowercase";
        foreach (var component in path.Split('/'))
            if (!IsPathComponent(component))
                return component.Length == 0 ? "the repository name has an empty component ('//' or a '/' at an end)"
                    : $"repository name component \"{component}\" may only have lowercase letters and digits, separated by '.', '_', '__' or '-'";
        if (domain.Length + 1 + path.Length > MaxNameLength) return $"the name is longer than {MaxNameLength} characters";

        if (tag is null && digest is null) tag = DefaultTag;
        reference = new ImageReference(domain, path, tag, digest);
        return null;
    }

    private static string? CheckDigest(string digest)
    {
        int colon = digest.IndexOf(':');
        if (colon <= 0) return $"digest \"{digest}\" is not algorithm:hex";
        var algorithm = digest[..colon];
        if (algorithm != "sha256") return $"digest algorithm \"{algorithm}\" is not supported (only sha256)";
        var hex = digest.AsSpan(colon + 1);
        if (hex.Length != 64) return $"a sha256 digest has 64 hex digits, not {hex.Length}";
        if (!Images.Digest.IsHex64(hex)) return "a sha256 digest is 64 lowercase hex digits";
        return null;
    }

    private static string? CheckDomain(string domain)
    {
        string host = domain, port = "";
        if (domain.StartsWith('['))
        {
            int close = domain.IndexOf(']');
            if (close < 0) return $"registry \"{domain}\": unclosed '[' of an IPv6 address";
            host = domain[1..close];
            if (!System.Net.IPAddress.TryParse(host, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
                return $"registry \"{domain}\": \"{host}\" is not an IPv6 address";
            var after = domain[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':') return $"registry \"{domain}\": expected ':port' after ']'";
                port = after[1..];
                if (!IsPort(port)) return $"registry \"{domain}\": port \"{port}\" is not a number";
            }
            return null;
        }
        int colon = domain.LastIndexOf(':');
        if (colon >= 0)
        {
            host = domain[..colon];
            port = domain[(colon + 1)..];
            if (!IsPort(port)) return $"registry \"{domain}\": port \"{port}\" is not a number";
        }
        foreach (var label in host.Split('.'))
        {
            if (label.Length == 0 || label.Length > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                return $"registry \"{domain}\": \"{host}\" is not a host name";
        }
        return null;
    }

    private static bool IsPort(string port) => port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit) && int.Parse(port) <= 65535;

    public static bool IsTag(string tag)
    {
        if (tag.Length is 0 or > 128) return false;
        if (!(char.IsAsciiLetterOrDigit(tag[0]) || tag[0] == '_')) return false;
        foreach (var c in tag)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')) return false;
        return true;
    }

    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    private static bool IsPathComponent(string component)
    {
        if (component.Length == 0) return false;
        int i = 0;
        while (true)
        {
            int start = i;
            while (i < component.Length && (char.IsAsciiDigit(component[i]) || char.IsAsciiLetterLower(component[i]))) i++;
            if (i == start) return false;
            if (i == component.Length) return true;
            if (component[i] == '.') i++;
            else if (component[i] == '_') i += i + 1 < component.Length && component[i + 1] == '_' ? 2 : 1;
            else if (component[i] == '-') { while (i < component.Length && component[i] == '-') i++; }
            else return false;
        }
    }
}
