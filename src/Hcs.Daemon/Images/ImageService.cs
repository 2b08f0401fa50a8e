using Hcs.Daemon.Compute;
using Hcs.Images.Images;
using Hcs.Images.Layers;
using Hcs.Images.Registry;
using Hcs.Schema.Hcs;
using Hcs.Schema.Images;

namespace Hcs.Daemon.Images;

/// <summary>The layers an image gives a container: directories (lowest first) and chain IDs.</summary>
public sealed record ResolvedImage(IReadOnlyList<string> LayerPaths, IReadOnlyList<string> ChainIds);

/// <summary>
/// hcsd's side of the image store (docs/design/0006): the Hcs.Images library behind the
/// /v2/images and /v2/layers routes, its failures as HCS errors, and the leases that keep a
/// container's layers while the container exists.
/// </summary>
public sealed class ImageService
{
    private readonly DaemonOptions _options;
    private readonly ILogger<ImageService> _log;

    public ImageService(DaemonOptions options, ILogger<ImageService> log)
    {
        _options = options;
        _log = log;
        Directory.CreateDirectory(options.ImagesDir);
        Layers = new LayerStore(options.ImagesDir);
        Store = new ImageStore(options.ImagesDir, Layers);
    }

    public LayerStore Layers { get; }
    public ImageStore Store { get; }

    // ---- containers ----------------------------------------------------------------------

    /// <summary>The layers of the image a document names at <paramref name="path"/>, unpacked
    /// first if a pull left them packed (or an unpack is under way).</summary>
    public async Task<ResolvedImage> ResolveAsync(string reference, string path, CancellationToken ct)
    {
        try
        {
            await EnsureUnpackedAsync(Store.Inspect(reference), ct);
            var rootfs = Store.RootfsFor(reference);
            return new ResolvedImage(rootfs.LayerDirs, rootfs.Image.Layers);
        }
        catch (Exception e) when (Translate(e, path) is { } hcs)
        {
            throw hcs;
        }
    }

    // ---- unpacking ---------------------------------------------------------------------------

    private readonly Dictionary<string, Task> _unpacking = [];

    /// <summary>
    /// A pull stores and verifies blobs; unpacking them into layers is this separate step
    /// (docs/design/0006, "Registry"), started as soon as a pull is done and awaited by whatever
    /// needs the layers. One unpack per image at a time; a failed one is tried again by the next
    /// caller. The unpack itself is not cancelled with a caller: others may be waiting for it.
    /// </summary>
    public Task EnsureUnpackedAsync(ImageInfo image, CancellationToken ct)
    {
        if (Store.IsUnpacked(image)) return Task.CompletedTask;
        Task task;
        lock (_unpacking)
        {
            if (!_unpacking.TryGetValue(image.ImageId, out task!) || task.IsCompleted)
            {
                var id = image.ImageId;
                task = Task.Run(async () =>
                {
                    var started = System.Diagnostics.Stopwatch.GetTimestamp();
                    await Store.UnpackAsync(id, null, CancellationToken.None);
                    _log.LogInformation("unpacked {Image} ({Names}) in {Ms:F0} ms", id, string.Join(", ", image.Names),
                                        System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                });
                _unpacking[id] = task;
            }
        }
        return task.WaitAsync(ct);
    }

    /// <summary>Starts unpacking in the background (a failure is logged; the next consumer retries).</summary>
    private void UnpackInBackground(ImageInfo image) =>
        EnsureUnpackedAsync(image, CancellationToken.None).ContinueWith(
            t => _log.LogError("unpacking {Image}: {Message}", image.ImageId, t.Exception?.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <summary>Holds the layers for a compute system until <see cref="Release"/>; a layer pruned
    /// between resolving and leasing is reported as the image being gone.</summary>
    public void Lease(string owner, IReadOnlyList<string> chainIds)
    {
        try { Layers.Lease(owner, chainIds); }
        catch (LayerException e) { throw new HcsException(HcsError.ImageNotFound, e.Message, "$.Document.Container.Storage.Image"); }
    }

    public void Release(string owner) => Layers.Release(owner);

    /// <summary>Who holds leases (compute-system ids).</summary>
    public IEnumerable<string> LeaseOwners() => Layers.LeaseOwners();

    // ---- images ----------------------------------------------------------------------------

    public List<ImageSummary> List() => [.. Store.List().Select(Summary)];

    /// <summary>An image's details; with <paramref name="unpacked"/>, once its layers are unpacked
    /// (its LayerPaths are then there to read, as `hcs run -u NAME` does).</summary>
    public async Task<ImageDetails> InspectAsync(string reference, bool unpacked, CancellationToken ct)
    {
        try
        {
            var image = Store.Inspect(reference);
            if (unpacked) await EnsureUnpackedAsync(image, ct);
            return Details(image);
        }
        catch (Exception e) when (Translate(e, "reference") is { } hcs) { throw hcs; }
    }

    public async Task<ImageDetails> PullAsync(PullRequest request, IProgress<ImageProgress> progress, CancellationToken ct)
    {
        var reference = ParseReference(request.Reference, "$.Reference");
        var credentials = new Dictionary<string, RegistryCredential>();
        if (request.Username is { } user)
            credentials[reference.Domain] = new RegistryCredential(user, request.Password ?? "");
        using var registry = new RegistryClient(Store, new RegistryOptions
        {
            InsecureRegistries = _options.InsecureRegistries,
            Credentials = credentials,
        });
        try
        {
            // fetched, verified and named: that is the pull; the layers unpack from here on
            var image = await registry.PullAsync(reference, unpack: false, new LayerProgress(progress), ct);
            UnpackInBackground(image);
            return Details(image);
        }
        catch (Exception e) when (Translate(e, "$.Reference") is { } hcs)
        {
            throw hcs;
        }
    }

    public async Task<ImageDetails> ImportAsync(Stream archive, string? reference, IProgress<ImageProgress> progress, CancellationToken ct)
    {
        if (reference is not null) ParseReference(reference, "reference");
        try
        {
            var images = await Store.ImportArchiveAsync(archive, reference, new LayerProgress(progress), ct);
            if (images.Count == 0) throw new HcsException(HcsError.InvalidLayer, "the archive holds no image");
            return Details(images[0]);
        }
        catch (Exception e) when (Translate(e, null, archive: true) is { } hcs)
        {
            throw hcs;
        }
    }

    /// <summary>Checks the image exists (before the answer starts: a 404 can still be sent).</summary>
    public ImageInfo Find(string reference)
    {
        try { return Store.Inspect(reference); }
        catch (Exception e) when (Translate(e, "reference") is { } hcs) { throw hcs; }
    }

    public Task ExportAsync(string reference, Stream output, CancellationToken ct) => Store.ExportOciLayoutAsync(reference, output, ct);

    public void Tag(string source, string target)
    {
        ParseReference(target, "target");
        try { Store.Tag(source, target); }
        catch (Exception e) when (Translate(e, "source") is { } hcs) { throw hcs; }
    }

    /// <summary>Removes a reference. The last reference to an image a container uses is refused
    /// unless forced (the container keeps its layers by its lease either way).</summary>
    public void Remove(string reference, bool force)
    {
        var image = Find(reference);
        if (!force && IsLastName(image, reference) && InUse(image) is { } user)
            throw new HcsException(HcsError.InvalidState,
                $"image \"{reference}\" is used by compute system \"{user}\": delete it first, or remove with force=true", "reference");
        try { Store.Remove(reference); }
        catch (Exception e) when (Translate(e, "reference") is { } hcs) { throw hcs; }
    }

    private static bool IsLastName(ImageInfo image, string reference) =>
        image.Names.Count <= 1 || reference.StartsWith("sha256:", StringComparison.Ordinal) || image.ImageId.EndsWith(reference, StringComparison.Ordinal);

    private string? InUse(ImageInfo image)
    {
        if (image.Layers.Count == 0) return null;
        var top = image.Layers[^1];
        return Layers.LeaseOwners().FirstOrDefault(owner => Layers.Leased(owner).Contains(top));
    }

    public async Task<PruneResponse> PruneAsync(CancellationToken ct)
    {
        var result = await Store.PruneAsync(ct);
        return new PruneResponse { LayersDeleted = [.. result.LayersDeleted], SpaceReclaimed = result.SpaceReclaimed };
    }

    /// <summary>A container's changes (its overlay upper directory) as a new image over the image
    /// it was made from (<paramref name="baseReference"/>; null: over nothing).</summary>
    public async Task<ImageDetails> CommitAsync(string? baseReference, string upperDir, CommitRequest request, CancellationToken ct)
    {
        ParseReference(request.Reference, "$.Reference");
        try
        {
            var image = await Store.CommitAsync(baseReference, upperDir, request.Reference!,
                new CommitOptions(request.Author, request.Comment, "hcs commit"), ct);
            return Details(image);
        }
        catch (Exception e) when (Translate(e, "$.Reference") is { } hcs)
        {
            throw hcs;
        }
    }

    /// <summary>The image a compute system runs on, to commit onto: the image its document named
    /// if that still has the layers the system holds, else any image with that top layer (the
    /// name may have moved to another image since).</summary>
    public string BaseOf(string owner, string reference)
    {
        var held = Layers.Leased(owner);
        var top = held.Count > 0 ? held[^1] : null;
        if (Store.TryInspect(reference) is { } named && (top is null || (named.Layers.Count > 0 && named.Layers[^1] == top)))
            return named.ImageId;
        var match = top is null ? null : Store.List().FirstOrDefault(i => i.Layers.Count > 0 && i.Layers[^1] == top);
        return match?.ImageId ?? throw new HcsException(HcsError.ImageNotFound,
            $"the image compute system \"{owner}\" was created from (\"{reference}\") is no longer in the store");
    }

    // ---- layers ----------------------------------------------------------------------------

    public List<LayerSummary> ListLayers()
    {
        var counts = Layers.ReferenceCounts(Store.ImageChains());
        return [.. Layers.List().Select(l => LayerOf(l, counts))];
    }

    public LayerSummary GetLayer(string chainId)
    {
        var layer = FindLayer(chainId);
        var counts = Layers.ReferenceCounts(Store.ImageChains());
        return LayerOf(layer, counts);
    }

    public async Task<LayerSummary> ImportLayerAsync(Stream tar, string? parent, CancellationToken ct)
    {
        if (parent is not null) FindLayer(parent, "parent");
        try
        {
            var layer = await Layers.ImportAsync(tar, parent, ct: ct);
            return GetLayer(layer.ChainId);
        }
        catch (Exception e) when (Translate(e, null, archive: true) is { } hcs)
        {
            throw hcs;
        }
    }

    public LayerInfo FindLayer(string chainId, string path = "chainId")
    {
        if (!Hcs.Images.Images.Digest.IsValid(chainId))
            throw new HcsException(HcsError.InvalidJson, $"\"{chainId}\" is not a chain ID (sha256:<64 hex digits>)", path);
        return Layers.Get(chainId) ?? throw new HcsException(HcsError.LayerNotFound, $"no layer {chainId} in the store", path);
    }

    public Task ExportLayerAsync(string chainId, Stream output, CancellationToken ct) => Layers.ExportLayerAsync(chainId, output, ct);

    /// <summary>Removes one layer nothing uses (no image, no container, no layer above it).</summary>
    public void RemoveLayer(string chainId)
    {
        FindLayer(chainId);
        try
        {
            if (!Layers.Remove(chainId, Store.ImageChains()))
                throw new HcsException(HcsError.InvalidState, $"layer {chainId} is used by an image, a container or a layer above it", "chainId");
        }
        catch (LayerException e)
        {
            throw new HcsException(HcsError.LayerNotFound, e.Message, "chainId");
        }
    }

    // ---- shapes and errors -------------------------------------------------------------

    private static ImageReference ParseReference(string? text, string path)
    {
        if (string.IsNullOrEmpty(text)) throw new HcsException(HcsError.InvalidJson, "required: an image reference", path);
        if (!ImageReference.TryParse(text, out var reference, out var error)) throw new HcsException(HcsError.InvalidJson, error, path);
        return reference;
    }

    /// <summary>The library's failures as HCS errors (null: not one of them).</summary>
    private static HcsException? Translate(Exception e, string? path, bool archive = false) => e switch
    {
        HcsException => null,
        ImageException { Kind: ImageError.NotFound } when !archive => new HcsException(HcsError.ImageNotFound, e.Message, path),
        ImageException { Kind: ImageError.Invalid } when !archive => new HcsException(HcsError.InvalidJson, e.Message, path),
        ImageException { Kind: ImageError.NotFound or ImageError.Invalid or ImageError.DigestMismatch } => new HcsException(HcsError.InvalidLayer, e.Message),
        ImageException => new HcsException(HcsError.RegistryError, e.Message, path),
        LayerException => new HcsException(HcsError.InvalidLayer, e.Message),
        InvalidDataException or EndOfStreamException or FormatException when archive =>
            new HcsException(HcsError.InvalidLayer, "the archive is not a readable tar: " + e.Message),
        _ => null,
    };

    private ImageSummary Summary(ImageInfo i) => new()
    {
        Id = i.ImageId, RepoTags = [.. i.Names], ManifestDigest = i.ManifestDigest, Created = i.Created?.UtcDateTime, Size = i.Size,
    };

    private ImageDetails Details(ImageInfo i)
    {
        var c = i.Config.Config;
        // where each layer is, or will be until unpacked
        List<string> paths = [.. i.Layers.Select(Layers.DiffPathOf)];
        return new ImageDetails
        {
            Id = i.ImageId, RepoTags = [.. i.Names], ManifestDigest = i.ManifestDigest, Created = i.Created?.UtcDateTime, Size = i.Size,
            Architecture = i.Config.Architecture, Os = i.Config.Os, Author = i.Config.Author,
            Config = new ImageDefaults
            {
                Env = c?.Env, Cmd = c?.Cmd, Entrypoint = c?.Entrypoint,
                WorkingDir = c?.WorkingDir is { Length: > 0 } w ? w : null, User = c?.User is { Length: > 0 } u ? u : null,
                Labels = c?.Labels, ExposedPorts = c?.ExposedPorts?.Keys.Order().ToList(), StopSignal = c?.StopSignal,
            },
            Layers = [.. i.Layers],
            LayerPaths = paths,
        };
    }

    private static LayerSummary LayerOf(LayerInfo l, IReadOnlyDictionary<string, int> counts) => new()
    {
        ChainId = l.ChainId, DiffId = l.DiffId, Parent = l.Parent, Size = l.Size, Path = l.DiffPath,
        References = counts.GetValueOrDefault(l.ChainId),
    };

    /// <summary>The library's per-layer progress as API lines.</summary>
    private sealed class LayerProgress(IProgress<ImageProgress> to) : IProgress<PullProgress>
    {
        public void Report(PullProgress p) => to.Report(new ImageProgress
        {
            Status = p.State.ToString(), Layer = p.Id, Current = Math.Max(p.Current, 0), Total = Math.Max(p.Total, 0),
        });
    }
}
