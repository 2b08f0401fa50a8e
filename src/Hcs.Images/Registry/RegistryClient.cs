using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Hcs.Images.Images;

namespace Hcs.Images.Registry;

/// <summary>A manifest or index as a registry served it: the exact bytes, their digest, its type.</summary>
public sealed record FetchedManifest(byte[] Bytes, string Digest, string MediaType);

/// <summary>
/// An OCI distribution client that pulls images into an <see cref="ImageStore"/> (design 0006,
/// "Registry").
/// <code>
///   client                                registry
///     GET /v2/NAME/manifests/REF  ───────►  (401 + WWW-Authenticate → token → retry, see Auth)
///     ◄── index? pick linux/amd64, GET /v2/NAME/manifests/DIGEST
///     GET /v2/NAME/blobs/CONFIG   ───────►  config: DiffIDs → chain IDs → which layers are missing
///     GET /v2/NAME/blobs/L0..Ln   ───────►  3 at once, each into ingest/ (Range: bytes=N- to resume),
///                                            digest checked while streaming, renamed into blobs/
///     [unpack: true only] layer k unpacked as soon as layers 0..k-1 are and its blob is in (the
///                                            lowest missing one while it downloads; later ones still download)
///     manifest (+ index) blobs, then the name in images.json: last
/// </code>
/// With unpack: false (what hcsd does) a pull is what `skopeo copy` does: every blob fetched,
/// verified and stored, and the image named; the layers are unpacked afterwards by
/// <see cref="ImageStore.UnpackAsync(string, IProgress{PullProgress}?, CancellationToken)"/>,
/// which hcsd starts at once and every consumer of the layers awaits (design 0006, "Registry").
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private const int MaxManifestBytes = 4 << 20;
    private const string DockerHubDomain = "docker.io";
    private const string DockerHubEndpoint = "registry-1.docker.io";

    private readonly ImageStore _store;
    private readonly RegistryOptions _options;
    private readonly HttpClient _http;

    public RegistryClient(ImageStore store, RegistryOptions? options = null)
    {
        _store = store;
        _options = options ?? new RegistryOptions();
        if (_options.ParallelDownloads < 1) throw new ArgumentException("ParallelDownloads must be at least 1");
        var handler = _options.Handler ?? new SocketsHttpHandler
        {
            // blobs are compressed already, and must arrive byte for byte as their digest says
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = true, // blob GETs are often redirected to a CDN; .NET drops Authorization on redirect
            MaxAutomaticRedirections = 10,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(handler, disposeHandler: _options.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(_options.UserAgent);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Pulls <paramref name="reference"/> ("busybox", "host:5000/a/b:tag", "name@sha256:...")
    /// into the store, unpacks its layers and names it; returns the stored image.</summary>
    public Task<ImageInfo> PullAsync(string reference, IProgress<PullProgress>? progress = null, CancellationToken ct = default) =>
        PullAsync(reference, unpack: true, progress, ct);

    /// <summary>Pulls <paramref name="reference"/> into the store and names it; returns the stored
    /// image.</summary>
    /// <param name="unpack">true: every layer is also unpacked into the layer store before the
    /// name is written (overlapped with the downloads); progress per layer Waiting, Downloading,
    /// Verifying, Extracting, Done. false: the layer blobs are only downloaded and verified into
    /// the content store (in parallel, resumable, as with true) and the layer store is not
    /// touched; progress per layer Waiting, Downloading, Verifying, Done (Done: the blob is
    /// stored), or AlreadyExists for a blob the store has. The image is then named but not
    /// unpacked (<see cref="ImageStore.IsUnpacked"/>): call
    /// <see cref="ImageStore.UnpackAsync(string, IProgress{PullProgress}?, CancellationToken)"/>
    /// before using its layers.</param>
    public Task<ImageInfo> PullAsync(string reference, bool unpack, IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        if (!ImageReference.TryParse(reference, out var parsed, out var error)) throw new ImageException(ImageError.Invalid, error);
        return PullAsync(parsed, unpack, progress, ct);
    }

    public Task<ImageInfo> PullAsync(ImageReference image, IProgress<PullProgress>? progress = null, CancellationToken ct = default) =>
        PullAsync(image, unpack: true, progress, ct);

    /// <inheritdoc cref="PullAsync(string, bool, IProgress{PullProgress}?, CancellationToken)"/>
    public async Task<ImageInfo> PullAsync(ImageReference image, bool unpack, IProgress<PullProgress>? progress = null, CancellationToken ct = default)
    {
        using var pin = _store.BeginOperation("pull");

        // manifest (through the index if there is one)
        var top = await GetManifestAsync(image, image.Reference, ct).ConfigureAwait(false);
        FetchedManifest manifestDoc = top;
        string? indexDigest = null;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            var index = OciJson.Read<ImageIndex>(top.Bytes, $"index {top.Digest} of {image}");
            var chosen = PlatformSelector.Choose(index, _store.Os, _store.Architecture, _store.Variant, image.ToString());
            manifestDoc = await GetManifestAsync(image, chosen.Digest, ct).ConfigureAwait(false);
            indexDigest = top.Digest;
            if (!MediaTypes.IsManifest(manifestDoc.MediaType))
                throw new ImageException(ImageError.Invalid, $"{image}: the index entry for {_store.Os}/{_store.Architecture} is a {manifestDoc.MediaType}, not an image manifest");
        }
        else if (!MediaTypes.IsManifest(top.MediaType))
        {
            throw new ImageException(ImageError.Invalid, $"{image}: the registry sent a {top.MediaType}, not an image manifest or index");
        }
        var manifest = OciJson.Read<ImageManifest>(manifestDoc.Bytes, $"manifest {manifestDoc.Digest} of {image}");
        ImageStore.CheckManifest(manifest, manifestDoc.Digest);
        var digests = new List<string> { manifestDoc.Digest, manifest.Config.Digest };
        digests.AddRange(manifest.Layers.Select(l => l.Digest));
        if (indexDigest is not null) digests.Add(indexDigest);
        pin.Add(digests);

        // config: which layers exist follows from its DiffIDs
        await DownloadBlobAsync(image, manifest.Config, null, ct).ConfigureAwait(false);
        var config = OciJson.Read<ImageConfig>(_store.Content.ReadAllBytes(manifest.Config.Digest), $"config {manifest.Config.Digest} of {image}");
        var chains = ImageStore.Chains(config, manifest, manifestDoc.Digest); // checked either way: an image must be unpackable
        if (unpack)
        {
            pin.Add([], chains);
            await FetchAndUnpackLayersAsync(image, manifest, config, chains, pin, progress, ct).ConfigureAwait(false);
        }
        else
        {
            await FetchLayersAsync(image, manifest, progress, ct).ConfigureAwait(false);
        }

        // documents, then the name: a failed pull never leaves a name without its image
        _store.Content.Put(manifestDoc.Bytes, manifestDoc.Digest, $"manifest of {image}");
        if (indexDigest is not null) _store.Content.Put(top.Bytes, indexDigest, $"index of {image}");
        var name = ImageStore.NameKey(image);
        _store.SetNames([name], new ImageRecord { Manifest = manifestDoc.Digest, MediaType = manifestDoc.MediaType, Index = indexDigest, Tagged = DateTimeOffset.UtcNow });
        return _store.Inspect(name);
    }

    /// <summary>Downloads the missing layer blobs (<see cref="RegistryOptions.ParallelDownloads"/> at
    /// once, started lowest first) and unpacks each layer as soon as it and every layer below it
    /// are in, while later ones still download. The lowest missing layer (on a fresh pull the
    /// base layer, usually the biggest) is unpacked while it downloads: its bytes go to the
    /// ingest file and, through a pipe, to the layer store's import. The first failure cancels
    /// the rest and is what is thrown; what finished stays (blobs, layers), what was cut stays as
    /// a partial file.</summary>
    private async Task FetchAndUnpackLayersAsync(ImageReference image, ImageManifest manifest, ImageConfig config, List<string> chains,
        Pin pin, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        int n = manifest.Layers.Count;
        var fetched = new Task[n];
        var present = new bool[n];
        var queue = new List<(Descriptor Layer, TaskCompletionSource Done, Tee? Tee)>();
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int streamed = -1;
        Task streamImport = Task.CompletedTask;
        for (int i = 0; i < n; i++)
        {
            var layer = manifest.Layers[i];
            if (_store.Content.Exists(layer.Digest))
            {
                present[i] = _store.Layers.Exists(chains[i]);
                if (present[i]) progress?.Report(new PullProgress(layer.Digest, PullState.AlreadyExists, layer.Size, layer.Size));
                fetched[i] = Task.CompletedTask;
                continue;
            }
            // A layer already unpacked (from an image with another blob of it) still gets its blob:
            // export must be able to write this image's manifest byte for byte.
            progress?.Report(new PullProgress(layer.Digest, PullState.Waiting, 0, layer.Size));
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Tee? tee = null;
            if (queue.Count == 0 && !_store.Layers.Exists(chains[i]) && (i == 0 || _store.Layers.Exists(chains[i - 1])))
            {
                streamed = i;
                tee = new Tee();
                streamImport = ImportStreamedAsync(tee, layer, i == 0 ? null : chains[i - 1], config.RootFs.DiffIds[i], chains[i], pin, progress, failed);
            }
            queue.Add((layer, done, tee));
            fetched[i] = done.Task;
        }

        // workers take the queue in order, so the lowest layers (which unpacking waits for) come first
        int next = -1;
        var workers = Enumerable.Range(0, Math.Min(_options.ParallelDownloads, queue.Count)).Select(_ => Task.Run(async () =>
        {
            int k;
            while ((k = Interlocked.Increment(ref next)) < queue.Count)
            {
                var (layer, done, tee) = queue[k];
                try
                {
                    failed.Token.ThrowIfCancellationRequested();
                    await DownloadBlobAsync(image, layer, progress, failed.Token, tee).ConfigureAwait(false);
                    if (tee is not null)
                    {
                        progress?.Report(new PullProgress(layer.Digest, PullState.Extracting, layer.Size, layer.Size));
                        tee.Complete(); // only now: the import cannot end before the digest was checked
                    }
                    done.SetResult();
                }
                catch (OperationCanceledException e) when (failed.IsCancellationRequested)
                {
                    tee?.Complete(e);
                    done.SetCanceled(failed.Token);
                }
                catch (Exception e)
                {
                    tee?.Complete(e);
                    done.SetException(e);
                    failed.Cancel();
                }
            }
        })).ToList();

        try
        {
            for (int i = 0; i < n; i++)
            {
                await fetched[i].ConfigureAwait(false);
                if (i == streamed) await streamImport.ConfigureAwait(false);
                else await _store.ImportLayerAsync(manifest.Layers[i], i == 0 ? null : chains[i - 1], config.RootFs.DiffIds[i], chains[i], pin,
                    present[i] ? null : progress, failed.Token).ConfigureAwait(false);
            }
        }
        catch (Exception first)
        {
            failed.Cancel();
            await Task.WhenAll(workers).ConfigureAwait(false); // they end by setting every result: they do not throw
            try
            {
                await streamImport.ConfigureAwait(false);
            }
            catch (Exception) { }
            ct.ThrowIfCancellationRequested();
            // the failure that started it, not a wait cancelled because of it
            if (first is OperationCanceledException
                && new[] { streamImport }.Concat(fetched).Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!)
                    .FirstOrDefault(e => e is not OperationCanceledException) is { } cause)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            throw;
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    /// <summary>Downloads the layer blobs the store lacks (<see cref="RegistryOptions.ParallelDownloads"/>
    /// at once, lowest first) into the content store, and nothing else: a pull with unpack: false.
    /// The first failure cancels the rest and is what is thrown; finished blobs stay, a cut one
    /// stays as a partial file for the next pull to resume.</summary>
    private async Task FetchLayersAsync(ImageReference image, ImageManifest manifest, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        var queue = new List<Descriptor>();
        foreach (var layer in manifest.Layers.DistinctBy(l => l.Digest, StringComparer.Ordinal))
        {
            if (_store.Content.Exists(layer.Digest))
            {
                progress?.Report(new PullProgress(layer.Digest, PullState.AlreadyExists, layer.Size, layer.Size));
                continue;
            }
            progress?.Report(new PullProgress(layer.Digest, PullState.Waiting, 0, layer.Size));
            queue.Add(layer);
        }

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int next = -1;
        var workers = Enumerable.Range(0, Math.Min(_options.ParallelDownloads, queue.Count)).Select(_ => Task.Run(async () =>
        {
            int k;
            while ((k = Interlocked.Increment(ref next)) < queue.Count)
            {
                var layer = queue[k];
                try
                {
                    failed.Token.ThrowIfCancellationRequested();
                    await DownloadBlobAsync(image, layer, progress, failed.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !failed.IsCancellationRequested)
                {
                    failed.Cancel();
                    throw;
                }
                progress?.Report(new PullProgress(layer.Digest, PullState.Done, layer.Size, layer.Size));
            }
        })).ToList();
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch (Exception)
        {
            ct.ThrowIfCancellationRequested();
            // the failure that started it, not a download cancelled because of it
            if (workers.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException) is { } cause)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            throw;
        }
    }

    /// <summary>The import end of a layer unpacked while it downloads. If it fails, the download
    /// still runs to its end (to the file only): when the bytes were bad, the digest check says
    /// so, which is the error worth reporting, not the decompressor's complaint.</summary>
    private async Task ImportStreamedAsync(Tee tee, Descriptor layer, string? parent, string diffId, string chain, Pin pin,
        IProgress<PullProgress>? progress, CancellationTokenSource failed)
    {
        await Task.Yield(); // the import blocks its threads on the pipe: not the caller's
        try
        {
            await _store.ImportLayerFromAsync(tee.Reader, layer, parent, diffId, chain, pin, progress, failed.Token).ConfigureAwait(false);
        }
        finally
        {
            tee.CompleteReader();
        }
    }

    /// <summary>
    /// Hands a download's bytes, in order and each once, to a layer import reading the other end
    /// of a pipe. A retried download starts again at its partial file's end or, if the registry
    /// ignores Range, at byte 0: bytes already handed over are skipped. The pipe holds at most
    /// 32 MiB, so a download faster than the import waits for it.
    /// </summary>
    private sealed class Tee
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 32 << 20, resumeWriterThreshold: 16 << 20, useSynchronizationContext: false));
        private long _fed;
        private bool _readerGone;

        public Stream Reader { get; }

        public Tee() => Reader = _pipe.Reader.AsStream(leaveOpen: true);

        public async ValueTask FeedAsync(ReadOnlyMemory<byte> chunk, long offset)
        {
            long end = offset + chunk.Length;
            if (_readerGone || end <= _fed) return;
            if (offset > _fed) throw new InvalidOperationException($"bytes {_fed} to {offset} of the layer were never handed to its import");
            var result = await _pipe.Writer.WriteAsync(chunk[(int)(_fed - offset)..]).ConfigureAwait(false);
            _fed = end;
            if (result.IsCompleted) _readerGone = true; // the import ended (failed): keep downloading to the file only
        }

        public void Complete(Exception? error = null) => _pipe.Writer.Complete(error);

        public void CompleteReader() => _pipe.Reader.Complete();
    }

    // ---- manifests -----------------------------------------------------------------------------

    /// <summary>GETs a manifest or index by tag or digest, with every type this client uses in
    /// Accept. Its digest is computed from the bytes and must match a digest reference and the
    /// registry's Docker-Content-Digest.</summary>
    public async Task<FetchedManifest> GetManifestAsync(ImageReference image, string tagOrDigest, CancellationToken ct = default)
    {
        var what = $"manifest {image.Name}{(tagOrDigest.StartsWith(Images.Digest.Sha256Prefix, StringComparison.Ordinal) ? "@" : ":")}{tagOrDigest}";
        var uri = new Uri(Endpoint(image.Domain), $"/v2/{image.Path}/manifests/{tagOrDigest}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            using var response = await SendAsync(image, () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, uri);
                foreach (var type in MediaTypes.AcceptedManifests) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
                return request;
            }, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, image, what, timeout.Token).ConfigureAwait(false);
            if (response.Content.Headers.ContentLength > MaxManifestBytes)
                throw new ImageException(ImageError.Invalid, $"{what}: {response.Content.Headers.ContentLength} bytes, more than a manifest may have");
            var bytes = await ReadLimitedAsync(response.Content, MaxManifestBytes, what, timeout.Token).ConfigureAwait(false);

            var digest = Images.Digest.Of(bytes);
            if (tagOrDigest.StartsWith(Images.Digest.Sha256Prefix, StringComparison.Ordinal) && digest != tagOrDigest)
                throw new ImageException(ImageError.DigestMismatch, $"{what}: the registry sent content with digest {digest}");
            if (response.Headers.TryGetValues("Docker-Content-Digest", out var said) && said.FirstOrDefault() is { } claimed
                && Images.Digest.IsValid(claimed) && claimed != digest)
                throw new ImageException(ImageError.DigestMismatch, $"{what}: the registry says its digest is {claimed}, its content has {digest}");

            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (!MediaTypes.IsIndex(mediaType) && !MediaTypes.IsManifest(mediaType))
                mediaType = OciJson.MediaTypeOf(bytes) ?? mediaType;
            if (mediaType is not null && mediaType.StartsWith("application/vnd.docker.distribution.manifest.v1", StringComparison.Ordinal))
                throw new ImageException(ImageError.Invalid, $"{what}: Docker schema 1 manifests are not supported (the image is too old; re-push it)");
            if (mediaType is null || (!MediaTypes.IsIndex(mediaType) && !MediaTypes.IsManifest(mediaType)))
                mediaType = LooksLikeIndex(bytes) ? MediaTypes.OciIndex : MediaTypes.OciManifest; // an OCI document may omit mediaType
            return new FetchedManifest(bytes, digest, mediaType);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new RegistryException(ImageError.Registry, $"{what}: no answer from {image.Domain} within {_options.RequestTimeout.TotalSeconds:0} s", 0);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(image, what, e);
        }
    }

    private static bool LooksLikeIndex(byte[] bytes)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(bytes);
            return doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && doc.RootElement.TryGetProperty("manifests", out _);
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    // ---- blobs ---------------------------------------------------------------------------------

    /// <summary>Downloads one blob into the content store unless it is there: into
    /// ingest/&lt;hex&gt;.partial, resuming what an earlier attempt left (Range), hashed while written,
    /// renamed into blobs/ only if the digest matches. Cut connections and stalls are retried
    /// (resuming); a digest mismatch is not (the partial file is removed).</summary>
    private async Task DownloadBlobAsync(ImageReference image, Descriptor blob, IProgress<PullProgress>? progress, CancellationToken ct,
        Tee? tee = null)
    {
        var what = $"blob {blob.Digest} of {image.Name}";
        using var ingest = await _store.Content.BeginAsync(blob.Digest, blob.Size, what, ct).ConfigureAwait(false);
        if (ingest.AlreadyStored)
        {
            // another pull stored it meanwhile: the import reads it from there
            if (tee is not null) await FeedStoredAsync(tee, blob.Digest, ct).ConfigureAwait(false);
            return;
        }
        if (tee is not null) await ingest.ReplayAsync(tee.FeedAsync, ct).ConfigureAwait(false);
        var uri = new Uri(Endpoint(image.Domain), $"/v2/{image.Path}/blobs/{blob.Digest}");
        long lastReport = -1;
        void Report(PullState state, long current)
        {
            if (progress is null) return;
            // a report per 256 KiB is plenty for a progress bar
            if (state == PullState.Downloading && lastReport >= 0 && current - lastReport < (256 << 10) && current != blob.Size) return;
            lastReport = current;
            progress.Report(new PullProgress(blob.Digest, state, current, blob.Size));
        }

        for (int attempt = 1; ; attempt++)
        {
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
            try
            {
                long offset = ingest.Offset;
                if (blob.Size > 0 && offset == blob.Size)
                {
                    Report(PullState.Verifying, offset);
                    ingest.Commit();
                    return;
                }
                stall.CancelAfter(_options.StallTimeout);
                using var response = await SendAsync(image, () =>
                {
                    var request = new HttpRequestMessage(HttpMethod.Get, uri);
                    if (offset > 0) request.Headers.Range = new RangeHeaderValue(offset, null);
                    return request;
                }, stall.Token).ConfigureAwait(false);

                if (response.StatusCode == HttpStatusCode.PartialContent && offset > 0 && response.Content.Headers.ContentRange?.From == offset)
                {
                    // resumed where the partial file ends
                }
                else if (response.StatusCode == HttpStatusCode.OK)
                {
                    ingest.Restart(); // the registry ignored Range (or there was none): the whole blob follows
                }
                else if (response.StatusCode is HttpStatusCode.PartialContent or HttpStatusCode.RequestedRangeNotSatisfiable)
                {
                    ingest.Restart(); // a range we did not ask for, or the partial is not a prefix: start over
                    throw new IOException($"{what}: the registry did not resume at byte {offset}");
                }
                else
                {
                    throw await ErrorAsync(response, image, what, stall.Token).ConfigureAwait(false);
                }

                Report(PullState.Downloading, ingest.Offset);
                await using var body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
                await ingest.AppendAsync(body, n =>
                {
                    stall.CancelAfter(_options.StallTimeout);
                    Report(PullState.Downloading, n);
                }, stall.Token, tee is null ? null : tee.FeedAsync).ConfigureAwait(false);
                Report(PullState.Verifying, ingest.Offset);
                ingest.Commit();
                return;
            }
            catch (Exception e) when (attempt < _options.Attempts && !ct.IsCancellationRequested && IsTransient(e))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new RegistryException(ImageError.Registry, $"{what}: no data from {image.Domain} for {_options.StallTimeout.TotalSeconds:0} s", 0);
            }
            catch (HttpRequestException e)
            {
                throw Unreachable(image, what, e);
            }
            catch (IOException e)
            {
                throw new RegistryException(ImageError.Registry, $"{what}: the download failed: {e.Message}", 0, inner: e);
            }
        }
    }

    private async Task FeedStoredAsync(Tee tee, string digest, CancellationToken ct)
    {
        await using var blob = _store.Content.OpenRead(digest);
        var buffer = new byte[ContentStore.CopyBufferSize];
        long at = 0;
        int n;
        while ((n = await blob.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await tee.FeedAsync(buffer.AsMemory(0, n), at).ConfigureAwait(false);
            at += n;
        }
    }

    /// <summary>Worth another (resumed) try: the connection, not the content, failed.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        ImageException { Kind: ImageError.DigestMismatch } => false,
        RegistryException r => r.StatusCode is 0 or 408 or 429 or >= 500,
        ImageException => false,
        OperationCanceledException => true, // a stall (the caller's cancellation is filtered before)
        HttpRequestException or IOException => true,
        _ => false,
    };

    // ---- plumbing ------------------------------------------------------------------------------

    /// <summary>https://host, or http://host for loopback and configured insecure registries;
    /// docker.io is served by registry-1.docker.io.</summary>
    public Uri Endpoint(string domain)
    {
        var host = domain == DockerHubDomain ? DockerHubEndpoint : domain;
        return new Uri((IsInsecure(domain) ? "http://" : "https://") + host);
    }

    public bool IsInsecure(string domain)
    {
        if (_options.InsecureRegistries.Contains(domain, StringComparer.OrdinalIgnoreCase)) return true;
        string host = domain;
        if (host.StartsWith('['))
        {
            host = host[1..host.IndexOf(']')];
        }
        else if (host.LastIndexOf(':') is var colon and > 0)
        {
            host = host[..colon];
        }
        if (_options.InsecureRegistries.Contains(host, StringComparer.OrdinalIgnoreCase)) return true;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, int limit, string what, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limit) throw new ImageException(ImageError.Invalid, $"{what}: more than the {limit} bytes a document may have");
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>The registry's error for a non-success answer, with the distribution error code
    /// and message from its JSON body when there is one.</summary>
    private static async Task<RegistryException> ErrorAsync(HttpResponseMessage response, ImageReference image, string what, CancellationToken ct)
    {
        string? code = null, message = null;
        try
        {
            var body = await ReadLimitedAsync(response.Content, 64 << 10, what, ct).ConfigureAwait(false);
            var first = OciJson.Read<RegistryErrors>(body, "error").Errors?.FirstOrDefault();
            code = first?.Code;
            message = first?.Message;
        }
        catch (Exception e) when (e is ImageException or IOException or HttpRequestException) { }
        int status = (int)response.StatusCode;
        var kind = status switch
        {
            401 or 403 => ImageError.Unauthorized,
            404 => ImageError.NotFound,
            _ => ImageError.Registry,
        };
        var detail = code is null ? "" : $": {code}{(message is null ? "" : " " + message)}";
        var text = status switch
        {
            404 => $"{what}: not found on {image.Domain}{detail}",
            401 => $"{what}: {image.Domain} refused access (401){detail}",
            403 => $"{what}: {image.Domain} denied access (403){detail}",
            _ => $"{what}: {image.Domain} answered {status} {response.ReasonPhrase}{detail}",
        };
        return new RegistryException(kind, text, status, code);
    }

    private RegistryException Unreachable(ImageReference image, string what, HttpRequestException e) =>
        new(ImageError.Registry, $"{what}: cannot reach {Endpoint(image.Domain)}: {e.Message}", 0, inner: e);
}
