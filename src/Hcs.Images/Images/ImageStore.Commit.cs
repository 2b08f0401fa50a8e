using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Hcs.Images.Images;

// Commit: a container's overlay upper directory becomes a new layer on top of its image.
//
//   upper dir ──LayerStore.ExportChangesAsync──► tar ──sha256──► DiffID
//                                                 └──gzip──sha256──► ingest/tmp ──rename──► blobs/ (layer blob)
//   blob ──LayerStore.ImportAsync(parent = base's top chain, expected DiffID)──► layers/<chain>
//   base config + diff_id + history entry ──► config blob;  base layers + new ──► manifest blob ──► name
//
// The base config is edited as a JSON tree, not re-serialised from the typed model, so fields this
// store does not know survive.

/// <param name="CreatedBy">The history entry's created_by (default "hcs commit").</param>
public sealed record CommitOptions(string? Author = null, string? Comment = null, string? CreatedBy = null);

public sealed partial class ImageStore
{
    /// <summary>Commits <paramref name="upperDir"/> (an overlay upper directory) as a layer on top
    /// of <paramref name="baseReference"/> (null: on nothing) and names the result
    /// <paramref name="newReference"/>.</summary>
    public async Task<ImageInfo> CommitAsync(string? baseReference, string upperDir, string newReference,
        CommitOptions? options = null, CancellationToken ct = default)
    {
        options ??= new CommitOptions();
        var name = CanonicalName(newReference);
        if (!Directory.Exists(upperDir)) throw new ImageException(ImageError.NotFound, $"upper directory {upperDir} does not exist");
        using var pin = BeginOperation("commit");

        ImageInfo? baseImage = baseReference is null ? null : Inspect(baseReference);
        ImageManifest? baseManifest = null;
        JsonObject config;
        if (baseImage is not null)
        {
            pin.Add([baseImage.ManifestDigest, baseImage.ConfigDigest, .. baseImage.LayerBlobs.Select(l => l.Digest)], baseImage.Layers);
            baseManifest = ReadManifest(baseImage.ManifestDigest);
            // the new layer goes over the base's top layer: a base pulled and not unpacked yet is
            // unpacked first (normally hcsd has done so: a container ran on it)
            if (!IsUnpacked(baseImage)) await UnpackAsync(baseImage, null, ct).ConfigureAwait(false);
            config = JsonNode.Parse(Content.ReadAllBytes(baseImage.ConfigDigest)) as JsonObject
                     ?? throw new ImageException(ImageError.Invalid, $"config {baseImage.ConfigDigest} is not a JSON object");
        }
        else
        {
            config = new JsonObject
            {
                ["architecture"] = Architecture,
                ["os"] = Os,
                ["config"] = new JsonObject(),
                ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray() },
            };
        }
        bool docker = baseManifest is not null && MediaTypes.IsDocker(baseManifest.MediaType ?? baseImage!.ManifestMediaType);

        // the layer: tar of the changes, hashed (DiffID), gzipped into a blob
        var (blobDigest, blobSize, diffId) = await WriteChangesBlobAsync(upperDir, pin, ct).ConfigureAwait(false);
        var layer = new Descriptor { MediaType = docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip, Digest = blobDigest, Size = blobSize };
        string? parent = baseImage?.Layers.Count > 0 ? baseImage.Layers[^1] : null;
        var chain = Hcs.Images.Layers.LayerStore.ChainId(parent, diffId);
        pin.Add([], [chain]);
        await ImportLayerAsync(layer, parent, diffId, chain, pin, null, ct).ConfigureAwait(false);

        // the config: the base's, plus the layer and a history entry
        var now = DateTimeOffset.UtcNow;
        var created = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture);
        config["created"] = created;
        if (options.Author is not null) config["author"] = options.Author;
        if (config["rootfs"] is not JsonObject rootfs)
            config["rootfs"] = rootfs = new JsonObject { ["type"] = "layers" };
        if (rootfs["diff_ids"] is not JsonArray diffIds)
            rootfs["diff_ids"] = diffIds = new JsonArray();
        diffIds.Add((JsonNode?)JsonValue.Create(diffId));
        if (config["history"] is not JsonArray history)
            config["history"] = history = new JsonArray();
        var entry = new JsonObject { ["created"] = created, ["created_by"] = options.CreatedBy ?? "hcs commit" };
        if (options.Author is not null) entry["author"] = options.Author;
        if (options.Comment is not null) entry["comment"] = options.Comment;
        history.Add((JsonNode)entry);
        var configBytes = System.Text.Encoding.UTF8.GetBytes(config.ToJsonString());
        var configDigest = Content.Put(configBytes, pinFirst: d => pin.Add([d]));

        // the manifest: the base's layers plus the new one, of the base's kind (OCI or Docker)
        var manifest = new ImageManifest
        {
            SchemaVersion = 2,
            MediaType = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig, Digest = configDigest, Size = configBytes.Length },
            Layers = [.. baseManifest?.Layers ?? [], layer],
        };
        var manifestDigest = Content.Put(OciJson.Write(manifest), pinFirst: d => pin.Add([d]));
        SetNames([name], new ImageRecord { Manifest = manifestDigest, MediaType = manifest.MediaType, Tagged = now });
        return Inspect(name);
    }

    private async Task<(string Digest, long Size, string DiffId)> WriteChangesBlobAsync(string upperDir, Pin pin, CancellationToken ct)
    {
        var tmp = Content.TempPath();
        try
        {
            string diffId, digest;
            long size;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                var compressed = new HashingWriteStream(file, disposeInner: false);
                var uncompressed = new HashingWriteStream(new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true), disposeInner: true);
                await Layers.ExportChangesAsync(upperDir, uncompressed, ct).ConfigureAwait(false);
                diffId = uncompressed.Finish();   // closes the gzip stream: its trailer goes through `compressed`
                digest = compressed.Finish();
                size = compressed.Count;
                file.Flush(flushToDisk: true);
            }
            Content.Adopt(tmp, digest, d => pin.Add([d]));
            return (digest, size, diffId);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>A write-only pass-through that hashes (sha256) what goes through.</summary>
    private sealed class HashingWriteStream(Stream inner, bool disposeInner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private string? _digest;

        /// <summary>Bytes written through.</summary>
        public long Count { get; private set; }

        /// <summary>Disposes the inner stream if owned (flushing a compressor) and returns the digest.</summary>
        public string Finish()
        {
            if (disposeInner) inner.Dispose();
            else inner.Flush();
            return _digest ??= Digest.FromHash(_hash.GetHashAndReset());
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            Count += buffer.Length;
            inner.Write(buffer);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            _hash.AppendData(buffer.Span);
            Count += buffer.Length;
            return inner.WriteAsync(buffer, ct);
        }

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
