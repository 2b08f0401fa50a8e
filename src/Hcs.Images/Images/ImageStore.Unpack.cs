using System.Runtime.ExceptionServices;
using Hcs.Images.Layers;

namespace Hcs.Images.Images;

// Unpacking: an image's layer blobs (content store) become layer directories (layer store).
// A pull (RegistryClient.PullAsync with unpack: false) ends when every blob is stored and the
// image is named; hcsd starts UnpackAsync right after it, and whatever needs the layers
// (container create from the image, commit, layer export) awaits that (design 0006, "Registry").
//
//   layer 0: [slot] blob ─► verify + extract into tmp/ [free slot] ──────────────── commit ─ hold
//   layer 1: [slot] blob ─► verify + extract into tmp/ [free slot] ─ wait for 0 ─── commit ─ hold
//   layer 2: (waits for a slot) [slot] blob ─► verify + extract  [free slot] ─ wait for 1 ─ commit ─ hold
//
// Extracting a layer does not need the layer below it on disk, only its chain ID, which the
// config's diff_ids give: up to UnpackParallelism layers are extracted at once. Commits (the
// rename into layers/) are in order, so a layer directory still only ever appears over its
// parent. Each blob is re-hashed while it is read: a blob damaged on disk fails with its digest
// named, before anything is committed.

public sealed partial class ImageStore
{
    /// <summary>How many layers <see cref="UnpackAsync(string, IProgress{PullProgress}?, CancellationToken)"/>
    /// extracts at once (each extraction keeps two threads busy: decompress + hash, apply). Default:
    /// the number of CPUs, 1 to 4.</summary>
    public int UnpackParallelism { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>True when every layer of the image is in the layer store (what
    /// <see cref="RootfsFor"/> needs). An image pulled without unpacking is stored and named, but
    /// not unpacked until <see cref="UnpackAsync(string, IProgress{PullProgress}?, CancellationToken)"/>
    /// has run.</summary>
    public bool IsUnpacked(ImageInfo image) => image.Layers.All(Layers.Exists);

    /// <summary>
    /// Imports every layer of the image that the layer store lacks from its stored blob, lowest
    /// first in commit order, each checked against the blob's digest and the config's DiffID.
    /// Idempotent (an unpacked image costs a look at each layer); two callers unpacking one image
    /// at once both succeed with one set of layers (the layer store keeps the first commit of a
    /// layer). Everything it uses is pinned while it runs, so a concurrent prune takes neither
    /// the blobs nor the layers already unpacked. Cancelled or failed, it leaves the layers it
    /// finished (each complete, over its parent) and nothing else; a later call goes on from there.
    /// Progress: per layer blob, Extracting then Done, or AlreadyExists.
    /// </summary>
    /// <exception cref="ImageException">NotFound (no such image, or a blob is missing),
    /// DigestMismatch (a blob in the store is damaged: the message names it).</exception>
    /// <exception cref="LayerException">a layer archive the layer store refuses (the message
    /// names the blob).</exception>
    public Task UnpackAsync(string reference, IProgress<PullProgress>? progress = null, CancellationToken ct = default) =>
        UnpackAsync(Inspect(reference), progress, ct);

    internal async Task UnpackAsync(ImageInfo image, IProgress<PullProgress>? progress, CancellationToken ct)
    {
        using var pin = BeginOperation("unpack");
        // From here a prune keeps these. One that ran between Inspect and now (the image lost its
        // last name) may have taken blobs: opening one then says which is missing.
        pin.Add([image.ManifestDigest, image.ConfigDigest, .. image.LayerBlobs.Select(l => l.Digest)], image.Layers);

        int n = image.Layers.Count;
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var slots = new SemaphoreSlim(Math.Max(1, UnpackParallelism));
        var done = new Task[n];
        for (int i = 0; i < n; i++)
            done[i] = UnpackLayerAsync(image, i, i == 0 ? Task.CompletedTask : done[i - 1], pin, slots, progress, failed);
        try
        {
            // every task ends (the first failure cancels the others) before the pin goes
            await Task.WhenAll(done).ConfigureAwait(false);
        }
        catch (Exception)
        {
            ct.ThrowIfCancellationRequested();
            // the failure that started it (the lowest), not the waits and extractions it cancelled
            if (done.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException) is { } cause)
                ExceptionDispatchInfo.Throw(cause);
            throw;
        }
    }

    /// <summary>One layer: extracted (in a slot) as soon as a slot is free, committed once the
    /// layer below is (<paramref name="below"/>), then held by the pin. Hold and the commits
    /// therefore run one at a time, in order.</summary>
    private async Task UnpackLayerAsync(ImageInfo image, int i, Task below, Pin pin, SemaphoreSlim slots,
        IProgress<PullProgress>? progress, CancellationTokenSource failed)
    {
        var blob = image.LayerBlobs[i];
        var chain = image.Layers[i];
        string? parent = i == 0 ? null : image.Layers[i - 1];
        try
        {
            if (Layers.Exists(chain))
            {
                await below.ConfigureAwait(false);
                pin.Hold(chain, parent);
                progress?.Report(new PullProgress(blob.Digest, PullState.AlreadyExists, blob.Size, blob.Size));
                return;
            }
            LayerStore.ExtractedLayer extracted;
            await slots.WaitAsync(failed.Token).ConfigureAwait(false);
            try
            {
                progress?.Report(new PullProgress(blob.Digest, PullState.Extracting, 0, blob.Size));
                extracted = await ExtractBlobAsync(image, i, failed.Token).ConfigureAwait(false);
            }
            finally
            {
                slots.Release();
            }
            using (extracted)
            {
                await below.ConfigureAwait(false);
                failed.Token.ThrowIfCancellationRequested();
                var layer = Layers.Commit(extracted);
                if (layer.ChainId != chain)
                    throw new ImageException(ImageError.DigestMismatch, $"layer {blob.Digest}: unpacked as chain {layer.ChainId}, expected {chain}");
                pin.Hold(chain, parent);
            }
            progress?.Report(new PullProgress(blob.Digest, PullState.Done, blob.Size, blob.Size));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failed.Cancel();
            throw;
        }
    }

    /// <summary>Extracts layer <paramref name="i"/> from its stored blob into the layer store's
    /// tmp/ (not committed), verifying the blob's digest and size while reading it and the DiffID
    /// after. A damaged blob usually makes the decompressor or the tar reader fail first: the
    /// rest of the blob is then read so the digest check can say so, naming the blob.</summary>
    private async Task<LayerStore.ExtractedLayer> ExtractBlobAsync(ImageInfo image, int i, CancellationToken ct)
    {
        var blob = image.LayerBlobs[i];
        var what = $"layer blob {blob.Digest} of image {image.Reference} (in the store)";
        await using var file = Content.OpenRead(blob.Digest);
        await using var verified = new VerifyingStream(file, blob.Digest, blob.Size > 0 ? blob.Size : -1, what, leaveOpen: true);
        LayerStore.ExtractedLayer extracted;
        try
        {
            extracted = await Layers.ExtractAsync(verified, i == 0 ? null : image.Layers[i - 1], image.DiffIds[i], ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (OperationCanceledException or ImageException))
        {
            ct.ThrowIfCancellationRequested();
            ReadToEnd(verified); // throws DigestMismatch when the blob is damaged
            if (e is LayerException) throw new LayerException($"{what}: {e.Message}", e);
            throw;
        }
        try
        {
            // The producer normally read to the end already (and the end is where the digest is
            // checked); a decompressor that stops early must not skip the check.
            ReadToEnd(verified);
        }
        catch
        {
            extracted.Dispose();
            throw;
        }
        return extracted;
    }

    private static void ReadToEnd(Stream stream)
    {
        var buffer = new byte[ContentStore.CopyBufferSize];
        while (stream.Read(buffer) > 0) { }
    }
}
