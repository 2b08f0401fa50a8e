using System.Runtime.InteropServices;
using Hcs.Images.Layers;

namespace Hcs.Images.Images;

/// <summary>An image as the store knows it: its names, manifest, config and layer chain.</summary>
/// <param name="Reference">The name it was asked by (canonical), or its first name when asked by ID.</param>
/// <param name="Names">Every name pointing at this manifest, sorted.</param>
/// <param name="Layers">Chain IDs, lowest first.</param>
/// <param name="LayerBlobs">The manifest's layer descriptors, lowest first.</param>
/// <param name="Size">Bytes the image's layers take: for each layer in the layer store its unpacked
/// size, for each layer not unpacked (yet: see <see cref="ImageStore.IsUnpacked"/>) its blob's
/// compressed size from the manifest. Until the image is unpacked it is therefore less than it
/// will be, but never 0 for an image with content.</param>
public sealed record ImageInfo(
    string Reference,
    IReadOnlyList<string> Names,
    string ManifestDigest,
    string ManifestMediaType,
    string? IndexDigest,
    string ConfigDigest,
    ImageConfig Config,
    IReadOnlyList<string> Layers,
    IReadOnlyList<string> DiffIds,
    IReadOnlyList<Descriptor> LayerBlobs,
    long Size,
    DateTimeOffset? Created)
{
    /// <summary>Docker's image ID: the digest of the config.</summary>
    public string ImageId => ConfigDigest;
}

/// <summary>What a container needs from an image: the layer directories for Storage.Layers
/// (lowest first) and the config's run defaults.</summary>
public sealed record ImageRootfs(IReadOnlyList<string> LayerDirs, ContainerConfig Config, ImageInfo Image);

public sealed record ImagePruneResult(IReadOnlyList<string> LayersDeleted, IReadOnlyList<string> BlobsDeleted, long SpaceReclaimed);

/// <summary>
/// The image store (design 0006, "Images"): names → manifests in images.json, documents and
/// compressed layers in the <see cref="ContentStore"/>, unpacked layers in the
/// <see cref="LayerStore"/>, all under one root:
/// <code>
///   images.json      {"version":1,"images":{"docker.io/library/busybox:latest":{"manifest":"sha256:..",...}}}
///   lock             flock, held for every change of images.json and for GC
///   blobs/ ingest/   the content store (ingest/*.pin: blobs and layers an operation in progress uses)
///   layers/ tmp/ leases/   the layer store
/// </code>
/// images.json is only replaced whole (temp file + rename) under the lock, and an image's names
/// are written after all its blobs are in place: a reader never sees a name whose blobs are
/// missing. Its layers may not be unpacked yet (a pull with unpack: false stores and names the
/// image; <see cref="UnpackAsync(string, IProgress{PullProgress}?, CancellationToken)"/> unpacks
/// it, <see cref="IsUnpacked"/> says whether it is): such an image is listed, inspected, tagged,
/// removed, exported and kept by prune like any other; only <see cref="RootfsFor"/> needs the
/// layers. Operations in progress (pull, import, commit, unpack) pin what they use so a
/// concurrent prune does not take it before the name exists.
/// </summary>
public sealed partial class ImageStore
{
    private const string IndexFileName = "images.json";

    public string Root { get; }
    public ContentStore Content { get; }
    public LayerStore Layers { get; }

    /// <summary>The platform an index is resolved to (default: linux and this machine's architecture).</summary>
    public string Os { get; init; } = "linux";
    public string Architecture { get; init; } = HostArchitecture();
    public string? Variant { get; init; }

    private readonly string _indexPath;
    private readonly string _lockPath;

    public ImageStore(string root, LayerStore? layers = null)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        Content = new ContentStore(Root);
        Layers = layers ?? new LayerStore(Root);
        _indexPath = Path.Combine(Root, IndexFileName);
        _lockPath = Path.Combine(Root, "lock");
    }

    public static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
        System.Runtime.InteropServices.Architecture.S390x => "s390x",
        System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
        var other => other.ToString().ToLowerInvariant(),
    };

    // ---- names ---------------------------------------------------------------------------------

    /// <summary>Every image (one entry per manifest, with all its names).</summary>
    public IReadOnlyList<ImageInfo> List()
    {
        var index = ReadIndex();
        var result = new List<ImageInfo>();
        foreach (var group in index.Images.GroupBy(e => e.Value.Manifest))
        {
            var first = group.First();
            try
            {
                result.Add(Describe(first.Key, first.Value, index));
            }
            catch (ImageException)
            {
                // a damaged entry (blob gone) is not listed; inspect names it with the reason
            }
        }
        return result;
    }

    /// <summary>The image named <paramref name="reference"/> ("busybox", a full name, name@digest)
    /// or with that image ID ("sha256:..." or a unique prefix of its hex).</summary>
    /// <exception cref="ImageException">NotFound, or Invalid for an unparsable reference.</exception>
    public ImageInfo Inspect(string reference) =>
        TryInspect(reference) ?? throw new ImageException(ImageError.NotFound, $"no image \"{reference}\" in the store");

    public ImageInfo? TryInspect(string reference)
    {
        var index = ReadIndex();
        return Find(reference, index) is { } name ? Describe(name, index.Images[name], index) : null;
    }

    /// <summary>Gives the image <paramref name="source"/> the name <paramref name="target"/>
    /// (normalised; replaces whatever that name pointed at).</summary>
    public ImageInfo Tag(string source, string target)
    {
        var name = CanonicalName(target);
        UpdateIndex(index =>
        {
            var from = Find(source, index) ?? throw new ImageException(ImageError.NotFound, $"no image \"{source}\" in the store");
            var record = index.Images[from];
            index.Images[name] = new ImageRecord { Manifest = record.Manifest, MediaType = record.MediaType, Index = record.Index, Tagged = DateTimeOffset.UtcNow };
        });
        return Inspect(name);
    }

    /// <summary>Removes a name; by image ID, every name of that image. Layers and blobs stay until
    /// <see cref="PruneAsync"/>. Returns the names removed.</summary>
    public IReadOnlyList<string> Remove(string reference)
    {
        var removed = new List<string>();
        UpdateIndex(index =>
        {
            var name = Find(reference, index) ?? throw new ImageException(ImageError.NotFound, $"no image \"{reference}\" in the store");
            bool byName = ImageReference.TryParse(reference, out var parsed, out _) && index.Images.ContainsKey(NameKey(parsed));
            if (byName)
            {
                index.Images.Remove(name);
                removed.Add(name);
                return;
            }
            var manifest = index.Images[name].Manifest;
            foreach (var (n, r) in index.Images.ToList())
                if (r.Manifest == manifest)
                {
                    index.Images.Remove(n);
                    removed.Add(n);
                }
        });
        return removed;
    }

    /// <summary>Each image's layer chain (chain IDs, lowest first), one list per manifest: what
    /// <see cref="LayerStore.Prune(IEnumerable{IEnumerable{string}})"/> and
    /// <see cref="LayerStore.ReferenceCounts"/> take.</summary>
    public IReadOnlyList<IReadOnlyList<string>> ImageChains() => ChainsOf(ReadIndex());

    /// <summary>The layer directories (lowest first) and run defaults of an image, for
    /// Storage.Layers. Every layer must be in the layer store: an image pulled without unpacking
    /// is NotFound here until <see cref="UnpackAsync(string, IProgress{PullProgress}?, CancellationToken)"/> has run.</summary>
    public ImageRootfs RootfsFor(string reference)
    {
        var image = Inspect(reference);
        var dirs = new List<string>();
        if (image.Layers.Count > 0)
        {
            for (int i = 0; i < image.Layers.Count; i++)
                if (!Layers.Exists(image.Layers[i]))
                    throw new ImageException(ImageError.NotFound,
                        $"image {image.Reference} is not unpacked yet: layer {image.Layers[i]} (blob {image.LayerBlobs[i].Digest}) is not in the layer store");
            var topFirst = Layers.LowerDirs(image.Layers[^1]);
            for (int i = topFirst.Count - 1; i >= 0; i--) dirs.Add(topFirst[i]);
        }
        return new ImageRootfs(dirs, image.Config.Config ?? new ContainerConfig(), image);
    }

    /// <summary>Removes what no image needs: layers no image chain, lease or operation in
    /// progress holds (<see cref="LayerStore.Prune(IEnumerable{IEnumerable{string}})"/>), then blobs
    /// no image refers to, then ingest files untouched for a day.</summary>
    public Task<ImagePruneResult> PruneAsync(CancellationToken ct = default)
    {
        var blobsDeleted = new List<string>();
        long freed = 0;
        List<IReadOnlyList<string>> chains;
        // Blobs are swept here, under the store lock, with the pins read under the same lock: an
        // operation either pinned a blob before this or looks it up after the sweep.
        using (FileLock.Acquire(_lockPath))
        {
            var index = ReadIndex();
            var keep = BlobsOf(index);
            chains = ChainsOf(index);
            foreach (var (digests, pinnedChains) in Pin.Live(Content.IngestDir, Layers))
            {
                keep.UnionWith(digests);
                chains.Add(pinnedChains.ToList());
            }
            foreach (var digest in Content.List())
            {
                ct.ThrowIfCancellationRequested();
                if (keep.Contains(digest)) continue;
                freed += Content.Delete(digest);
                blobsDeleted.Add(digest);
            }
        }
        // The layer store takes the lock itself (flock does not nest). Layers an operation in
        // progress has unpacked are leased by it as well, so they survive the gap between the two.
        var sizes = Layers.List().ToDictionary(l => l.ChainId, l => l.Size, StringComparer.Ordinal);
        var removed = Layers.Prune(chains).RemovedLayers;
        foreach (var chain in removed) freed += sizes.GetValueOrDefault(chain);
        freed += Content.CleanIngest(TimeSpan.FromDays(1));
        blobsDeleted.Sort(StringComparer.Ordinal);
        return Task.FromResult(new ImagePruneResult(removed, blobsDeleted, freed));
    }

    // ---- internals shared by pull, import, commit ---------------------------------------------

    /// <summary>The canonical images.json key of a reference text ("busybox" → docker.io/library/busybox:latest).</summary>
    public static string CanonicalName(string reference)
    {
        if (!ImageReference.TryParse(reference, out var parsed, out var error)) throw new ImageException(ImageError.Invalid, error);
        return NameKey(parsed);
    }

    /// <summary>A reference with both tag and digest is stored by digest (the tag is only a hint then).</summary>
    internal static string NameKey(ImageReference reference) =>
        reference.Digest is null ? reference.ToString() : reference.Name + "@" + reference.Digest;

    /// <summary>Points names at a manifest (the last step of a pull, import or commit).</summary>
    internal void SetNames(IEnumerable<string> names, ImageRecord record) => UpdateIndex(index =>
    {
        foreach (var name in names) index.Images[name] = record;
    });

    internal Pin BeginOperation(string what) => Pin.Create(Content.IngestDir, _lockPath, Layers, what);

    internal ImageIndexFile ReadIndex()
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(_indexPath);
        }
        catch (FileNotFoundException)
        {
            return new ImageIndexFile();
        }
        var index = OciJson.Read<ImageIndexFile>(bytes, _indexPath);
        // a sorted dictionary read back from JSON loses its comparer: keep the file's order stable
        index.Images = new SortedDictionary<string, ImageRecord>(index.Images, StringComparer.Ordinal);
        return index;
    }

    private void UpdateIndex(Action<ImageIndexFile> change)
    {
        using var held = FileLock.Acquire(_lockPath);
        var index = ReadIndex();
        change(index);
        var tmp = _indexPath + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(OciJson.Write(index));
                file.Flush(flushToDisk: true);
            }
            File.Move(tmp, _indexPath, overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>The images.json key <paramref name="reference"/> means: a name, else an image ID
    /// (config digest, "sha256:" optional, a prefix of at least 4 hex digits if unique).</summary>
    private string? Find(string reference, ImageIndexFile index)
    {
        if (ImageReference.TryParse(reference, out var parsed, out var error))
        {
            if (index.Images.ContainsKey(NameKey(parsed))) return NameKey(parsed);
            // name:tag@digest was stored by digest; name:tag alone may still be asked for
            if (parsed.Digest is not null && parsed.Tag is not null && index.Images.ContainsKey(parsed.Name + ":" + parsed.Tag))
                return parsed.Name + ":" + parsed.Tag;
        }
        var hex = reference.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal) ? reference[7..] : reference;
        if (hex.Length is < 4 or > 64 || !hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
        {
            if (error is not null && !reference.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal)) throw new ImageException(ImageError.Invalid, error);
            return null;
        }
        string? found = null, foundManifest = null;
        foreach (var (name, record) in index.Images)
        {
            string config;
            try
            {
                config = ReadManifest(record.Manifest).Config.Digest;
            }
            catch (ImageException)
            {
                continue;
            }
            if (!config.AsSpan(7).StartsWith(hex, StringComparison.Ordinal)) continue;
            if (foundManifest is not null && foundManifest != record.Manifest)
                throw new ImageException(ImageError.Invalid, $"image ID \"{reference}\" is ambiguous: it begins more than one image's ID");
            found ??= name;
            foundManifest = record.Manifest;
        }
        return found;
    }

    internal ImageManifest ReadManifest(string digest) =>
        OciJson.Read<ImageManifest>(Content.ReadAllBytes(digest), $"manifest {digest}");

    internal ImageConfig ReadConfig(string digest) =>
        OciJson.Read<ImageConfig>(Content.ReadAllBytes(digest), $"config {digest}");

    private ImageInfo Describe(string name, ImageRecord record, ImageIndexFile index)
    {
        var manifest = ReadManifest(record.Manifest);
        var config = ReadConfig(manifest.Config.Digest);
        var chains = Chains(config, manifest, record.Manifest);
        long size = 0;
        for (int i = 0; i < chains.Count; i++) size += Layers.Get(chains[i])?.Size ?? manifest.Layers[i].Size;
        var names = index.Images.Where(e => e.Value.Manifest == record.Manifest).Select(e => e.Key).ToList();
        return new ImageInfo(name, names, record.Manifest, record.MediaType, record.Index, manifest.Config.Digest, config,
            chains, config.RootFs.DiffIds, manifest.Layers, size, config.Created);
    }

    /// <summary>The chain IDs of an image's layers, lowest first.</summary>
    internal static List<string> Chains(ImageConfig config, ImageManifest manifest, string what)
    {
        var diffIds = config.RootFs.DiffIds;
        if (diffIds.Count != manifest.Layers.Count)
            throw new ImageException(ImageError.Invalid, $"image {what}: the config lists {diffIds.Count} layer DiffIDs, the manifest {manifest.Layers.Count} layers");
        var chains = new List<string>(diffIds.Count);
        string? parent = null;
        foreach (var diffId in diffIds)
        {
            parent = LayerStore.ChainId(parent, Digest.Validate(diffId, $"image {what}: rootfs.diff_ids"));
            chains.Add(parent);
        }
        return chains;
    }

    private List<IReadOnlyList<string>> ChainsOf(ImageIndexFile index)
    {
        var chains = new List<IReadOnlyList<string>>();
        foreach (var manifestDigest in index.Images.Values.Select(r => r.Manifest).Distinct())
        {
            try
            {
                var manifest = ReadManifest(manifestDigest);
                chains.Add(Chains(ReadConfig(manifest.Config.Digest), manifest, manifestDigest));
            }
            catch (ImageException)
            {
                // an image whose documents are gone has no layers to keep
            }
        }
        return chains;
    }

    private HashSet<string> BlobsOf(ImageIndexFile index)
    {
        var blobs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var record in index.Images.Values)
        {
            if (record.Index is { } indexDigest) blobs.Add(indexDigest);
            if (!blobs.Add(record.Manifest)) continue;
            try
            {
                var manifest = ReadManifest(record.Manifest);
                blobs.Add(manifest.Config.Digest);
                foreach (var layer in manifest.Layers) blobs.Add(layer.Digest);
            }
            catch (ImageException) { }
        }
        return blobs;
    }
}
