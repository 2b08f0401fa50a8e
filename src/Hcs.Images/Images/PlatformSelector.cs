namespace Hcs.Images.Images;

/// <summary>
/// Picks the manifest for one platform out of an index (OCI image index, Docker manifest list,
/// or an image layout's index.json). Entries without a platform, and attestation manifests
/// (platform "unknown/unknown"), are never picked. Among entries for the right os/architecture,
/// one with the wanted variant wins, then one with no variant.
/// </summary>
public static class PlatformSelector
{
    public static Descriptor Choose(ImageIndex index, string os, string architecture, string? variant, string what)
    {
        Descriptor? best = null;
        int bestScore = -1;
        foreach (var d in index.Manifests)
        {
            if (d.Platform is not { } p || !MediaTypes.IsManifest(d.MediaType)) continue;
            if (p.Os != os || p.Architecture != architecture) continue;
            int score = p.Variant == variant ? 2 : string.IsNullOrEmpty(p.Variant) ? 1 : 0;
            if (score > bestScore)
            {
                best = d;
                bestScore = score;
            }
        }
        if (best is not null) return best;

        var available = index.Manifests
            .Where(d => d.Platform is { } p && !(p.Os == "unknown" && p.Architecture == "unknown"))
            .Select(d => d.Platform!.ToString())
            .Distinct()
            .ToList();
        var want = variant is null ? $"{os}/{architecture}" : $"{os}/{architecture}/{variant}";
        throw new ImageException(ImageError.PlatformNotFound, available.Count == 0
            ? $"{what} has no manifest for {want} (it names no platforms)"
            : $"{what} has no manifest for {want}; it has: {string.Join(", ", available)}");
    }
}
