// The layer store (docs/design/0006-layers-and-images.md): layers/<chain-id hex>/{diff/,layer.json}
// under one root, imported from (gzip | zstd | plain) tars, stacked by overlayfs, exported back,
// kept while an image or a lease references them.
//
// Import, on two threads:
//
//   caller's stream ─► [producer] sniff, decompress, sha256 (DiffID) ─► BlockPipe (8 x 1 MiB)
//                                                                          │
//   tmp/<random>/diff ◄── LayerApplier ◄── TarReader ◄── [consumer] ◄──────┘
//
// then, under the flock on <root>/lock: rename tmp/<random> → layers/<chain hex>, or drop it when
// another import got there first. A layer directory therefore only ever appears complete; a
// crash leaves tmp/, which the next open empties.
//
// The store lock (flock on <root>/lock, shared with the image store) is taken here only by the
// constructor (emptying tmp/), ImportAsync's commit step and Prune: call those without holding
// it (flock does not nest: a second open of the file waits for the first, even in one thread).
// Everything else reads or replaces single files atomically and may run under it.
using System.Formats.Tar;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hcs.Images.Archive;
using Hcs.Linux.Native;
using static Hcs.Images.Layers.LayerSyscalls;

namespace Hcs.Images.Layers;

public sealed class LayerStore
{
    private const int PipeBlockSize = 1 << 20, PipeBlocks = 8;
    private readonly string _layers, _tmp, _blobs, _leases, _lockPath;

    /// <summary>Opens (creating what is missing) the store at <paramref name="root"/> and empties
    /// its tmp/ of what no running import or prune holds.</summary>
    public LayerStore(string root)
    {
        Root = Path.GetFullPath(root);
        _layers = Path.Combine(Root, "layers");
        _tmp = Path.Combine(Root, "tmp");
        _blobs = Path.Combine(Root, "blobs", "sha256");
        _leases = Path.Combine(Root, "leases");
        _lockPath = Path.Combine(Root, "lock");
        foreach (var dir in new[] { Root, _layers, _tmp, _blobs, Path.Combine(Root, "ingest"), _leases })
            Directory.CreateDirectory(dir);
        using (Lock()) EmptyTmp();
    }

    public string Root { get; }

    // ---- identity ------------------------------------------------------------------------------

    /// <summary>The OCI ChainID of a layer with DiffID <paramref name="diffId"/> over the layer
    /// <paramref name="parentChainId"/> (null: a base layer, whose ChainID is its DiffID).</summary>
    public static string ChainId(string? parentChainId, string diffId) => LayerPaths.ChainId(parentChainId, diffId);

    // ---- import --------------------------------------------------------------------------------

    /// <summary>Imports a layer tar (gzip, zstd or plain: told from its first bytes) over the
    /// layer <paramref name="parentChainId"/> (null: a base layer). Refuses, keeping nothing, an
    /// archive that breaks a rule of docs/design/0006 (LayerException naming the entry), a DiffID
    /// other than <paramref name="expectedDiffId"/>, and an unknown parent. Importing a layer the
    /// store has already returns the stored one.</summary>
    public async Task<LayerInfo> ImportAsync(Stream archive, string? parentChainId, string? expectedDiffId = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        if (parentChainId is not null)
        {
            LayerPaths.DigestHex(parentChainId, nameof(parentChainId));
            if (!Exists(parentChainId)) throw new LayerException($"parent layer {parentChainId} is not in the store");
        }
        using var extracted = await ExtractAsync(archive, parentChainId, expectedDiffId, ct).ConfigureAwait(false);
        return Commit(extracted);
    }

    /// <summary>The first half of <see cref="ImportAsync"/>: applies the archive into a directory
    /// in tmp/ and checks its DiffID, without the parent having to be in the store yet, so an
    /// image's layers can be extracted side by side (ImageStore.UnpackAsync). Nothing is visible
    /// until <see cref="Commit"/>, which still wants the parent in place: a layer directory only
    /// ever appears over its parent, as with ImportAsync. Disposing the result without
    /// committing it drops the directory.</summary>
    internal async Task<ExtractedLayer> ExtractAsync(Stream archive, string? parentChainId, string? expectedDiffId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(archive);
        if (parentChainId is not null) LayerPaths.DigestHex(parentChainId, nameof(parentChainId));
        if (expectedDiffId is not null) LayerPaths.DigestHex(expectedDiffId, nameof(expectedDiffId));

        var work = WorkDir.Create(this, "import-");
        try
        {
            var diff = Path.Combine(work.Path, "diff");
            Libc.Check(Libc.MkDir(diff, 0b111_101_101), $"mkdir {diff}");
            File.SetUnixFileMode(diff, (UnixFileMode)0b111_101_101); // not the umask's; a "./" entry may change it
            var (diffId, size) = await ApplyArchiveAsync(archive, diff, ct).ConfigureAwait(false);
            if (expectedDiffId is not null && diffId != expectedDiffId)
                throw new LayerException($"layer digest mismatch: the archive's DiffID is {diffId}, {expectedDiffId} was expected");

            var chainId = ChainId(parentChainId, diffId);
            var record = new LayerRecord(chainId, diffId, parentChainId, size, DateTimeOffset.UtcNow);
            File.WriteAllBytes(Path.Combine(work.Path, "layer.json"), JsonSerializer.SerializeToUtf8Bytes(record, LayerJson.Default.LayerRecord));
            return new ExtractedLayer(work, chainId, parentChainId);
        }
        catch
        {
            work.Dispose();
            throw;
        }
    }

    /// <summary>The second half of <see cref="ImportAsync"/>: under the store lock, renames the
    /// extracted directory to layers/&lt;chain&gt;, or drops it when another import got there
    /// first. The parent must be in the store by now.</summary>
    internal LayerInfo Commit(ExtractedLayer layer)
    {
        using (Lock())
        {
            // a Prune may have removed the parent while we extracted (or, extracted ahead of it, the
            // caller did not wait for it)
            if (layer.Parent is not null && !Exists(layer.Parent))
                throw new LayerException($"parent layer {layer.Parent} is not in the store (removed during the import, or not imported yet)");
            var final = LayerDir(layer.ChainId);
            if (!Directory.Exists(final))
            {
                Libc.Check(Libc.Rename(layer.Work.Path, final), $"rename {layer.Work.Path} to {final}");
                layer.Work.Committed = true;
            }
            return Get(layer.ChainId)!;
        }
    }

    /// <summary>A layer applied into tmp/ and not yet committed (<see cref="ExtractAsync"/>).</summary>
    internal sealed class ExtractedLayer : IDisposable
    {
        internal ExtractedLayer(WorkDir work, string chainId, string? parent)
        {
            Work = work;
            ChainId = chainId;
            Parent = parent;
        }

        internal WorkDir Work { get; }
        public string ChainId { get; }
        public string? Parent { get; }

        public void Dispose() => Work.Dispose();
    }

    private async Task<(string DiffId, long Size)> ApplyArchiveAsync(Stream archive, string diffDir, CancellationToken ct)
    {
        var pipe = new BlockPipe(PipeBlockSize, PipeBlocks);
        // Both always start (no token here): each is what unblocks the other when it stops.
        var producer = Task.Factory.StartNew(() => Produce(archive, pipe, ct), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var consumer = Task.Factory.StartNew(() => Consume(pipe, diffDir, ct), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await Task.WhenAll(producer, consumer).ConfigureAwait(false);
        }
        catch
        {
            // decided below: which of the two failures is the cause
        }
        ct.ThrowIfCancellationRequested();
        // The producer's failure (a corrupt compressed stream, a failing source) is the cause of
        // whatever the consumer then saw; a consumer failure (a refused entry) stops the producer.
        if (producer.IsFaulted && producer.Exception!.InnerException is not OperationCanceledException)
            ExceptionDispatchInfo.Throw(producer.Exception.InnerException!);
        if (consumer.IsFaulted)
        {
            var e = consumer.Exception!.InnerException!;
            ExceptionDispatchInfo.Throw(e is BlockPipe.ProducerFailedException p ? p.InnerException! : e);
        }
        if (producer.IsCanceled || consumer.IsCanceled) throw new OperationCanceledException(ct);
        return (producer.Result, consumer.Result);
    }

    /// <summary>Producer thread: sniff, decompress, hash, hand over in blocks. Returns the DiffID.</summary>
    private static string Produce(Stream archive, BlockPipe pipe, CancellationToken ct)
    {
        var compression = ArchiveCompression.None;
        try
        {
            var head = new byte[ArchiveCompressions.SniffLength];
            int headLength = 0;
            while (headLength < head.Length)
            {
                int n = archive.Read(head, headLength, head.Length - headLength);
                if (n == 0) break;
                headLength += n;
            }
            compression = ArchiveCompressions.Sniff(head.AsSpan(0, headLength));
            Stream source = new PrefixedStream(head, headLength, archive);
            if (compression == ArchiveCompression.Gzip) source = new BufferedStream(source, 1 << 20);
            using var decompressed = ArchiveCompressions.Decompress(source, compression);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var block = pipe.Rent();
                int filled = 0;
                while (filled < block.Length)
                {
                    int n = decompressed.Read(block, filled, block.Length - filled);
                    if (n == 0) break;
                    filled += n;
                }
                hash.AppendData(block, 0, filled);
                pipe.Publish(block, filled);
                if (filled < block.Length) break;
            }
            pipe.Complete();
            return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException or EndOfStreamException)
        {
            var refused = new LayerException($"the layer's {compression} stream is corrupt or truncated: {e.Message}", e);
            pipe.Complete(refused);
            throw refused;
        }
        catch (Exception e)
        {
            pipe.Complete(e);
            throw;
        }
    }

    /// <summary>Consumer thread: reads the tar and applies it. Returns the layer's size.</summary>
    private static long Consume(BlockPipe pipe, string diffDir, CancellationToken ct)
    {
        try
        {
            var tracker = new PaxRecordTracker();
            pipe.Reader.Tracker = tracker;
            using var applier = new LayerApplier(diffDir);
            using var reader = new TarReader(pipe.Reader, leaveOpen: true);
            string? last = null;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                TarEntry? entry;
                try
                {
                    entry = reader.GetNextEntry(copyData: false);
                }
                catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or NotSupportedException
                                              or InvalidOperationException or ArgumentException or OverflowException)
                {
                    // TarReader reads a header with ReadExactly: an archive that stops between
                    // two entries ends with EndOfStreamException, not with a null entry
                    throw (last, e) switch
                    {
                        (null, _) => new LayerException($"not a valid tar archive: {e.Message}", e),
                        (_, EndOfStreamException) => new LayerException(last, "the archive ends after this entry without its end-of-archive marker (truncated)", e),
                        _ => new LayerException(last, $"the tar stream is corrupt after this entry: {e.Message}", e),
                    };
                }
                if (entry is null) break;
                applier.Apply(entry, tracker.CurrentRecords);
                last = entry.Name;
            }
            if (!tracker.SawEndOfArchive)
            {
                throw last is null
                    ? new LayerException("not a tar archive (no entries, no end-of-archive marker)")
                    : new LayerException(last, "the archive ends after this entry without its end-of-archive marker (truncated)");
            }
            pipe.Reader.Drain(); // the DiffID covers the bytes after the marker too
            applier.Finish();
            return applier.Size;
        }
        catch
        {
            pipe.Abort();
            throw;
        }
    }

    // ---- lookup --------------------------------------------------------------------------------

    public LayerInfo? Get(string chainId)
    {
        var dir = LayerDir(chainId);
        byte[] json;
        try
        {
            json = File.ReadAllBytes(Path.Combine(dir, "layer.json"));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        LayerRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(json, LayerJson.Default.LayerRecord);
        }
        catch (JsonException e)
        {
            throw new LayerException($"layer {chainId}: unreadable layer.json: {e.Message}", e);
        }
        if (record is null || record.ChainId != chainId)
            throw new LayerException($"layer {chainId}: layer.json names another layer ({record?.ChainId})");
        return new LayerInfo(record.ChainId, record.DiffId, record.Parent, record.Size, Path.Combine(dir, "diff"));
    }

    public bool Exists(string chainId) => Directory.Exists(LayerDir(chainId));

    /// <summary>Every stored layer, by chain ID.</summary>
    public IReadOnlyList<LayerInfo> List()
    {
        var result = new List<LayerInfo>();
        foreach (var dir in Directory.EnumerateDirectories(_layers))
        {
            var name = Path.GetFileName(dir);
            if (!LayerPaths.IsHex64(name)) continue;
            if (Get("sha256:" + name) is { } info) result.Add(info);
        }
        result.Sort((a, b) => string.CompareOrdinal(a.ChainId, b.ChainId));
        return result;
    }

    /// <summary>The diff directories of <paramref name="topChainId"/> and the layers below it, top
    /// first: the order overlayfs's lowerdir= takes.</summary>
    public IReadOnlyList<string> LowerDirs(string topChainId)
    {
        var dirs = new List<string>();
        for (string? id = topChainId; id is not null;)
        {
            var info = Get(id) ?? throw new LayerException($"layer {id} is not in the store" + (id == topChainId ? "" : $" (below {topChainId})"));
            dirs.Add(info.DiffPath);
            if (dirs.Count > 500) throw new LayerException($"layer {topChainId}: more than 500 layers (overlayfs's limit) or a loop in layer.json");
            id = info.Parent;
        }
        return dirs;
    }

    // ---- export --------------------------------------------------------------------------------

    /// <summary>Writes an overlay upper directory as an uncompressed OCI layer tar: whiteouts
    /// (char 0:0) as .wh.NAME, opaque directories with .wh..wh..opq, ordinal order, owners,
    /// modes, whole-second mtimes, user.*/security.* xattrs. Other device nodes and sockets
    /// are left out.</summary>
    public Task ExportChangesAsync(string upperDir, Stream output, CancellationToken ct = default) =>
        LayerExporter.ExportAsync(upperDir, output, ct);

    /// <summary>Writes one stored layer's diff as an uncompressed tar (regenerated, so its DiffID
    /// need not be the imported one: the blob store keeps the original bytes).</summary>
    public Task ExportLayerAsync(string chainId, Stream output, CancellationToken ct = default)
    {
        var info = Get(chainId) ?? throw new LayerException($"layer {chainId} is not in the store");
        return LayerExporter.ExportAsync(info.DiffPath, output, ct);
    }

    // ---- references ----------------------------------------------------------------------------

    /// <summary>Records that <paramref name="owner"/> (a compute-system id, a pull in progress)
    /// uses these layers, replacing what it held before; a lease holds the layers below the
    /// leased ones too. Every layer must be in the store.
    /// Does not take the store lock (the lease file is replaced atomically), so it may be called
    /// while holding it, as the image store does; to be sure no concurrent Prune removes a layer
    /// between the check and the write, call it under the lock or lease layers an image holds.</summary>
    public void Lease(string owner, IEnumerable<string> chainIds)
    {
        var path = LeasePath(owner);
        var ids = chainIds.Distinct(StringComparer.Ordinal).ToList();
        foreach (var id in ids)
        {
            LayerPaths.DigestHex(id, nameof(chainIds));
            if (!Exists(id)) throw new LayerException($"cannot lease layer {id} for {owner}: not in the store");
        }
        var temp = path + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)) + ".tmp";
        File.WriteAllLines(temp, ids);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Drops <paramref name="owner"/>'s lease (none: nothing happens). Does not take the
    /// store lock.</summary>
    public void Release(string owner) => File.Delete(LeasePath(owner));

    /// <summary>Who holds leases.</summary>
    public IEnumerable<string> LeaseOwners() =>
        Directory.EnumerateFiles(_leases).Select(f => Path.GetFileName(f)).Where(n => !n.EndsWith(".tmp", StringComparison.Ordinal));

    /// <summary>The chain IDs <paramref name="owner"/> leased, in the order given (none: empty).</summary>
    public IReadOnlyList<string> Leased(string owner)
    {
        try { return File.ReadAllLines(LeasePath(owner)).Where(l => l.Length > 0).ToList(); }
        catch (FileNotFoundException) { return []; }
    }

    /// <summary>Where a layer's diff directory is, or will be once it is imported.</summary>
    public string DiffPathOf(string chainId) => Path.Combine(LayerDir(chainId), "diff");

    /// <summary>For every stored layer, how many references it has: each image chain and each
    /// lease that contains it or a layer above it counts once. Reads without the store lock
    /// (layer directories and lease files only ever appear whole).</summary>
    public IReadOnlyDictionary<string, int> ReferenceCounts(IEnumerable<IEnumerable<string>> imageChains) =>
        CountReferences(imageChains, StoredLayers());

    /// <summary>Removes every layer nothing references (no image chain, no lease).</summary>
    public PruneResult Prune(IEnumerable<IEnumerable<string>> imageChains) => Prune(imageChains, referencedBlobs: null);

    /// <summary>Removes every layer nothing references and, when <paramref name="referencedBlobs"/>
    /// is given, every blob in blobs/sha256/ whose digest ("sha256:hex") is not in it. Mark and
    /// sweep under the store lock, so no import commits in between; a removed layer is renamed
    /// into tmp/ under the lock and deleted after it.</summary>
    public PruneResult Prune(IEnumerable<IEnumerable<string>> imageChains, IEnumerable<string>? referencedBlobs)
    {
        var keepBlobs = referencedBlobs?.ToHashSet(StringComparer.Ordinal);
        var removedLayers = new List<string>();
        var removedBlobs = new List<string>();
        var doomed = new List<WorkDir>();
        try
        {
            using (Lock())
            {
                var stored = StoredLayers();
                var counts = CountReferences(imageChains, stored);
                foreach (var (chainId, count) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    if (count > 0) continue;
                    doomed.Add(WorkDir.Adopt(this, LayerDir(chainId), "prune-"));
                    removedLayers.Add(chainId);
                }
                if (keepBlobs is not null)
                {
                    foreach (var file in Directory.EnumerateFiles(_blobs))
                    {
                        var name = Path.GetFileName(file);
                        if (!LayerPaths.IsHex64(name) || keepBlobs.Contains("sha256:" + name)) continue;
                        File.Delete(file);
                        removedBlobs.Add("sha256:" + name);
                    }
                    removedBlobs.Sort(StringComparer.Ordinal);
                }
            }
        }
        finally
        {
            // outside the lock: the layers are already invisible, imports need not wait for rm -rf
            foreach (var dir in doomed) dir.Dispose();
        }
        return new PruneResult(removedLayers, removedBlobs);
    }

    /// <summary>Removes one layer if nothing references it (no image chain, no lease, no layer
    /// above it): true if removed, false if it is referenced; a layer not in the store is a
    /// <see cref="LayerException"/>. Under the store lock, as <see cref="Prune(IEnumerable{IEnumerable{string}})"/>.</summary>
    public bool Remove(string chainId, IEnumerable<IEnumerable<string>> imageChains)
    {
        WorkDir doomed;
        using (Lock())
        {
            var stored = StoredLayers();
            if (!stored.ContainsKey(chainId)) throw new LayerException($"layer {chainId} is not in the store");
            if (CountReferences(imageChains, stored)[chainId] > 0 || stored.Values.Any(l => l.Parent == chainId)) return false;
            doomed = WorkDir.Adopt(this, LayerDir(chainId), "remove-");
        }
        doomed.Dispose();
        return true;
    }

    private Dictionary<string, LayerInfo> StoredLayers() => List().ToDictionary(l => l.ChainId, StringComparer.Ordinal);

    private Dictionary<string, int> CountReferences(IEnumerable<IEnumerable<string>> imageChains, Dictionary<string, LayerInfo> stored)
    {
        var counts = stored.Keys.ToDictionary(k => k, _ => 0, StringComparer.Ordinal);
        var holders = imageChains.Select(chain => (IEnumerable<string>)chain.ToList()).ToList();
        foreach (var lease in Directory.EnumerateFiles(_leases))
        {
            if (lease.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            holders.Add(File.ReadAllLines(lease).Where(l => l.Length > 0).ToList());
        }
        foreach (var holder in holders)
        {
            // each holder counts once per layer, for the layers it names and all below them
            var held = new HashSet<string>(StringComparer.Ordinal);
            foreach (var id in holder)
            {
                for (string? current = id; current is not null && stored.TryGetValue(current, out var info) && held.Add(current);)
                    current = info.Parent;
            }
            foreach (var id in held) counts[id]++;
        }
        return counts;
    }

    private string LeasePath(string owner)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        if (owner is "." or ".." || owner.Contains('/') || owner.Contains('\0') || owner.EndsWith(".tmp", StringComparison.Ordinal) || owner.Length > 255)
            throw new ArgumentException($"lease owner \"{owner}\" cannot name a file", nameof(owner));
        return Path.Combine(_leases, owner);
    }

    // ---- the store's directories and lock --------------------------------------------------------

    private string LayerDir(string chainId) => Path.Combine(_layers, LayerPaths.DigestHex(chainId, nameof(chainId)));

    /// <summary>The store lock: flock(LOCK_EX) on &lt;root&gt;/lock, one open file each time, so
    /// it excludes other threads of this process as well as other processes.</summary>
    private StoreLock Lock()
    {
        int fd = Libc.Check(Libc.Open(_lockPath, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0b110_000_000), $"open {_lockPath}");
        while (Flock(fd, LOCK_EX) < 0)
        {
            if (Libc.Errno == Libc.EINTR) continue;
            var e = new ErrnoException(Libc.Errno, $"flock {_lockPath}");
            Libc.Close(fd);
            throw e;
        }
        return new StoreLock(fd);
    }

    private readonly struct StoreLock(int fd) : IDisposable
    {
        public void Dispose() => Libc.Close(fd); // closing the only fd of the open file releases the flock
    }

    /// <summary>Removes what is in tmp/ and not held (flock) by a running import or prune.</summary>
    private void EmptyTmp()
    {
        int tmpFd = Libc.Check(Libc.Open(_tmp, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0), $"open {_tmp}");
        try
        {
            foreach (var entry in ReadDirectory(tmpFd))
            {
                int fd = OpenAt(tmpFd, entry.Name, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
                if (fd < 0)
                {
                    RemoveTree(tmpFd, entry.Name); // not a directory: nothing of ours holds it
                    continue;
                }
                try
                {
                    if (Flock(fd, LOCK_EX | LOCK_NB) == 0) RemoveTree(tmpFd, entry.Name);
                }
                finally
                {
                    Libc.Close(fd);
                }
            }
        }
        finally
        {
            Libc.Close(tmpFd);
        }
    }

    /// <summary>A directory in tmp/, flocked while it exists so no other opening of the store
    /// removes it under us; removed on Dispose unless it was committed (renamed away).</summary>
    internal sealed class WorkDir : IDisposable
    {
        private readonly int _fd;
        public string Path { get; }
        public bool Committed;

        private WorkDir(string path, int fd)
        {
            Path = path;
            _fd = fd;
        }

        public static WorkDir Create(LayerStore store, string prefix)
        {
            using (store.Lock()) // EmptyTmp runs under the lock: it cannot see us before the flock
            {
                var path = System.IO.Path.Combine(store._tmp, prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));
                Libc.Check(Libc.MkDir(path, 0b111_000_000), $"mkdir {path}");
                return new WorkDir(path, LockDirectory(path));
            }
        }

        /// <summary>Moves <paramref name="dir"/> into tmp/ (the caller holds the store lock).</summary>
        public static WorkDir Adopt(LayerStore store, string dir, string prefix)
        {
            var path = System.IO.Path.Combine(store._tmp, prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));
            int fd = LockDirectory(dir);
            if (Libc.Rename(dir, path) < 0)
            {
                var e = new ErrnoException(Libc.Errno, $"rename {dir} to {path}");
                Libc.Close(fd);
                throw e;
            }
            return new WorkDir(path, fd);
        }

        private static int LockDirectory(string path)
        {
            int fd = Libc.Check(Libc.Open(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0), $"open {path}");
            Flock(fd, LOCK_EX | LOCK_NB); // fresh or under the store lock: nobody else holds it
            return fd;
        }

        public void Dispose()
        {
            try
            {
                if (!Committed) RemoveTree(AT_FDCWD, Path);
            }
            finally
            {
                Libc.Close(_fd);
            }
        }
    }
}

/// <summary>layer.json.</summary>
internal sealed record LayerRecord(string ChainId, string DiffId, string? Parent, long Size, DateTimeOffset CreatedAt);

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(LayerRecord))]
internal sealed partial class LayerJson : JsonSerializerContext;
