using System.Buffers;
using System.Security.Cryptography;

namespace Hcs.Images.Images;

/// <summary>
/// The content-addressed blob store under the image store's root (design 0006):
/// <code>
///   blobs/sha256/&lt;hex&gt;      a blob whose sha256 is its name; appears only complete and verified
///   ingest/&lt;hex&gt;.partial    a blob being written; kept when a download is cut, for resuming
///   ingest/tmp-*           a blob whose digest is not known until it is written (imports)
/// </code>
/// Every blob is hashed while it is written and renamed into blobs/ only if it has the digest
/// (and size) it was named by; a mismatch removes the partial file, so nothing that does not
/// verify is ever kept. A partial file is locked (flock) while written: two pulls needing one
/// blob download it once, the second waits and finds it stored.
/// </summary>
public sealed class ContentStore
{
    internal const int CopyBufferSize = 1 << 20;

    public string Root { get; }
    public string BlobsDir { get; }
    public string IngestDir { get; }

    public ContentStore(string root)
    {
        Root = System.IO.Path.GetFullPath(root);
        BlobsDir = System.IO.Path.Combine(Root, "blobs", "sha256");
        IngestDir = System.IO.Path.Combine(Root, "ingest");
        Directory.CreateDirectory(BlobsDir);
        Directory.CreateDirectory(IngestDir);
    }

    public string PathOf(string digest) => System.IO.Path.Combine(BlobsDir, Digest.Hex(digest));

    public bool Exists(string digest) => File.Exists(PathOf(digest));

    /// <summary>The blob's size, -1 if the store does not have it.</summary>
    public long SizeOf(string digest)
    {
        var info = new FileInfo(PathOf(digest));
        return info.Exists ? info.Length : -1;
    }

    /// <exception cref="ImageException">NotFound if the store does not have the blob.</exception>
    public FileStream OpenRead(string digest)
    {
        try
        {
            return FileLock.OpenRead(PathOf(digest));
        }
        catch (FileNotFoundException)
        {
            throw new ImageException(ImageError.NotFound, $"blob {digest} is not in the store");
        }
    }

    /// <summary>A small blob (manifest, config, index) read whole, checked against its digest:
    /// a document is parsed only from bytes that verify.</summary>
    public byte[] ReadAllBytes(string digest, int maxBytes = 16 << 20)
    {
        using var file = OpenRead(digest);
        if (file.Length > maxBytes) throw new ImageException(ImageError.Invalid, $"blob {digest}: {file.Length} bytes, more than the {maxBytes} a document may have");
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        if (Digest.Of(bytes) != digest) throw new ImageException(ImageError.DigestMismatch, $"blob {digest} in the store is damaged (its content has another digest)");
        return bytes;
    }

    /// <summary>Stores bytes already in memory; returns their digest. If <paramref name="expectedDigest"/>
    /// is given and differs, nothing is stored.</summary>
    /// <param name="pinFirst">called with the digest before the store looks for the blob (so an
    /// existing blob can be pinned against a concurrent prune before it is relied on).</param>
    public string Put(ReadOnlySpan<byte> data, string? expectedDigest = null, string what = "blob", Action<string>? pinFirst = null)
    {
        var digest = Digest.Of(data);
        if (expectedDigest is not null && Digest.Validate(expectedDigest, what) != digest)
            throw new ImageException(ImageError.DigestMismatch, $"{what}: content has digest {digest}, not {expectedDigest}");
        pinFirst?.Invoke(digest);
        if (Exists(digest)) return digest;
        var tmp = TempPath();
        try
        {
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                file.Write(data);
                file.Flush(flushToDisk: true);
            }
            File.Move(tmp, PathOf(digest), overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
        return digest;
    }

    /// <summary>Stores a stream whose digest is known, verified while it is written. Returns at once
    /// (without reading) if the blob is already stored.</summary>
    public async Task WriteAsync(Stream source, string digest, long size = -1, string? what = null, CancellationToken ct = default)
    {
        using var ingest = await BeginAsync(digest, size, what, ct).ConfigureAwait(false);
        if (ingest.AlreadyStored) return;
        ingest.Restart();
        await ingest.AppendAsync(source, null, ct).ConfigureAwait(false);
        ingest.Commit();
    }

    /// <summary>Stores a stream whose digest is learnt while writing it (archive imports); returns
    /// its digest and size. <paramref name="pinFirst"/> as for <see cref="Put"/>.</summary>
    public async Task<(string Digest, long Size)> WriteAsync(Stream source, Action<string>? pinFirst = null, CancellationToken ct = default)
    {
        var tmp = TempPath();
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                await using var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
                int n;
                while ((n = await source.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    size += n;
                }
                file.Flush(flushToDisk: true);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            var digest = Digest.FromHash(hash.GetHashAndReset());
            pinFirst?.Invoke(digest);
            if (!Exists(digest)) File.Move(tmp, PathOf(digest), overwrite: true);
            return (digest, size);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Moves a finished temporary file (from <see cref="TempPath"/>) whose digest the
    /// caller computed while writing it into blobs/ (or drops it if the blob is there).</summary>
    internal void Adopt(string tmpPath, string digest, Action<string>? pinFirst = null)
    {
        pinFirst?.Invoke(digest);
        if (Exists(digest)) File.Delete(tmpPath);
        else File.Move(tmpPath, PathOf(digest), overwrite: true);
    }

    /// <summary>Opens (or resumes) the ingest of one blob; waits while another writer has it. The
    /// caller appends the rest from <see cref="Ingest.Offset"/> and commits.</summary>
    public async Task<Ingest> BeginAsync(string digest, long size = -1, string? what = null, CancellationToken ct = default)
    {
        Digest.Validate(digest, what ?? "blob");
        var partial = PartialPath(digest);
        var held = await FileLock.AcquireAsync(partial, ct).ConfigureAwait(false);
        try
        {
            var ingest = new Ingest(this, digest, size, what ?? $"blob {digest}", held);
            await ingest.OpenAsync(ct).ConfigureAwait(false);
            return ingest;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>Bytes already in the partial file of a blob (0 if none): what a resumed download
    /// need not fetch again.</summary>
    public long PartialLength(string digest)
    {
        var info = new FileInfo(PartialPath(digest));
        return info.Exists ? info.Length : 0;
    }

    public string PartialPath(string digest) => System.IO.Path.Combine(IngestDir, Digest.Hex(digest) + ".partial");

    /// <summary>Every stored blob's digest.</summary>
    public IReadOnlyList<string> List()
    {
        var digests = new List<string>();
        foreach (var path in Directory.EnumerateFiles(BlobsDir))
        {
            var name = System.IO.Path.GetFileName(path);
            if (Digest.IsHex64(name)) digests.Add(Digest.Sha256Prefix + name);
        }
        return digests;
    }

    /// <summary>Removes a blob; returns the bytes freed (0 if it was not there).</summary>
    public long Delete(string digest)
    {
        var info = new FileInfo(PathOf(digest));
        if (!info.Exists) return 0;
        long size = info.Length;
        info.Delete();
        return size;
    }

    /// <summary>Removes ingest files untouched for <paramref name="olderThan"/>: abandoned
    /// downloads and the temporary files of crashed imports. Returns the bytes freed.</summary>
    public long CleanIngest(TimeSpan olderThan)
    {
        long freed = 0;
        var cutoff = DateTime.UtcNow - olderThan;
        foreach (var path in Directory.EnumerateFiles(IngestDir))
        {
            var info = new FileInfo(path);
            if (info.LastWriteTimeUtc >= cutoff) continue;
            try
            {
                bool partial = info.Name.EndsWith(".partial", StringComparison.Ordinal);
                // a partial being written is locked: skip it rather than pull it from under a writer
                using var held = partial ? TryLock(path) : null;
                if (partial && held is null) continue;
                freed += info.Length;
                info.Delete();
            }
            catch (IOException) { }
        }
        return freed;
    }

    private static FileLock? TryLock(string path)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        try
        {
            return FileLock.AcquireAsync(path, cts.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    internal string TempPath() => System.IO.Path.Combine(IngestDir, "tmp-" + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// One blob being written into ingest/&lt;hex&gt;.partial under its lock. Bytes appended are
    /// hashed as they are written (a resumed partial is hashed first, once);
    /// <see cref="Commit"/> checks size and digest and renames into blobs/. Disposing without
    /// committing keeps the partial file for a later resume, unless <see cref="Discard"/> was called.
    /// </summary>
    public sealed class Ingest : IDisposable
    {
        private readonly ContentStore _store;
        private readonly FileLock _lock;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private FileStream? _file;
        private bool _done;

        public string Digest { get; }
        /// <summary>The size the blob must have, -1 if unknown.</summary>
        public long Size { get; }
        /// <summary>Bytes written so far (after a resume: those found in the partial file).</summary>
        public long Offset { get; private set; }
        /// <summary>The blob is already in blobs/: there is nothing to write.</summary>
        public bool AlreadyStored { get; private set; }
        private readonly string _what;

        internal Ingest(ContentStore store, string digest, long size, string what, FileLock held)
        {
            _store = store;
            Digest = digest;
            Size = size;
            _what = what;
            _lock = held;
        }

        internal async Task OpenAsync(CancellationToken ct)
        {
            if (_store.Exists(Digest))
            {
                AlreadyStored = true;
                File.Delete(_lock.Path);   // a leftover partial of a blob stored meanwhile
                _done = true;
                return;
            }
            _file = _lock.Stream();
            long length = _file.Length;
            if (Size >= 0 && length > Size)
            {
                Restart();   // longer than the blob can be: not a prefix of it
                return;
            }
            // hash what an earlier attempt left, so the digest covers the whole blob
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                _file.Position = 0;
                int n;
                while ((n = await _file.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct).ConfigureAwait(false)) > 0)
                {
                    _hash.AppendData(buffer, 0, n);
                    Offset += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Starts over from byte 0 (a server that ignored the Range request).</summary>
        public void Restart()
        {
            if (AlreadyStored) return;
            _file ??= _lock.Stream();
            _file.SetLength(0);
            _file.Position = 0;
            _hash.GetHashAndReset();
            Offset = 0;
        }

        /// <summary>Appends everything <paramref name="source"/> yields. If the source fails midway
        /// (a cut connection) the bytes already written stay, for a resume.</summary>
        /// <param name="onProgress">called with <see cref="Offset"/> after each chunk.</param>
        /// <param name="onData">sees each chunk once written, with the blob offset it starts at
        /// (a pull unpacks a layer from these while it downloads).</param>
        public async Task AppendAsync(Stream source, Action<long>? onProgress, CancellationToken ct,
            Func<ReadOnlyMemory<byte>, long, ValueTask>? onData = null)
        {
            if (AlreadyStored) return;
            var file = _file ?? throw new InvalidOperationException("ingest not open");
            file.Position = Offset;
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                int n;
                while ((n = await source.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct).ConfigureAwait(false)) > 0)
                {
                    if (Size >= 0 && Offset + n > Size)
                    {
                        Discard();
                        throw new ImageException(ImageError.DigestMismatch, $"{_what}: more than the {Size} bytes its descriptor gives");
                    }
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    _hash.AppendData(buffer, 0, n);
                    if (onData is not null) await onData(buffer.AsMemory(0, n), Offset).ConfigureAwait(false);
                    Offset += n;
                    onProgress?.Invoke(Offset);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Hands the bytes already in the partial file (from an earlier attempt) to
        /// <paramref name="onData"/>, as <see cref="AppendAsync"/> hands new ones.</summary>
        public async Task ReplayAsync(Func<ReadOnlyMemory<byte>, long, ValueTask> onData, CancellationToken ct)
        {
            if (AlreadyStored || Offset == 0) return;
            var file = _file ?? throw new InvalidOperationException("ingest not open");
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                file.Position = 0;
                long at = 0;
                while (at < Offset)
                {
                    int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(CopyBufferSize, Offset - at)), ct).ConfigureAwait(false);
                    if (n == 0) throw new IOException($"{_what}: the partial file shrank");
                    await onData(buffer.AsMemory(0, n), at).ConfigureAwait(false);
                    at += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Checks size and digest; renames into blobs/ if they match, else removes the
        /// partial file and throws (DigestMismatch).</summary>
        public void Commit()
        {
            if (AlreadyStored) return;
            var file = _file ?? throw new InvalidOperationException("ingest not open");
            if (Size >= 0 && Offset != Size)
            {
                Discard();
                throw new ImageException(ImageError.DigestMismatch, $"{_what}: {Offset} bytes, not the {Size} its descriptor gives");
            }
            var actual = Images.Digest.FromHash(_hash.GetCurrentHash());
            if (actual != Digest)
            {
                Discard();
                throw new ImageException(ImageError.DigestMismatch, $"{_what}: content has digest {actual}, not {Digest}");
            }
            file.Flush(flushToDisk: true);
            File.Move(_lock.Path, _store.PathOf(Digest), overwrite: true);
            _done = true;
        }

        /// <summary>Removes the partial file: its bytes are known bad.</summary>
        public void Discard()
        {
            if (_done) return;
            File.Delete(_lock.Path);
            _done = true;
        }

        public void Dispose()
        {
            // an empty partial is no start worth keeping
            if (!_done && Offset == 0) File.Delete(_lock.Path);
            _file?.Dispose();
            _lock.Dispose();
            _hash.Dispose();
        }
    }
}
