// The rules about names in a layer archive, as pure functions (unit-tested without root):
// what an entry's name means inside the layer, which symlink targets are allowed, what the
// OCI whiteout names are, and the digest syntax of layer identities.
using System.Security.Cryptography;
using System.Text;

namespace Hcs.Images.Layers;

/// <summary>What an entry's base name says in the OCI whiteout convention.</summary>
internal enum WhiteoutKind
{
    /// <summary>An ordinary name.</summary>
    None,
    /// <summary>".wh.NAME": NAME of the layers below is deleted.</summary>
    Whiteout,
    /// <summary>".wh..wh..opq": the directory hides everything of the layers below.</summary>
    Opaque,
    /// <summary>Other ".wh..wh.*" names: aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs), skipped.</summary>
    AufsMetadata,
}

internal static class LayerPaths
{
    public const string WhiteoutPrefix = ".wh.";
    public const string OpaqueMarker = ".wh..wh..opq";
    private const string AufsPrefix = ".wh..wh.";

    /// <summary>The entry's path relative to the layer root, components joined by '/', "" for
    /// the root itself ("./"). Refuses absolute names and ".." components.</summary>
    public static string Normalize(string name)
    {
        if (name.Length == 0) throw new LayerException(name, "empty name");
        if (name[0] == '/') throw new LayerException(name, "absolute name (a layer holds only relative paths)");
        if (IsClean(name)) return name; // the common case: nothing to rewrite, nothing allocated
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") throw new LayerException(name, "'..' component (names must stay inside the layer)");
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    /// <summary>True when the name has no empty, "." or ".." component and no leading or
    /// trailing '/'.</summary>
    private static bool IsClean(string name)
    {
        int start = 0;
        for (int i = 0; i <= name.Length; i++)
        {
            if (i < name.Length && name[i] != '/') continue;
            int len = i - start;
            if (len == 0) return false;
            if (name[start] == '.' && (len == 1 || (len == 2 && name[start + 1] == '.'))) return false;
            start = i + 1;
        }
        return true;
    }

    /// <summary>Splits a normalized path into its parent ("" for the root) and base name.</summary>
    public static (string Parent, string Base) Split(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? ("", path) : (path[..slash], path[(slash + 1)..]);
    }

    /// <summary>Whether a relative symlink target, read from the directory holding the link,
    /// climbs above the layer root. Absolute targets are fine: they resolve in the container's
    /// root, not on the host.</summary>
    public static bool SymlinkClimbsOut(string linkPath, string target)
    {
        if (target.StartsWith('/')) return false;
        int depth = Split(linkPath).Parent is { Length: > 0 } parent ? parent.Count(c => c == '/') + 1 : 0;
        foreach (var part in target.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (--depth < 0) return true;
            }
            else depth++;
        }
        return false;
    }

    /// <summary>What a base name means as an OCI whiteout; for <see cref="WhiteoutKind.Whiteout"/>
    /// also the name it deletes.</summary>
    public static WhiteoutKind ClassifyWhiteout(string baseName, out string target)
    {
        target = "";
        if (!baseName.StartsWith(WhiteoutPrefix, StringComparison.Ordinal)) return WhiteoutKind.None;
        if (baseName == OpaqueMarker) return WhiteoutKind.Opaque;
        if (baseName.StartsWith(AufsPrefix, StringComparison.Ordinal)) return WhiteoutKind.AufsMetadata;
        target = baseName[WhiteoutPrefix.Length..];
        return WhiteoutKind.Whiteout;
    }

    /// <summary>The hex of a "sha256:&lt;64 lowercase hex&gt;" digest; anything else is an
    /// ArgumentException (it would become a path in the store).</summary>
    public static string DigestHex(string digest, string what)
    {
        ArgumentNullException.ThrowIfNull(digest, what);
        if (!IsDigest(digest)) throw new ArgumentException($"{what}: not a sha256 digest (sha256:<64 lowercase hex>): \"{digest}\"", what);
        return digest[7..];
    }

    public static bool IsDigest(string digest) =>
        digest.Length == 7 + 64 && digest.StartsWith("sha256:", StringComparison.Ordinal) && IsHex64(digest.AsSpan(7));

    public static bool IsHex64(ReadOnlySpan<char> hex)
    {
        if (hex.Length != 64) return false;
        foreach (char c in hex)
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))) return false;
        return true;
    }

    /// <summary>OCI ChainID: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).</summary>
    public static string ChainId(string? parentChainId, string diffId)
    {
        DigestHex(diffId, nameof(diffId));
        if (parentChainId is null) return diffId;
        DigestHex(parentChainId, nameof(parentChainId));
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(parentChainId + " " + diffId)));
    }
}
