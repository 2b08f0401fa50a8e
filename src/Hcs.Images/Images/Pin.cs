using Hcs.Images.Layers;

namespace Hcs.Images.Images;

/// <summary>
/// What a pull, import or commit in progress has stored but not yet named in images.json, kept
/// out of a concurrent prune's reach:
/// <code>
///   ingest/pin-&lt;id&gt;.pin    one line per blob digest ("blob sha256:...") and layer ("layer sha256:...")
///   ingest/pin-&lt;id&gt;.lock   flock held for as long as the operation lives
/// </code>
/// Prune (holding the store lock) keeps everything a live pin lists; a pin whose lock it can take
/// belongs to a process that died, and is removed. Pin.Add also holds the store lock, so a prune
/// either sees a digest in the pin or runs entirely before the operation looks the blob up.
/// Layers are also leased in the layer store under the pin's name as soon as they are in place
/// (<see cref="Hold"/>; a lease needs the layer to exist), because the layer store prunes under
/// its own taking of the lock, after the image store's.
///
///   pull            store lock        prune
///    | Add(config) ──► take/release     |
///    | Exists(config)?                  | take ── read pins ── sweep blobs ── release
///    | ...                              |
///    | SetNames ──► take/release        |
///    | Dispose: pin gone                |
/// </summary>
internal sealed class Pin : IDisposable
{
    private const string Prefix = "pin-";
    private readonly string _path;
    private readonly string _storeLock;
    private readonly LayerStore _layers;
    private readonly FileLock _lock;
    private readonly HashSet<string> _digests = new(StringComparer.Ordinal);
    private readonly HashSet<string> _chains = new(StringComparer.Ordinal);
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);

    public string Owner { get; }

    private Pin(string ingestDir, string storeLock, LayerStore layers, string owner, FileLock held)
    {
        Owner = owner;
        _path = Path.Combine(ingestDir, owner + ".pin");
        _storeLock = storeLock;
        _layers = layers;
        _lock = held;
    }

    public static Pin Create(string ingestDir, string storeLock, LayerStore layers, string what)
    {
        var owner = Prefix + what + "-" + Guid.NewGuid().ToString("N")[..12];
        var held = FileLock.Acquire(Path.Combine(ingestDir, owner + ".lock"));
        return new Pin(ingestDir, storeLock, layers, owner, held);
    }

    /// <summary>Adds blobs and layer chain IDs; after it returns, a prune will not remove them.</summary>
    public void Add(IEnumerable<string> digests, IEnumerable<string>? chains = null)
    {
        bool changed = false;
        foreach (var d in digests) changed |= _digests.Add(d);
        foreach (var c in chains ?? []) changed |= _chains.Add(c);
        if (!changed) return;
        using var store = FileLock.Acquire(_storeLock);
        var lines = _digests.Select(d => "blob " + d).Concat(_chains.Select(c => "layer " + c));
        var tmp = _path + ".tmp";
        File.WriteAllLines(tmp, lines);
        File.Move(tmp, _path, overwrite: true);
    }

    /// <summary>Leases a layer that is now in the layer store (with everything below it) until
    /// the operation ends.</summary>
    public void Hold(string chainId, string? parentChainId)
    {
        if (!_held.Add(chainId)) return;
        if (parentChainId is not null) _held.Remove(parentChainId); // a lease holds the layers below
        _layers.Lease(Owner, _held);
    }

    public void Dispose()
    {
        if (_held.Count > 0) _layers.Release(Owner);
        File.Delete(_path);
        File.Delete(_lock.Path);
        _lock.Dispose();
    }

    /// <summary>The blobs and chains of every live pin; removes the pins (and leases) of dead
    /// operations. Call holding the store lock.</summary>
    public static IEnumerable<(IReadOnlyCollection<string> Digests, IReadOnlyCollection<string> Chains)> Live(string ingestDir, LayerStore layers)
    {
        var result = new List<(IReadOnlyCollection<string>, IReadOnlyCollection<string>)>();
        foreach (var lockPath in Directory.EnumerateFiles(ingestDir, Prefix + "*.lock"))
        {
            var owner = Path.GetFileNameWithoutExtension(lockPath);
            var pinPath = Path.Combine(ingestDir, owner + ".pin");
            if (TryLock(lockPath) is { } dead)
            {
                using (dead)
                {
                    layers.Release(owner);
                    File.Delete(pinPath);
                    File.Delete(lockPath);
                }
                continue;
            }
            var digests = new List<string>();
            var chains = new List<string>();
            string[] lines;
            try
            {
                lines = File.ReadAllLines(pinPath);
            }
            catch (FileNotFoundException)
            {
                continue; // nothing added yet
            }
            foreach (var line in lines)
            {
                if (line.StartsWith("blob ", StringComparison.Ordinal)) digests.Add(line[5..]);
                else if (line.StartsWith("layer ", StringComparison.Ordinal)) chains.Add(line[6..]);
            }
            result.Add((digests, chains));
        }
        return result;
    }

    private static FileLock? TryLock(string path)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(20));
        try
        {
            return FileLock.AcquireAsync(path, cts.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
