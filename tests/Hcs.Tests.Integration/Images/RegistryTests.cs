using System.Collections.Concurrent;
using Hcs.Images.Images;
using Hcs.Images.Registry;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Images.TestImages;

namespace Hcs.Tests.Integration.Images;

/// <summary>One docker-registry for the class, filled with skopeo from layouts built here.</summary>
public sealed class RegistryFixture : IDisposable
{
    public string? Why { get; } = TestRegistry.Missing();
    public TestRegistry? Registry { get; }
    private readonly string _layouts = Path.Combine(Path.GetTempPath(), "hcs-layouts-" + Guid.NewGuid().ToString("N")[..8]);
    private int _pushed;

    public RegistryFixture()
    {
        if (Why is null) Registry = new TestRegistry();
    }

    /// <summary>Pushes an image or index to repo:tag (via a fresh OCI layout and skopeo).</summary>
    public void Push(TestRegistry registry, object imageOrIndex, string repository)
    {
        var dir = Path.Combine(_layouts, "l" + Interlocked.Increment(ref _pushed));
        WriteLayout(dir, ("t", imageOrIndex));
        registry.Push(dir, "t", repository);
    }

    public void Dispose()
    {
        Registry?.Dispose();
        try { Directory.Delete(_layouts, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}

/// <summary>
/// RegistryClient against a real registry (Debian's docker-registry): pull by tag and digest, an
/// index resolved to linux/amd64, layers shared between images fetched and stored once, a cut
/// download resumed with Range without fetching finished layers again, a corrupted blob refused
/// with the store left consistent, Basic auth (htpasswd) and the Bearer token flow; a pull without
/// unpacking (unpack: false) and ImageStore.UnpackAsync after it: run twice at once, cancelled
/// midway, on a blob damaged on disk, after a prune. The token
/// flow runs against RegistryProxy playing the token service in front of the registry:
/// docker-registry's own token auth needs a signing certificate and an external token server,
/// which is more machinery than the client's side of the protocol needs.
/// </summary>
public sealed class RegistryTests(RegistryFixture fixture, ITestOutputHelper output) : IClassFixture<RegistryFixture>, IDisposable
{
    private readonly string _root = Path.Combine("/var/lib/hcs-it", "images-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private bool Skip()
    {
        if (fixture.Why is null) return false;
        output.WriteLine("SKIPPED: " + fixture.Why);
        return true;
    }

    private TestRegistry Registry => fixture.Registry!;

    private static string Unique(string name) => name + "-" + Guid.NewGuid().ToString("N")[..6];

    /// <summary>A 3-layer image with recognisable files; the last layer is big enough to cut.</summary>
    private static TestImage ThreeLayers(int seed, int bigSize = 3 << 20) => Image(
    [
        Layer(Dir("etc"), File("etc/os-release", $"ID=test{seed}\n"), Dir("bin"), File("bin/tool", Noise(200_000, seed))),
        Layer(Dir("etc"), File("etc/hostname", "two\n"), Dir("usr"), File("usr/data", Noise(500_000, seed + 1))),
        Layer(Dir("opt"), File("opt/big", Noise(bigSize, seed + 2)), Symlink("opt/link", "big")),
    ], cmd: ["/bin/tool", "--serve"], env: ["PATH=/bin", "MODE=test"], workingDir: "/opt");

    private (ImageStore Store, RegistryClient Client) Open(RegistryOptions? options = null)
    {
        var store = new ImageStore(_root);
        return (store, new RegistryClient(store, options));
    }

    private sealed class Recorder : IProgress<PullProgress>
    {
        public ConcurrentQueue<PullProgress> Events { get; } = new();
        public Action<PullProgress>? OnEvent { get; set; }

        public void Report(PullProgress value)
        {
            Events.Enqueue(value);
            OnEvent?.Invoke(value);
        }

        public List<PullState> StatesOf(string id) => Events.Where(e => e.Id == id).Select(e => e.State).ToList();
    }

    [RootFact]
    public async Task Pull_by_tag_stores_config_layers_and_name()
    {
        if (Skip()) return;
        var image = ThreeLayers(1);
        var repo = Unique("test/three");
        fixture.Push(Registry, image, repo + ":v1");
        var (store, client) = Open();
        using var _ = client;
        var progress = new Recorder();

        var pulled = await client.PullAsync($"{Registry.Host}/{repo}:v1", progress);

        Assert.Equal($"{Registry.Host}/{repo}:v1", pulled.Reference);
        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        Assert.Equal(image.ConfigDigest, pulled.ImageId);
        Assert.Equal(image.Layers.Select(l => l.DiffId), pulled.DiffIds);
        Assert.Equal(3, pulled.Layers.Count);
        Assert.Equal(["/bin/tool", "--serve"], pulled.Config.Config!.Cmd!);
        Assert.Equal("/opt", pulled.Config.Config.WorkingDir);
        Assert.True(pulled.Size > 3 << 20);
        foreach (var l in image.Layers)
        {
            Assert.Equal(l.Blob, System.IO.File.ReadAllBytes(store.Content.PathOf(l.Digest)));
            Assert.Equal([PullState.Waiting, PullState.Downloading, PullState.Verifying, PullState.Extracting, PullState.Done],
                progress.StatesOf(l.Digest).Distinct());
        }

        var rootfs = store.RootfsFor($"{Registry.Host}/{repo}:v1");
        Assert.Equal(3, rootfs.LayerDirs.Count);
        Assert.Equal("ID=test1\n", System.IO.File.ReadAllText(Path.Combine(rootfs.LayerDirs[0], "etc/os-release")));
        Assert.Equal("two\n", System.IO.File.ReadAllText(Path.Combine(rootfs.LayerDirs[1], "etc/hostname")));
        Assert.Equal(Noise(3 << 20, 3), System.IO.File.ReadAllBytes(Path.Combine(rootfs.LayerDirs[2], "opt/big")));
        Assert.Equal(["PATH=/bin", "MODE=test"], rootfs.Config.Env!);
        Assert.Empty(Directory.GetFiles(store.Content.IngestDir));
    }

    [RootFact]
    public async Task Pull_by_digest_is_verified_and_named_by_digest()
    {
        if (Skip()) return;
        var image = ThreeLayers(10, bigSize: 1000);
        var repo = Unique("test/bydigest");
        fixture.Push(Registry, image, repo + ":latest");
        var (store, client) = Open();
        using var _ = client;

        var pulled = await client.PullAsync($"{Registry.Host}/{repo}@{image.ManifestDigest}");

        Assert.Equal($"{Registry.Host}/{repo}@{image.ManifestDigest}", pulled.Reference);
        Assert.Equal(image.ConfigDigest, store.Inspect($"{Registry.Host}/{repo}@{image.ManifestDigest}").ImageId);
        Assert.Null(store.TryInspect($"{Registry.Host}/{repo}:latest"));

        var wrong = "sha256:" + new string('0', 64);
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync($"{Registry.Host}/{repo}@{wrong}"));
        Assert.Equal(ImageError.NotFound, e.Kind);
        Assert.Contains("not found", e.Message);
    }

    [RootFact]
    public async Task Pull_of_an_index_picks_linux_amd64()
    {
        if (Skip()) return;
        var amd64 = Image([Layer(File("arch", "amd64"))], architecture: "amd64");
        var arm64 = Image([Layer(File("arch", "arm64"))], architecture: "arm64");
        var index = Index(arm64, amd64);
        var repo = Unique("test/multi");
        fixture.Push(Registry, index, repo + ":1");
        var (store, client) = Open();
        using var _ = client;

        var pulled = await client.PullAsync($"{Registry.Host}/{repo}:1");

        Assert.Equal(amd64.ManifestDigest, pulled.ManifestDigest);
        Assert.Equal(amd64.ConfigDigest, pulled.ImageId);
        Assert.Equal(index.Digest, pulled.IndexDigest);
        Assert.Equal("amd64", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor(pulled.Reference).LayerDirs[0], "arch")));
        Assert.False(store.Content.Exists(arm64.Layers[0].Digest));

        var armOnly = Unique("test/armonly");
        fixture.Push(Registry, Index(arm64), armOnly + ":1");
        var e = await Assert.ThrowsAsync<ImageException>(() => client.PullAsync($"{Registry.Host}/{armOnly}:1"));
        Assert.Equal(ImageError.PlatformNotFound, e.Kind);
        Assert.Contains("has no manifest for linux/amd64; it has: linux/arm64", e.Message);
    }

    [RootFact]
    public async Task Layers_shared_between_images_are_fetched_and_stored_once()
    {
        if (Skip()) return;
        var shared = Layer(Dir("base"), File("base/file", Noise(300_000, 77)));
        var a = Image([shared, Layer(File("a", "a"))]);
        var b = Image([shared, Layer(File("b", "b"))]);
        var repo = Unique("test/shared");
        fixture.Push(Registry, a, repo + ":a");
        fixture.Push(Registry, b, repo + ":b");
        using var proxy = new RegistryProxy(Registry.Host);
        var (store, client) = Open();
        using var _ = client;

        await client.PullAsync($"{proxy.Host}/{repo}:a");
        var progress = new Recorder();
        var pulledB = await client.PullAsync($"{proxy.Host}/{repo}:b", progress);

        Assert.Single(proxy.BlobRequests(shared.Digest));  // for image a only
        Assert.Equal([PullState.AlreadyExists], progress.StatesOf(shared.Digest));
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(_root, "layers")).Length);
        Assert.Equal(2, store.List().Count);
        Assert.Equal(store.Inspect($"{proxy.Host}/{repo}:a").Layers[0], pulledB.Layers[0]);
    }

    [RootFact]
    public async Task A_cut_download_resumes_with_Range_and_finished_layers_are_not_fetched_again()
    {
        if (Skip()) return;
        var image = ThreeLayers(20);
        var big = image.Layers[2];
        var repo = Unique("test/resume");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host) { CutDigest = big.Digest, CutAfter = big.Blob.Length / 2, Cuts = 1 };
        var reference = $"{proxy.Host}/{repo}:1";

        // first pull: no retries, so the cut ends it; one download at a time, so the layers
        // below are complete by then (in parallel, a failure cancels the others midway)
        var (store, client) = Open(new RegistryOptions { Attempts = 1, ParallelDownloads = 1 });
        using (client)
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync(reference));
            output.WriteLine("first pull: " + e.Message);
        }
        Assert.Null(store.TryInspect(reference));
        Assert.Equal(big.Blob.Length / 2, store.Content.PartialLength(big.Digest));
        Assert.False(store.Content.Exists(big.Digest));
        foreach (var small in image.Layers.Take(2)) Assert.True(store.Content.Exists(small.Digest));
        int before = proxy.Requests.Count;

        // second pull: only the rest of the big blob travels
        var (store2, client2) = Open();
        using (client2)
        {
            var pulled = await client2.PullAsync(reference);
            Assert.Equal(image.ConfigDigest, pulled.ImageId);
        }
        var after = proxy.Requests.Skip(before).ToList();
        var resumed = Assert.Single(after, r => r.Path.EndsWith(big.Digest, StringComparison.Ordinal));
        Assert.Equal($"bytes={big.Blob.Length / 2}-", resumed.Range);
        Assert.Equal(206, resumed.Status);
        Assert.Equal(big.Blob.Length - big.Blob.Length / 2, resumed.BodyBytes);
        foreach (var small in image.Layers.Take(2))
            Assert.DoesNotContain(after, r => r.Path.EndsWith(small.Digest, StringComparison.Ordinal));
        Assert.Equal(big.Blob, System.IO.File.ReadAllBytes(store2.Content.PathOf(big.Digest)));
        Assert.Empty(Directory.GetFiles(store2.Content.IngestDir));
    }

    [RootFact]
    public Task A_cut_connection_is_retried_within_the_pull_from_where_it_stopped() => CutAndRetried(layer: 2);

    [RootFact]
    public Task A_cut_base_layer_unpacked_while_downloading_is_retried_and_unpacked_once() => CutAndRetried(layer: 0);

    private async Task CutAndRetried(int layer)
    {
        if (Skip()) return;
        var image = Image(
        [
            Layer(Dir("base"), File("base/big", Noise(3 << 20, 31))),
            Layer(File("middle", Noise(100_000, 32))),
            Layer(Dir("opt"), File("opt/big", Noise(3 << 20, 33))),
        ]);
        var big = image.Layers[layer];
        var repo = Unique("test/retry");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host) { CutDigest = big.Digest, CutAfter = 1_000_000, Cuts = 1 };
        var (store, client) = Open();
        using var _ = client;

        var pulled = await client.PullAsync($"{proxy.Host}/{repo}:1");

        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        var requests = proxy.BlobRequests(big.Digest);
        Assert.Equal(2, requests.Count);
        Assert.Null(requests[0].Range);
        Assert.Equal("bytes=1000000-", requests[1].Range);
        Assert.Equal(big.Blob.Length, requests.Sum(r => r.BodyBytes));
        var dirs = store.RootfsFor(pulled.Reference).LayerDirs;
        Assert.Equal(Noise(3 << 20, 31), System.IO.File.ReadAllBytes(Path.Combine(dirs[0], "base/big")));
        Assert.Equal(Noise(3 << 20, 33), System.IO.File.ReadAllBytes(Path.Combine(dirs[2], "opt/big")));
    }

    [RootFact]
    public async Task A_base_layer_cut_in_one_pull_is_unpacked_from_partial_and_rest_in_the_next()
    {
        if (Skip()) return;
        var image = ThreeLayers(35);
        var base0 = image.Layers[0];
        var repo = Unique("test/replay");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host) { CutDigest = base0.Digest, CutAfter = base0.Blob.Length / 2, Cuts = 1 };
        var reference = $"{proxy.Host}/{repo}:1";
        var (store, client) = Open(new RegistryOptions { Attempts = 1 });
        using (client) await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync(reference));
        Assert.Equal(base0.Blob.Length / 2, store.Content.PartialLength(base0.Digest));
        Assert.Empty(store.Layers.List());   // the streamed import saw only half: nothing kept

        var (store2, client2) = Open();
        using (client2) await client2.PullAsync(reference);
        var second = proxy.BlobRequests(base0.Digest)[^1];
        Assert.Equal($"bytes={base0.Blob.Length / 2}-", second.Range);
        Assert.Equal("ID=test35\n", System.IO.File.ReadAllText(Path.Combine(store2.RootfsFor(reference).LayerDirs[0], "etc/os-release")));
        Assert.Equal(Noise(200_000, 35), System.IO.File.ReadAllBytes(Path.Combine(store2.RootfsFor(reference).LayerDirs[0], "bin/tool")));
    }

    [RootFact]
    public async Task Cancelling_mid_layer_keeps_the_partial_for_the_next_pull()
    {
        if (Skip()) return;
        var image = ThreeLayers(40, bigSize: 6 << 20);
        var big = image.Layers[2];
        var repo = Unique("test/cancel");
        fixture.Push(Registry, image, repo + ":1");
        var reference = $"{Registry.Host}/{repo}:1";
        var (store, client) = Open();
        using var _ = client;
        using var cts = new CancellationTokenSource();
        var progress = new Recorder
        {
            OnEvent = e => { if (e.Id == big.Digest && e.State == PullState.Downloading && e.Current > 0 && e.Current < e.Total) cts.Cancel(); },
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.PullAsync(reference, progress, cts.Token));
        long partial = store.Content.PartialLength(big.Digest);
        output.WriteLine($"partial after cancel: {partial} of {big.Blob.Length}");
        Assert.InRange(partial, 1, big.Blob.Length - 1);
        Assert.Null(store.TryInspect(reference));

        var resumed = new Recorder();
        await client.PullAsync(reference, resumed);
        var first = resumed.Events.First(e => e.Id == big.Digest && e.State == PullState.Downloading);
        Assert.True(first.Current >= partial, $"the resumed download starts at {first.Current}, the partial had {partial}");
        Assert.Equal(big.Blob, System.IO.File.ReadAllBytes(store.Content.PathOf(big.Digest)));
    }

    [RootFact]
    public Task A_corrupted_blob_is_refused_and_the_store_stays_consistent() => CorruptedBlob(victimLayer: 1);

    [RootFact]
    public Task A_corrupted_base_layer_unpacked_while_downloading_is_refused_too() => CorruptedBlob(victimLayer: 0);

    private async Task CorruptedBlob(int victimLayer)
    {
        if (Skip()) return;
        var image = ThreeLayers(50 + victimLayer);
        var victim = image.Layers[victimLayer];
        var repo = Unique("test/corrupt");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host) { CorruptDigest = victim.Digest, CorruptAt = victim.Blob.Length / 3 };
        var reference = $"{proxy.Host}/{repo}:1";
        var (store, client) = Open();
        using var _ = client;

        var e = await Assert.ThrowsAsync<ImageException>(() => client.PullAsync(reference));

        Assert.Equal(ImageError.DigestMismatch, e.Kind);
        Assert.Contains(victim.Digest, e.Message);
        Assert.Single(proxy.BlobRequests(victim.Digest)); // a mismatch is not retried
        Assert.Null(store.TryInspect(reference));
        Assert.Empty(store.List());
        Assert.False(store.Content.Exists(victim.Digest));
        Assert.Equal(0, store.Content.PartialLength(victim.Digest));
        var chains = ImageStore.Chains(OciJson.Read<ImageConfig>(image.Config, "c"), OciJson.Read<ImageManifest>(image.Manifest, "m"), "m");
        for (int i = victimLayer; i < chains.Count; i++) Assert.False(store.Layers.Exists(chains[i]));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_root, "tmp")));
        Assert.Empty(Directory.GetFiles(store.Content.IngestDir, "pin-*"));

        // what did verify (other blobs, the base layer) is only kept for a retry: prune takes it
        await store.PruneAsync();
        Assert.Empty(store.Content.List());
        Assert.Empty(store.Layers.List());
    }

    [RootFact]
    public async Task Two_pulls_of_one_image_at_once_download_each_blob_once()
    {
        if (Skip()) return;
        var image = ThreeLayers(70);
        var repo = Unique("test/twice");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host);
        var reference = $"{proxy.Host}/{repo}:1";
        var (store, one) = Open();
        var (_, two) = Open();
        using (one)
        using (two)
        {
            var pulls = await Task.WhenAll(one.PullAsync(reference), two.PullAsync(reference));
            Assert.Equal(pulls[0].Layers, pulls[1].Layers);
        }
        foreach (var layer in image.Layers) Assert.Single(proxy.BlobRequests(layer.Digest));
        Assert.Equal(3, store.Layers.List().Count);
        Assert.Single(store.List());
        Assert.Empty(Directory.GetFiles(store.Content.IngestDir));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_root, "tmp")));
    }

    [RootFact]
    public async Task Basic_auth_with_and_without_credentials()
    {
        if (Skip()) return;
        using var registry = new TestRegistry(basicAuth: true);
        var image = Image([Layer(File("secret", "x"))]);
        var repo = Unique("test/private");
        fixture.Push(registry, image, repo + ":1");
        var reference = $"{registry.Host}/{repo}:1";
        var (user, password) = registry.Credentials!.Value;

        var (_, anonymous) = Open();
        using (anonymous)
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => anonymous.PullAsync(reference));
            Assert.Equal(ImageError.Unauthorized, e.Kind);
            Assert.Contains("requires a user name and password", e.Message);
        }
        var (_, wrong) = Open(new RegistryOptions { Credentials = new Dictionary<string, RegistryCredential> { [registry.Host] = new(user, "nope") } });
        using (wrong)
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => wrong.PullAsync(reference));
            Assert.Equal(ImageError.Unauthorized, e.Kind);
        }
        var (store, right) = Open(new RegistryOptions { Credentials = new Dictionary<string, RegistryCredential> { [registry.Host] = new(user, password) } });
        using (right)
        {
            var pulled = await right.PullAsync(reference);
            Assert.Equal(image.ConfigDigest, pulled.ImageId);
        }
        Assert.Single(store.List());
    }

    [RootFact]
    public async Task Bearer_token_flow_anonymous_and_with_credentials()
    {
        if (Skip()) return;
        var image = ThreeLayers(60, bigSize: 1000);
        var repo = Unique("test/bearer");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host) { RequireBearer = true };
        var reference = $"{proxy.Host}/{repo}:1";

        var (store, client) = Open();
        using (client)
        {
            var pulled = await client.PullAsync(reference);
            Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        }
        // one token for the whole pull (manifest, config, 3 layers): cached per scope
        Assert.Equal(1, proxy.TokenRequests);
        Assert.Equal($"repository:{repo}:pull", Assert.Single(proxy.TokenScopes));
        Assert.All(proxy.Requests.Where(r => r.Path.Contains("/blobs/")), r => Assert.StartsWith("Bearer test-token-", r.Authorization));

        // a token service that wants credentials
        proxy.TokenCredentials = ("tok-user", "tok-pass");
        var (_, anonymous) = Open();
        using (anonymous)
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => anonymous.PullAsync(reference));
            Assert.Equal(ImageError.Unauthorized, e.Kind);
            Assert.Contains("refused anonymous access", e.Message);
        }
        var (_, withCredentials) = Open(new RegistryOptions
        {
            Credentials = new Dictionary<string, RegistryCredential> { [proxy.Host] = new("tok-user", "tok-pass") },
        });
        using (withCredentials) await withCredentials.PullAsync(reference);
        Assert.Single(store.List());
    }

    // ---- pull without unpacking, then UnpackAsync -------------------------------------------

    /// <summary>A 3-layer image whose base holds busybox (the host's /bin/busybox when installed,
    /// else bytes standing in for it) and sh; the upper layers as in <see cref="ThreeLayers"/>.</summary>
    private static TestImage BusyboxLike(int seed, int bigSize = 3 << 20)
    {
        var busybox = System.IO.File.Exists("/bin/busybox") ? System.IO.File.ReadAllBytes("/bin/busybox") : Noise(1 << 20, seed);
        return Image(
        [
            Layer(Dir("bin"), new Entry("bin/busybox", busybox, Mode: 0x1ed), Symlink("bin/sh", "busybox"),
                Dir("etc"), File("etc/os-release", $"ID=test{seed}\n")),
            Layer(Dir("etc"), File("etc/hostname", "two\n"), Dir("usr"), File("usr/data", Noise(500_000, seed + 1))),
            Layer(Dir("opt"), File("opt/big", Noise(bigSize, seed + 2)), Symlink("opt/link", "big")),
        ], cmd: ["/bin/sh"], env: ["PATH=/bin"]);
    }

    /// <summary>Pushes <paramref name="image"/> and pulls it with unpack: false.</summary>
    private async Task<(ImageStore Store, string Reference)> PulledNotUnpacked(TestImage image, string name)
    {
        var repo = Unique(name);
        fixture.Push(Registry, image, repo + ":1");
        var reference = $"{Registry.Host}/{repo}:1";
        var (store, client) = Open();
        using (client) await client.PullAsync(reference, unpack: false);
        Assert.False(store.IsUnpacked(store.Inspect(reference)));
        Assert.Empty(store.Layers.List());
        return (store, reference);
    }

    private static List<string> ChainsOf(TestImage image) =>
        ImageStore.Chains(OciJson.Read<ImageConfig>(image.Config, "c"), OciJson.Read<ImageManifest>(image.Manifest, "m"), "m");

    /// <summary>Nothing half-done is left: no import directory in tmp/, no pin, no lease, and
    /// every stored layer's parent is stored.</summary>
    private void AssertConsistent(ImageStore store)
    {
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_root, "tmp")));
        Assert.Empty(Directory.GetFiles(store.Content.IngestDir, "pin-*"));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "leases")));
        foreach (var layer in store.Layers.List())
            if (layer.Parent is not null) Assert.True(store.Layers.Exists(layer.Parent), $"layer {layer.ChainId} is stored without its parent {layer.Parent}");
    }

    [RootFact]
    public async Task Pull_without_unpacking_names_the_image_and_UnpackAsync_unpacks_it()
    {
        if (Skip()) return;
        var image = BusyboxLike(80);
        var repo = Unique("test/lazy");
        fixture.Push(Registry, image, repo + ":1");
        var reference = $"{Registry.Host}/{repo}:1";
        var (store, client) = Open();
        using var _ = client;
        var progress = new Recorder();

        var pulled = await client.PullAsync(reference, unpack: false, progress);

        // stored and named, the layer store untouched
        Assert.Equal(image.ManifestDigest, pulled.ManifestDigest);
        Assert.Equal(ChainsOf(image), pulled.Layers);
        Assert.Equal(image.ConfigDigest, Assert.Single(store.List()).ImageId);
        Assert.False(store.IsUnpacked(pulled));
        Assert.Equal(image.Layers.Sum(l => (long)l.Blob.Length), pulled.Size); // the blobs' sizes until unpacked
        foreach (var l in image.Layers)
        {
            Assert.Equal(l.Blob, System.IO.File.ReadAllBytes(store.Content.PathOf(l.Digest)));
            Assert.Equal([PullState.Waiting, PullState.Downloading, PullState.Verifying, PullState.Done], progress.StatesOf(l.Digest).Distinct());
        }
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_root, "layers")));
        AssertConsistent(store);
        var e = Assert.Throws<ImageException>(() => store.RootfsFor(reference));
        Assert.Equal(ImageError.NotFound, e.Kind);
        Assert.Contains("is not unpacked yet", e.Message);

        // a prune keeps a named image's blobs, unpacked or not
        var pruned = await store.PruneAsync();
        Assert.Empty(pruned.BlobsDeleted);
        Assert.Empty(pruned.LayersDeleted);
        Assert.True(store.Content.Exists(image.ManifestDigest));

        var unpacking = new Recorder();
        await store.UnpackAsync(reference, unpacking);

        var unpacked = store.Inspect(reference);
        Assert.True(store.IsUnpacked(unpacked));
        Assert.Equal(3, store.Layers.List().Count);
        Assert.Equal(unpacked.Layers.Sum(c => store.Layers.Get(c)!.Size), unpacked.Size);
        foreach (var l in image.Layers) Assert.Equal([PullState.Extracting, PullState.Done], unpacking.StatesOf(l.Digest));
        AssertConsistent(store);
        var rootfs = store.RootfsFor(reference);
        Assert.Equal(3, rootfs.LayerDirs.Count);
        Assert.Equal("ID=test80\n", System.IO.File.ReadAllText(Path.Combine(rootfs.LayerDirs[0], "etc/os-release")));
        Assert.Equal("busybox", new FileInfo(Path.Combine(rootfs.LayerDirs[0], "bin/sh")).LinkTarget);
        Assert.Equal(Noise(3 << 20, 82), System.IO.File.ReadAllBytes(Path.Combine(rootfs.LayerDirs[2], "opt/big")));

        // idempotent: nothing left to do
        var again = new Recorder();
        await store.UnpackAsync(reference, again);
        foreach (var l in image.Layers) Assert.Equal([PullState.AlreadyExists], again.StatesOf(l.Digest));
        Assert.Empty((await store.PruneAsync()).LayersDeleted);

        if (!System.IO.File.Exists("/bin/busybox"))
        {
            output.WriteLine("busybox-static is not installed: the unpacked image is not run");
            return;
        }
        var mnt = Path.Combine(_root, "mnt");
        Directory.CreateDirectory(mnt);
        var mount = Tools.Run("mount", ["-t", "overlay", "overlay", "-o", $"ro,lowerdir={string.Join(':', rootfs.LayerDirs.Reverse())}", mnt]);
        Assert.True(mount.ExitCode == 0, mount.ToString());
        try
        {
            var run = Tools.Run("chroot", [mnt, "/bin/sh", "-c", "busybox cat /etc/os-release /etc/hostname; busybox readlink /opt/link"],
                env: new Dictionary<string, string> { ["PATH"] = "/bin" });
            Assert.True(run.ExitCode == 0 && run.Stderr.Length == 0, run.ToString());
            Assert.Equal("ID=test80\ntwo\nbig\n", run.Stdout);
        }
        finally
        {
            Tools.Run("umount", [mnt]);
        }
    }

    [RootFact]
    public async Task A_pull_without_unpacking_resumes_a_cut_download_and_refuses_a_corrupted_blob()
    {
        if (Skip()) return;
        var image = ThreeLayers(94);
        var big = image.Layers[2];
        var repo = Unique("test/lazy-resume");
        fixture.Push(Registry, image, repo + ":1");
        using var proxy = new RegistryProxy(Registry.Host) { CutDigest = big.Digest, CutAfter = 1_000_000, Cuts = 1 };
        var (store, client) = Open();
        using (client)
        {
            var pulled = await client.PullAsync($"{proxy.Host}/{repo}:1", unpack: false);
            Assert.False(store.IsUnpacked(pulled));
        }
        var requests = proxy.BlobRequests(big.Digest);
        Assert.Equal(2, requests.Count);
        Assert.Equal("bytes=1000000-", requests[1].Range);
        Assert.Equal(big.Blob, System.IO.File.ReadAllBytes(store.Content.PathOf(big.Digest)));

        // a blob corrupted on the way: refused by its digest, the image not named, nothing of it kept
        var other = ThreeLayers(95, bigSize: 1000);
        var victim = other.Layers[1];
        var otherRepo = Unique("test/lazy-corrupt");
        fixture.Push(Registry, other, otherRepo + ":1");
        proxy.CorruptDigest = victim.Digest;
        proxy.CorruptAt = victim.Blob.Length / 3;
        var (_, client2) = Open();
        using (client2)
        {
            var e = await Assert.ThrowsAsync<ImageException>(() => client2.PullAsync($"{proxy.Host}/{otherRepo}:1", unpack: false));
            Assert.Equal(ImageError.DigestMismatch, e.Kind);
            Assert.Contains(victim.Digest, e.Message);
        }
        Assert.Null(store.TryInspect($"{proxy.Host}/{otherRepo}:1"));
        Assert.False(store.Content.Exists(victim.Digest));
        Assert.Equal(0, store.Content.PartialLength(victim.Digest));
        Assert.Empty(store.Layers.List());
        AssertConsistent(store);
    }

    [RootFact]
    public async Task A_pulled_not_unpacked_image_survives_prune_and_unpacks_after_it()
    {
        if (Skip()) return;
        var image = ThreeLayers(82, bigSize: 100_000);
        var (store, reference) = await PulledNotUnpacked(image, "test/prune-lazy");
        // an unnamed image's blobs next to it, for the prune to have something to take
        var other = Image([Layer(File("other", "x"))]);
        var (_, client) = Open();
        var otherRepo = Unique("test/other");
        fixture.Push(Registry, other, otherRepo + ":1");
        using (client) await client.PullAsync($"{Registry.Host}/{otherRepo}:1", unpack: false);
        store.Remove($"{Registry.Host}/{otherRepo}:1");

        var pruned = await store.PruneAsync();

        Assert.Equal(new[] { other.ManifestDigest, other.ConfigDigest, other.Layers[0].Digest }.Order(StringComparer.Ordinal), pruned.BlobsDeleted);
        foreach (var (digest, _) in image.Blobs()) Assert.True(store.Content.Exists(digest), $"prune took {digest}");
        await store.UnpackAsync(reference);
        Assert.True(store.IsUnpacked(store.Inspect(reference)));
        Assert.Equal("ID=test82\n", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor(reference).LayerDirs[0], "etc/os-release")));
        AssertConsistent(store);
    }

    [RootFact]
    public async Task Two_unpacks_of_one_image_at_once_both_succeed_with_one_set_of_layers()
    {
        if (Skip()) return;
        var image = ThreeLayers(84);
        var (store, reference) = await PulledNotUnpacked(image, "test/unpack-twice");
        var sameRootOtherStore = new ImageStore(_root); // as another process would open it

        await Task.WhenAll(store.UnpackAsync(reference), sameRootOtherStore.UnpackAsync(reference), store.UnpackAsync(reference));

        Assert.Equal(ChainsOf(image).Order(StringComparer.Ordinal), store.Layers.List().Select(l => l.ChainId));
        Assert.True(store.IsUnpacked(store.Inspect(reference)));
        Assert.Equal(Noise(3 << 20, 86), System.IO.File.ReadAllBytes(Path.Combine(store.RootfsFor(reference).LayerDirs[2], "opt/big")));
        AssertConsistent(store);
    }

    [RootFact]
    public async Task A_cancelled_unpack_leaves_the_store_consistent_and_the_next_one_finishes()
    {
        if (Skip()) return;
        var image = ThreeLayers(86, bigSize: 6 << 20);
        var chains = ChainsOf(image);
        var (store, reference) = await PulledNotUnpacked(image, "test/unpack-cancel");

        // cancelled while the base layer is being extracted: nothing is committed
        using (var cts = new CancellationTokenSource())
        {
            var progress = new Recorder { OnEvent = e => { if (e.State == PullState.Extracting) cts.Cancel(); } };
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.UnpackAsync(reference, progress, cts.Token));
        }
        Assert.Empty(store.Layers.List());
        AssertConsistent(store);

        // cancelled once the base layer is in: it stays, the layers above are not committed
        using (var cts = new CancellationTokenSource())
        {
            var progress = new Recorder { OnEvent = e => { if (e.State == PullState.Done) cts.Cancel(); } };
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.UnpackAsync(reference, progress, cts.Token));
        }
        Assert.Equal([chains[0]], store.Layers.List().Select(l => l.ChainId));
        Assert.False(store.IsUnpacked(store.Inspect(reference)));
        AssertConsistent(store);
        Assert.Empty((await store.PruneAsync()).BlobsDeleted); // still a whole, named image

        var rest = new Recorder();
        await store.UnpackAsync(reference, rest);
        Assert.Equal([PullState.AlreadyExists], rest.StatesOf(image.Layers[0].Digest));
        Assert.Equal([PullState.Extracting, PullState.Done], rest.StatesOf(image.Layers[2].Digest));
        Assert.True(store.IsUnpacked(store.Inspect(reference)));
        Assert.Equal(Noise(6 << 20, 88), System.IO.File.ReadAllBytes(Path.Combine(store.RootfsFor(reference).LayerDirs[2], "opt/big")));
        AssertConsistent(store);
    }

    [RootFact]
    public Task A_blob_damaged_on_disk_inside_the_deflate_stream_fails_the_unpack_naming_it() => DamagedBlobOnDisk(layer: 0, at: -1);

    /// <summary>A byte of the gzip header's MTIME: the layer would still decompress to the same
    /// tar with the same DiffID; only the blob's digest tells.</summary>
    [RootFact]
    public Task A_blob_damaged_on_disk_where_gzip_does_not_notice_fails_the_unpack_too() => DamagedBlobOnDisk(layer: 2, at: 5);

    private async Task DamagedBlobOnDisk(int layer, int at)
    {
        if (Skip()) return;
        var image = ThreeLayers(90 + layer);
        var chains = ChainsOf(image);
        var victim = image.Layers[layer];
        var (store, reference) = await PulledNotUnpacked(image, "test/unpack-damaged");
        var path = store.Content.PathOf(victim.Digest);
        var original = System.IO.File.ReadAllBytes(path);
        var damaged = original.ToArray();
        damaged[at < 0 ? damaged.Length / 2 : at] ^= 0x01;
        System.IO.File.WriteAllBytes(path, damaged);

        var e = await Assert.ThrowsAsync<ImageException>(() => store.UnpackAsync(reference));

        output.WriteLine(e.Message);
        Assert.Equal(ImageError.DigestMismatch, e.Kind);
        Assert.Contains(victim.Digest, e.Message);
        for (int i = layer; i < chains.Count; i++) Assert.False(store.Layers.Exists(chains[i]), $"layer {i} was created from a damaged blob");
        if (layer == 0) Assert.Empty(store.Layers.List());
        AssertConsistent(store);

        // the blob mended (a real store would pull it again), the unpack finishes
        System.IO.File.WriteAllBytes(path, original);
        await store.UnpackAsync(reference);
        Assert.True(store.IsUnpacked(store.Inspect(reference)));
        AssertConsistent(store);
    }

    [RootFact]
    public async Task Unknown_repository_or_tag_is_not_found_and_names_it()
    {
        if (Skip()) return;
        var (store, client) = Open();
        using var _ = client;
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync($"{Registry.Host}/no/such:tag"));
        Assert.Equal(ImageError.NotFound, e.Kind);
        Assert.Equal(404, e.StatusCode);
        Assert.Contains(e.ErrorCode, new[] { "NAME_UNKNOWN", "MANIFEST_UNKNOWN" });
        Assert.Contains($"manifest {Registry.Host}/no/such:tag", e.Message);
        Assert.Empty(store.List());
    }

    [RootFact]
    public async Task Nothing_listening_is_a_registry_error_not_a_hang()
    {
        if (Skip()) return;
        var (_, client) = Open();
        using var _ = client;
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync($"127.0.0.1:{TestRegistry.FreePort()}/x:y"));
        Assert.Equal(ImageError.Registry, e.Kind);
        Assert.Contains("cannot reach http://127.0.0.1:", e.Message);
    }
}
