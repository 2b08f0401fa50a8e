using System.Formats.Tar;

namespace Hcs.Images.Images;

// Importing images from archives: an OCI image layout (a directory, or a tar of one) and a
// `docker save` tarball (manifest.json + config + layer tars; docker 25+ writes an OCI layout
// alongside, which is then preferred). Blobs are verified against their digests as they are
// copied into the content store, layers imported in order, names written last.

public sealed partial class ImageStore
{
    /// <summary>Documents and small files of a tar are kept in memory while it is read; bigger
    /// ones go to the content store at once (a tar can only be read once, in its own order).</summary>
    private const int SmallFileLimit = 1 << 20;

    /// <summary>Imports an OCI image layout from a directory or a tar file.</summary>
    /// <param name="reference">Names the image if the layout names it only by tag (or not at all);
    /// with several images in the layout, picks the one whose tag it has.</param>
    public async Task<IReadOnlyList<ImageInfo>> ImportOciLayoutAsync(string path, string? reference = null,
        IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        if (Directory.Exists(path))
        {
            using var pin = BeginOperation("import");
            return await ImportOciAsync(new DirectoryFiles(path, this, pin), reference, progress, pin, ct).ConfigureAwait(false);
        }
        await using var tar = OpenArchive(path);
        return await ImportOciLayoutAsync(tar, reference, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Imports an OCI image layout from a tar stream.</summary>
    public async Task<IReadOnlyList<ImageInfo>> ImportOciLayoutAsync(Stream tar, string? reference = null,
        IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        using var pin = BeginOperation("import");
        var files = await TarFiles.ReadAsync(tar, this, pin, ct).ConfigureAwait(false);
        if (!files.Exists("index.json")) throw new ImageException(ImageError.Invalid, "the archive is not an OCI image layout: it has no index.json");
        return await ImportOciAsync(files, reference, progress, pin, ct).ConfigureAwait(false);
    }

    /// <summary>Imports a `docker save` tarball.</summary>
    /// <param name="reference">Names the image if the archive has no RepoTags; with several
    /// images, picks the one with that tag.</param>
    public async Task<IReadOnlyList<ImageInfo>> ImportDockerSaveAsync(Stream tar, string? reference = null,
        IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        using var pin = BeginOperation("import");
        var files = await TarFiles.ReadAsync(tar, this, pin, ct).ConfigureAwait(false);
        if (!files.Exists("manifest.json")) throw new ImageException(ImageError.Invalid, "the archive is not a docker save tarball: it has no manifest.json");
        return await ImportDockerSaveCoreAsync(files, reference, progress, pin, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ImageInfo>> ImportDockerSaveAsync(string tarPath, string? reference = null,
        IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        await using var tar = OpenArchive(tarPath);
        return await ImportDockerSaveAsync(tar, reference, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Imports a tar that is either an OCI image layout or a docker save tarball (what
    /// hcsd's import endpoint receives). A layout's index.json wins if both are there.</summary>
    public async Task<IReadOnlyList<ImageInfo>> ImportArchiveAsync(Stream tar, string? reference = null,
        IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        using var pin = BeginOperation("import");
        var files = await TarFiles.ReadAsync(tar, this, pin, ct).ConfigureAwait(false);
        if (files.Exists("index.json")) return await ImportOciAsync(files, reference, progress, pin, ct).ConfigureAwait(false);
        if (files.Exists("manifest.json")) return await ImportDockerSaveCoreAsync(files, reference, progress, pin, ct).ConfigureAwait(false);
        throw new ImageException(ImageError.Invalid, "the archive is neither an OCI image layout (index.json) nor a docker save tarball (manifest.json)");
    }

    private static FileStream OpenArchive(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        }
        catch (FileNotFoundException)
        {
            throw new ImageException(ImageError.NotFound, $"{path}: no such file or directory");
        }
    }

    // ---- OCI image layout ----------------------------------------------------------------------

    private async Task<IReadOnlyList<ImageInfo>> ImportOciAsync(ArchiveFiles files, string? reference, IProgress<PullProgress>? progress,
        Pin pin, CancellationToken ct)
    {
        var index = OciJson.Read<ImageIndex>(files.ReadSmall("index.json"), "index.json of the layout");
        var found = new List<(Descriptor Manifest, Descriptor Entry, string? IndexDigest)>();
        foreach (var entry in index.Manifests)
        {
            if (MediaTypes.IsIndex(entry.MediaType))
            {
                var nested = OciJson.Read<ImageIndex>(await files.BlobBytesAsync(entry, ct).ConfigureAwait(false), $"index {entry.Digest}");
                found.Add((PlatformSelector.Choose(nested, Os, Architecture, Variant, $"index {entry.Digest}"), entry, entry.Digest));
            }
            else if (MediaTypes.IsManifest(entry.MediaType))
            {
                if (entry.Platform is { } p && (p.Os != Os || p.Architecture != Architecture)) continue;
                found.Add((entry, entry, null));
            }
        }
        if (found.Count == 0)
            throw new ImageException(ImageError.PlatformNotFound, $"the layout has no image for {Os}/{Architecture}");

        var named = new List<(Descriptor Manifest, string? IndexDigest, List<string> Names)>();
        if (reference is not null)
        {
            var wanted = ParseReference(reference);
            var matches = found.Count == 1 ? found : found.Where(f => LayoutNameMatches(f.Entry, wanted)).ToList();
            if (matches.Count == 0)
                throw new ImageException(ImageError.NotFound, $"the layout has {found.Count} images, none named \"{wanted.Tag}\" or \"{wanted}\": " +
                    string.Join(", ", found.Select(f => f.Entry.Annotation(Annotations.RefName) ?? f.Manifest.Digest)));
            foreach (var m in matches) named.Add((m.Manifest, m.IndexDigest, [NameKey(wanted)]));
        }
        else
        {
            foreach (var f in found)
            {
                var name = f.Entry.Annotation(Annotations.ContainerdImageName) ?? f.Entry.Annotation(Annotations.RefName);
                if (name is null || (!name.Contains('/') && !name.Contains(':') && !name.Contains('@')))
                    throw new ImageException(ImageError.Invalid, name is null
                        ? $"the layout does not name image {f.Manifest.Digest}: give a reference"
                        : $"the layout names image {f.Manifest.Digest} only by tag \"{name}\": give a reference (e.g. busybox)");
                named.Add((f.Manifest, f.IndexDigest, [NameKey(ParseReference(name))]));
            }
        }

        var records = new List<(List<string> Names, ImageRecord Record)>();
        foreach (var (manifest, indexDigest, names) in named)
            records.Add((names, await ImportImageAsync(files, manifest, indexDigest, progress, pin, ct).ConfigureAwait(false)));
        foreach (var (names, record) in records) SetNames(names, record);
        return records.Select(r => Inspect(r.Names[0])).ToList();
    }

    private static bool LayoutNameMatches(Descriptor entry, ImageReference wanted)
    {
        foreach (var name in new[] { entry.Annotation(Annotations.RefName), entry.Annotation(Annotations.ContainerdImageName) })
        {
            if (name is null) continue;
            if (name == wanted.Tag) return true;
            if (ImageReference.TryParse(name, out var parsed, out _) && NameKey(parsed) == NameKey(wanted)) return true;
        }
        return false;
    }

    private static ImageReference ParseReference(string text) =>
        ImageReference.TryParse(text, out var parsed, out var error) ? parsed : throw new ImageException(ImageError.Invalid, error);

    /// <summary>Stores one image's manifest, config and layer blobs from an archive and imports its
    /// layers; returns the record its names will point at.</summary>
    private async Task<ImageRecord> ImportImageAsync(ArchiveFiles files, Descriptor manifestDescriptor, string? indexDigest,
        IProgress<PullProgress>? progress, Pin pin, CancellationToken ct)
    {
        var manifestBytes = await files.BlobBytesAsync(manifestDescriptor, ct).ConfigureAwait(false);
        var manifest = OciJson.Read<ImageManifest>(manifestBytes, $"manifest {manifestDescriptor.Digest}");
        CheckManifest(manifest, manifestDescriptor.Digest);
        var config = OciJson.Read<ImageConfig>(await files.BlobBytesAsync(manifest.Config, ct).ConfigureAwait(false), $"config {manifest.Config.Digest}");
        var chains = Chains(config, manifest, manifestDescriptor.Digest);
        pin.Add(manifest.Layers.Select(l => l.Digest), chains);
        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i];
            if (!Layers.Exists(chains[i]) || !Content.Exists(layer.Digest))
                await files.StoreBlobAsync(layer, ct).ConfigureAwait(false);
            await ImportLayerAsync(layer, i == 0 ? null : chains[i - 1], config.RootFs.DiffIds[i], chains[i], pin, progress, ct).ConfigureAwait(false);
        }
        return new ImageRecord
        {
            Manifest = manifestDescriptor.Digest,
            MediaType = manifest.MediaType ?? manifestDescriptor.MediaType,
            Index = indexDigest,
            Tagged = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>A manifest this store can use: a config, and layers that are tars.</summary>
    internal static void CheckManifest(ImageManifest manifest, string digest)
    {
        Digest.Validate(manifest.Config.Digest, $"manifest {digest}: config");
        if (manifest.Config.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig))
            throw new ImageException(ImageError.Invalid, $"manifest {digest} is not a container image (config type \"{manifest.Config.MediaType}\")");
        foreach (var layer in manifest.Layers)
        {
            Digest.Validate(layer.Digest, $"manifest {digest}: layer");
            if (!MediaTypes.IsLayer(layer.MediaType))
                throw new ImageException(ImageError.Invalid, $"manifest {digest}: layer {layer.Digest} has type \"{layer.MediaType}\", not a layer tar");
        }
    }

    /// <summary>Unpacks a stored layer blob into the layer store unless the layer is there.</summary>
    internal async Task ImportLayerAsync(Descriptor blob, string? parentChain, string diffId, string chain, Pin pin,
        IProgress<PullProgress>? progress, CancellationToken ct)
    {
        if (Layers.Exists(chain))
        {
            pin.Hold(chain, parentChain);
            progress?.Report(new PullProgress(blob.Digest, PullState.AlreadyExists, blob.Size, blob.Size));
            return;
        }
        progress?.Report(new PullProgress(blob.Digest, PullState.Extracting, 0, blob.Size));
        await using var stream = Content.OpenRead(blob.Digest);
        await ImportLayerFromAsync(stream, blob, parentChain, diffId, chain, pin, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Unpacks a layer from a stream of its blob (a pull's download, as it arrives).
    /// The DiffID is checked by the layer store; the caller checks the blob's digest before it
    /// ends the stream.</summary>
    internal async Task ImportLayerFromAsync(Stream blobStream, Descriptor blob, string? parentChain, string diffId, string chain, Pin pin,
        IProgress<PullProgress>? progress, CancellationToken ct)
    {
        var layer = await Layers.ImportAsync(blobStream, parentChain, diffId, ct).ConfigureAwait(false);
        if (layer.ChainId != chain)
            throw new ImageException(ImageError.DigestMismatch, $"layer {blob.Digest}: imported as chain {layer.ChainId}, expected {chain}");
        pin.Hold(chain, parentChain);
        progress?.Report(new PullProgress(blob.Digest, PullState.Done, blob.Size, blob.Size));
    }

    // ---- docker save ---------------------------------------------------------------------------

    private async Task<IReadOnlyList<ImageInfo>> ImportDockerSaveCoreAsync(ArchiveFiles files, string? reference,
        IProgress<PullProgress>? progress, Pin pin, CancellationToken ct)
    {
        var entries = OciJson.Read<List<DockerSaveEntry>>(files.ReadSmall("manifest.json"), "manifest.json of the docker save archive");
        if (entries.Count == 0) throw new ImageException(ImageError.Invalid, "manifest.json of the docker save archive lists no image");

        var chosen = new List<(DockerSaveEntry Entry, List<string> Names)>();
        if (reference is not null)
        {
            var wanted = ParseReference(reference);
            var matches = entries.Count == 1 ? entries
                : entries.Where(e => (e.RepoTags ?? []).Any(t => ImageReference.TryParse(t, out var p, out _) && NameKey(p) == NameKey(wanted))).ToList();
            if (matches.Count == 0)
                throw new ImageException(ImageError.NotFound, $"the archive has {entries.Count} images, none tagged \"{wanted}\"");
            foreach (var m in matches) chosen.Add((m, [NameKey(wanted)]));
        }
        else
        {
            foreach (var e in entries)
            {
                var names = (e.RepoTags ?? []).Select(t => NameKey(ParseReference(t))).Distinct().ToList();
                if (names.Count == 0) throw new ImageException(ImageError.Invalid, $"image {e.Config} of the archive has no RepoTags: give a reference");
                chosen.Add((e, names));
            }
        }

        var records = new List<(List<string> Names, ImageRecord Record)>();
        foreach (var (entry, names) in chosen)
        {
            ct.ThrowIfCancellationRequested();
            var configBytes = files.ReadSmall(entry.Config);
            var configDigest = Content.Put(configBytes, pinFirst: d => pin.Add([d]));
            var config = OciJson.Read<ImageConfig>(configBytes, $"config {entry.Config}");
            if (config.RootFs.DiffIds.Count != entry.Layers.Count)
                throw new ImageException(ImageError.Invalid, $"image {entry.Config}: the config lists {config.RootFs.DiffIds.Count} layer DiffIDs, manifest.json {entry.Layers.Count} layers");

            var manifest = new ImageManifest
            {
                SchemaVersion = 2,
                MediaType = MediaTypes.OciManifest,
                Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest, Size = configBytes.Length },
            };
            foreach (var layerPath in entry.Layers)
            {
                var (digest, size) = await files.StoreFileAsync(layerPath, ct).ConfigureAwait(false);
                var head = new byte[4];
                await using (var blob = Content.OpenRead(digest)) await blob.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                manifest.Layers.Add(new Descriptor { MediaType = MediaTypes.LayerTypeFor(head, docker: false), Digest = digest, Size = size });
            }
            var chains = Chains(config, manifest, entry.Config);
            pin.Add([], chains);
            for (int i = 0; i < manifest.Layers.Count; i++)
                await ImportLayerAsync(manifest.Layers[i], i == 0 ? null : chains[i - 1], config.RootFs.DiffIds[i], chains[i], pin, progress, ct).ConfigureAwait(false);

            var manifestDigest = Content.Put(OciJson.Write(manifest), pinFirst: d => pin.Add([d]));
            records.Add((names, new ImageRecord { Manifest = manifestDigest, MediaType = MediaTypes.OciManifest, Tagged = DateTimeOffset.UtcNow }));
        }
        foreach (var (names, record) in records) SetNames(names, record);
        return records.Select(r => Inspect(r.Names[0])).ToList();
    }

    // ---- the files of an archive ---------------------------------------------------------------

    /// <summary>An image archive's files by their path inside it ("index.json", "blobs/sha256/..").</summary>
    private abstract class ArchiveFiles(ImageStore store, Pin pin)
    {
        protected ImageStore Store => store;
        protected Pin Pin => pin;

        public abstract bool Exists(string path);

        /// <summary>A small file's bytes (documents).</summary>
        public abstract byte[] ReadSmall(string path);

        /// <summary>Stores a file as a blob whose digest is learnt from its content.</summary>
        public abstract Task<(string Digest, long Size)> StoreFileAsync(string path, CancellationToken ct);

        /// <summary>Stores the blob a descriptor names (from blobs/sha256/), verified against it.</summary>
        public abstract Task StoreBlobAsync(Descriptor descriptor, CancellationToken ct);

        /// <summary>A document blob: stored, verified, and returned.</summary>
        public async Task<byte[]> BlobBytesAsync(Descriptor descriptor, CancellationToken ct)
        {
            Digest.Validate(descriptor.Digest, $"descriptor of a {descriptor.MediaType}");
            Pin.Add([descriptor.Digest]);
            if (!Store.Content.Exists(descriptor.Digest)) await StoreBlobAsync(descriptor, ct).ConfigureAwait(false);
            var bytes = Store.Content.ReadAllBytes(descriptor.Digest);
            if (descriptor.Size > 0 && bytes.Length != descriptor.Size)
                throw new ImageException(ImageError.DigestMismatch, $"blob {descriptor.Digest}: {bytes.Length} bytes, not the {descriptor.Size} its descriptor gives");
            return bytes;
        }

        protected static string BlobPath(string digest) => "blobs/sha256/" + Digest.Hex(digest);

        /// <summary>A path inside the archive, '/'-separated, without "./" or a leading '/';
        /// null if it climbs out ("..").</summary>
        protected static string? Clean(string path)
        {
            var parts = new List<string>();
            foreach (var part in path.Split('/'))
            {
                if (part.Length == 0 || part == ".") continue;
                if (part == "..")
                {
                    if (parts.Count == 0) return null;
                    parts.RemoveAt(parts.Count - 1);
                    continue;
                }
                parts.Add(part);
            }
            return string.Join('/', parts);
        }
    }

    private sealed class DirectoryFiles(string root, ImageStore store, Pin pin) : ArchiveFiles(store, pin)
    {
        private string Full(string path) => Clean(path) is { } clean
            ? Path.Combine(root, clean)
            : throw new ImageException(ImageError.Invalid, $"path \"{path}\" leaves the layout");

        public override bool Exists(string path) => File.Exists(Full(path));

        public override byte[] ReadSmall(string path)
        {
            var full = Full(path);
            if (!File.Exists(full)) throw new ImageException(ImageError.Invalid, $"the layout has no {path}");
            if (new FileInfo(full).Length > SmallFileLimit) throw new ImageException(ImageError.Invalid, $"{path}: larger than a document may be");
            return File.ReadAllBytes(full);
        }

        public override async Task<(string Digest, long Size)> StoreFileAsync(string path, CancellationToken ct)
        {
            await using var file = Open(path);
            return await Store.Content.WriteAsync(file, d => Pin.Add([d]), ct).ConfigureAwait(false);
        }

        public override async Task StoreBlobAsync(Descriptor descriptor, CancellationToken ct)
        {
            Pin.Add([descriptor.Digest]);
            await using var file = Open(BlobPath(descriptor.Digest));
            await Store.Content.WriteAsync(file, descriptor.Digest, descriptor.Size, $"blob {descriptor.Digest} of the layout", ct).ConfigureAwait(false);
        }

        private FileStream Open(string path)
        {
            try
            {
                return new FileStream(Full(path), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            }
            catch (FileNotFoundException)
            {
                throw new ImageException(ImageError.NotFound, $"the layout has no {path}");
            }
        }
    }

    /// <summary>A tar read once, front to back: blobs/sha256/* verified into the content store,
    /// other small files kept in memory, other big files stored by their digest; symlinks
    /// (docker 25+ links &lt;id&gt;/layer.tar to the blob) followed inside the archive.</summary>
    private sealed class TarFiles : ArchiveFiles
    {
        /// <summary>All the small files kept in memory together: past this, they go to the content
        /// store like big ones (an archive of many small files must not fill hcsd's memory).</summary>
        private const long SmallFilesBudget = 64L << 20;

        private readonly Dictionary<string, byte[]> _small = new(StringComparer.Ordinal);
        private long _smallBytes;
        private readonly Dictionary<string, (string Digest, long Size)> _stored = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);

        private TarFiles(ImageStore store, Pin pin) : base(store, pin) { }

        public static async Task<TarFiles> ReadAsync(Stream tar, ImageStore store, Pin pin, CancellationToken ct)
        {
            var files = new TarFiles(store, pin);
            try
            {
                // through the tracker: a PAX header or GNU long name of gigabytes is refused, not read
                using var reader = new TarReader(new Archive.TrackedStream(tar, new Archive.PaxRecordTracker()), leaveOpen: true);
                TarEntry? entry;
                while ((entry = await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false)) is not null)
                {
                    var name = Clean(entry.Name);
                    if (name is null || name.Length == 0) continue;
                    switch (entry.EntryType)
                    {
                        case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                            await files.AddFileAsync(name, entry, ct).ConfigureAwait(false);
                            break;
                        case TarEntryType.SymbolicLink:
                            var dir = name.Contains('/') ? name[..name.LastIndexOf('/')] + "/" : "";
                            if (Clean(entry.LinkName.StartsWith('/') ? entry.LinkName : dir + entry.LinkName) is { } target) files._links[name] = target;
                            break;
                        case TarEntryType.HardLink:
                            if (Clean(entry.LinkName) is { } linked) files._links[name] = linked;
                            break;
                    }
                }
            }
            catch (InvalidDataException e)
            {
                throw new ImageException(ImageError.Invalid, $"the archive is not a valid tar: {e.Message}", e);
            }
            catch (EndOfStreamException e)
            {
                throw new ImageException(ImageError.Invalid, "the archive is truncated", e);
            }
            return files;
        }

        private async Task AddFileAsync(string name, TarEntry entry, CancellationToken ct)
        {
            var data = entry.DataStream ?? Stream.Null;
            if (name.StartsWith("blobs/sha256/", StringComparison.Ordinal) && Digest.IsHex64(name.AsSpan(13)))
            {
                var digest = Digest.Sha256Prefix + name[13..];
                Pin.Add([digest]);
                await Store.Content.WriteAsync(data, digest, entry.Length, $"{name} of the archive", ct).ConfigureAwait(false);
                _stored[name] = (digest, entry.Length);
            }
            else if (entry.Length <= SmallFileLimit && _smallBytes + entry.Length <= SmallFilesBudget)
            {
                var bytes = new byte[entry.Length];
                await data.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
                if (_small.TryGetValue(name, out var replaced)) _smallBytes -= replaced.Length;
                _small[name] = bytes;
                _smallBytes += bytes.Length;
            }
            else
            {
                _stored[name] = await Store.Content.WriteAsync(data, d => Pin.Add([d]), ct).ConfigureAwait(false);
            }
        }

        private string Resolve(string path)
        {
            var clean = Clean(path) ?? throw new ImageException(ImageError.Invalid, $"path \"{path}\" leaves the archive");
            for (int hops = 0; hops < 16 && _links.TryGetValue(clean, out var target); hops++) clean = target;
            return clean;
        }

        public override bool Exists(string path)
        {
            var p = Resolve(path);
            return _small.ContainsKey(p) || _stored.ContainsKey(p);
        }

        public override byte[] ReadSmall(string path)
        {
            var p = Resolve(path);
            if (_small.TryGetValue(p, out var bytes)) return bytes;
            if (_stored.TryGetValue(p, out var stored))
            {
                // a document stored because the memory budget was spent: read back (digest checked)
                if (stored.Size <= SmallFileLimit) return Store.Content.ReadAllBytes(stored.Digest, SmallFileLimit);
                throw new ImageException(ImageError.Invalid, $"{path}: larger than a document may be");
            }
            throw new ImageException(ImageError.Invalid, $"the archive has no {path}");
        }

        public override Task<(string Digest, long Size)> StoreFileAsync(string path, CancellationToken ct)
        {
            var p = Resolve(path);
            if (_stored.TryGetValue(p, out var stored))
            {
                Pin.Add([stored.Digest]);
                if (Store.Content.Exists(stored.Digest)) return Task.FromResult(stored);
            }
            if (_small.TryGetValue(p, out var bytes))
                return Task.FromResult((Store.Content.Put(bytes, pinFirst: d => Pin.Add([d])), (long)bytes.Length));
            throw new ImageException(ImageError.Invalid, $"the archive has no {path}");
        }

        public override Task StoreBlobAsync(Descriptor descriptor, CancellationToken ct)
        {
            var p = Resolve(BlobPath(descriptor.Digest));
            if (_stored.TryGetValue(p, out var stored) && stored.Digest == descriptor.Digest && Store.Content.Exists(descriptor.Digest))
            {
                if (descriptor.Size > 0 && stored.Size != descriptor.Size)
                    throw new ImageException(ImageError.DigestMismatch, $"blob {descriptor.Digest}: {stored.Size} bytes, not the {descriptor.Size} its descriptor gives");
                return Task.CompletedTask;
            }
            if (_small.TryGetValue(p, out var bytes))
            {
                Store.Content.Put(bytes, descriptor.Digest, $"blob {descriptor.Digest} of the archive", d => Pin.Add([d]));
                return Task.CompletedTask;
            }
            throw new ImageException(ImageError.NotFound, $"the archive has no blob {descriptor.Digest}");
        }
    }
}
