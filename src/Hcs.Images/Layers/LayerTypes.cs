// The layer store's public records and its one exception type.
namespace Hcs.Images.Layers;

/// <summary>A stored layer. Digests are "sha256:&lt;hex&gt;".</summary>
/// <param name="ChainId">Identity in the store: the DiffID for a base layer, else
/// sha256(parent ChainID + " " + DiffID) (OCI image spec, config.md).</param>
/// <param name="DiffId">sha256 of the uncompressed layer tar.</param>
/// <param name="Parent">ChainID of the layer below, null for a base layer.</param>
/// <param name="Size">Bytes of regular-file data the layer's archive carried.</param>
/// <param name="DiffPath">Absolute path of the layer's diff/ directory (overlay form), what a
/// lowerdir= names.</param>
public sealed record LayerInfo(string ChainId, string DiffId, string? Parent, long Size, string DiffPath);

/// <summary>What <see cref="LayerStore.Prune(IEnumerable{IEnumerable{string}}, IEnumerable{string}?)"/> removed.</summary>
/// <param name="RemovedLayers">Chain IDs of the layers removed.</param>
/// <param name="RemovedBlobs">Digests of the blobs removed from blobs/sha256/ (empty when no
/// set of referenced blobs was given).</param>
public sealed record PruneResult(IReadOnlyList<string> RemovedLayers, IReadOnlyList<string> RemovedBlobs);

/// <summary>A layer archive or layer operation was refused: the message names the archive entry
/// (when there is one) and what is wrong with it. Nothing of a refused import is kept.</summary>
public class LayerException : Exception
{
    public LayerException(string message, Exception? inner = null) : base(message, inner) { }

    public LayerException(string entry, string problem, Exception? inner = null)
        : base($"layer archive entry \"{entry}\": {problem}", inner)
    {
        Entry = entry;
    }

    /// <summary>The archive entry's name as the archive spells it, or null when the problem is
    /// not about one entry.</summary>
    public string? Entry { get; }
}
