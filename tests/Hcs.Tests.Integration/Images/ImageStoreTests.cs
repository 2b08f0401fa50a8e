using System.Runtime.InteropServices;
using System.Text;
using Hcs.Images.Images;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Images.TestImages;

namespace Hcs.Tests.Integration.Images;

/// <summary>
/// ImageStore on a real layer store (root: it applies owners, whiteouts and xattrs): OCI layout
/// import and export round trips (byte-exact, checked with skopeo when it is installed), docker
/// save import, names (tag, remove, ID prefixes), prune, commit of an overlay upper directory
/// into a layer chain that mounts and runs, and images whose layers are not unpacked yet.
/// </summary>
public sealed partial class ImageStoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine("/var/lib/hcs-it", "imagestore-" + Guid.NewGuid().ToString("N")[..8]);

    private string Root => Path.Combine(_dir, "store");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private static TestImage TwoLayers(int seed) => Image(
    [
        Layer(Dir("etc"), File("etc/motd", $"hello {seed}\n"), Dir("data"), File("data/a", Noise(100_000, seed))),
        Layer(Dir("data"), File("data/b", "b\n"), Symlink("data/c", "b")),
    ], cmd: ["/bin/sh", "-c", "echo hi"], workingDir: "/data");

    private string Layout(string name, params (string Tag, object ImageOrIndex)[] entries)
    {
        var dir = Path.Combine(_dir, name);
        WriteLayout(dir, entries);
        return dir;
    }

    private static void AssertSameBytes(string expectedFile, string actualFile) =>
        Assert.True(System.IO.File.ReadAllBytes(expectedFile).AsSpan().SequenceEqual(System.IO.File.ReadAllBytes(actualFile)), $"{actualFile} differs from {expectedFile}");

    [RootFact]
    public async Task Oci_layout_directory_round_trip_is_byte_exact()
    {
        var image = TwoLayers(1);
        var layout = Layout("in", ("v1", image));
        var store = new ImageStore(Root);

        var imported = Assert.Single(await store.ImportOciLayoutAsync(layout, "example.com/app"));
        Assert.Equal("example.com/app:latest", imported.Reference);
        Assert.Equal(image.ManifestDigest, imported.ManifestDigest);
        Assert.Equal(image.ConfigDigest, imported.ImageId);
        Assert.Equal("hello 1\n", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor("example.com/app").LayerDirs[0], "etc/motd")));

        var exported = Path.Combine(_dir, "out");
        await store.ExportOciLayoutAsync("example.com/app", exported);
        foreach (var (digest, _) in image.Blobs())
            AssertSameBytes(Path.Combine(layout, "blobs/sha256", digest[7..]), Path.Combine(exported, "blobs/sha256", digest[7..]));
        var index = OciJson.Read<ImageIndex>(System.IO.File.ReadAllBytes(Path.Combine(exported, "index.json")), "index");
        var entry = Assert.Single(index.Manifests);
        Assert.Equal(image.ManifestDigest, entry.Digest);
        Assert.Equal("latest", entry.Annotation(Annotations.RefName));
        Assert.Equal("example.com/app:latest", entry.Annotation(Annotations.ContainerdImageName));

        if (!Tools.Exists("skopeo"))
        {
            output.WriteLine("skopeo is not installed: the layout is not checked by a second reader");
            return;
        }
        var r = Tools.Run("skopeo", ["inspect", "--raw", $"oci:{exported}:latest"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(image.Manifest, Encoding.UTF8.GetBytes(r.Stdout.TrimEnd('\n')));
        r = Tools.Run("skopeo", ["inspect", "--config", "--raw", $"oci:{exported}:latest"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(image.ConfigDigest, Digest.Of(Encoding.UTF8.GetBytes(r.Stdout.TrimEnd('\n'))));
    }

    /// <summary>An archive of many small files past the in-memory budget (64 MiB): the extra ones
    /// go to the content store, documents among them are read back from it, the import works.</summary>
    [RootFact]
    public async Task An_archive_of_many_small_files_is_imported_without_holding_them_all_in_memory()
    {
        var image = TwoLayers(3);
        var layout = Layout("in", ("v1", image));
        var filler = Path.Combine(layout, "filler");
        Directory.CreateDirectory(filler);
        var megabyte = new byte[1 << 20];
        for (int i = 0; i < 70; i++)
        {
            megabyte[0] = (byte)i; // 70 different files: 70 MiB of small files before the documents
            System.IO.File.WriteAllBytes(Path.Combine(filler, $"f{i:D2}"), megabyte);
        }
        // the documents last in the tar, so they arrive after the budget is spent
        var tar = Path.Combine(_dir, "many.tar");
        var r = Tools.Run("tar", ["-C", layout, "-cf", tar, "filler", "blobs", "oci-layout", "index.json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var store = new ImageStore(Root);
        await using (var input = System.IO.File.OpenRead(tar))
            Assert.Equal(image.ManifestDigest, Assert.Single(await store.ImportArchiveAsync(input, "app:many")).ManifestDigest);
        Assert.Equal("hello 3\n", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor("app:many").LayerDirs[0], "etc/motd")));
        // the files past the budget went to disk (prune takes them, as nothing refers to them)
        Assert.True(store.Content.List().Count > image.Blobs().Count(), "every small file was held in memory");
        await store.PruneAsync();
        Assert.Equal(image.Blobs().Select(b => b.Item1).Order(), store.Content.List().Order());
    }

    [RootFact]
    public async Task Oci_layout_tar_round_trip_keeps_digests()
    {
        var image = TwoLayers(2);
        var layout = Layout("in", ("1.0", image));
        var tar = Path.Combine(_dir, "in.tar");
        TarDirectory(layout, tar);
        var store = new ImageStore(Root);

        await using (var input = System.IO.File.OpenRead(tar))
            Assert.Single(await store.ImportArchiveAsync(input, "app:1.0"));
        using var exported = new MemoryStream();
        await store.ExportOciLayoutAsync("app:1.0", exported);

        var other = new ImageStore(Path.Combine(_dir, "other"));
        exported.Position = 0;
        var again = Assert.Single(await other.ImportOciLayoutAsync(exported)); // names itself: io.containerd.image.name
        Assert.Equal("docker.io/library/app:1.0", again.Reference);
        Assert.Equal(image.ManifestDigest, again.ManifestDigest);
        Assert.Equal(image.ConfigDigest, again.ImageId);
        Assert.Equal(store.Inspect("app:1.0").Layers, again.Layers);

        // the same export twice is the same bytes
        using var second = new MemoryStream();
        await store.ExportOciLayoutAsync("app:1.0", second);
        Assert.Equal(exported.ToArray(), second.ToArray());
    }

    [RootFact]
    public async Task Layout_with_several_images_and_an_index()
    {
        var a = TwoLayers(3);
        var amd64 = Image([Layer(File("arch", "amd64"))], architecture: "amd64");
        var arm64 = Image([Layer(File("arch", "arm64"))], architecture: "arm64");
        var layout = Layout("multi", ("a", a), ("multi", Index(arm64, amd64)));
        var store = new ImageStore(Root);

        var e = await Assert.ThrowsAsync<ImageException>(() => store.ImportOciLayoutAsync(layout));
        Assert.Contains("only by tag \"a\": give a reference", e.Message);
        Assert.Empty(store.List());

        var picked = Assert.Single(await store.ImportOciLayoutAsync(layout, "registry.local/x:multi"));
        Assert.Equal(amd64.ManifestDigest, picked.ManifestDigest);
        Assert.NotNull(picked.IndexDigest);
        Assert.Equal("amd64", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor("registry.local/x:multi").LayerDirs[0], "arch")));

        e = await Assert.ThrowsAsync<ImageException>(() => store.ImportOciLayoutAsync(layout, "x:nope"));
        Assert.Equal(ImageError.NotFound, e.Kind);
        Assert.Contains("none named \"nope\"", e.Message);
    }

    [RootFact]
    public async Task A_layout_blob_that_does_not_match_its_digest_is_refused()
    {
        var image = TwoLayers(4);
        var layout = Layout("bad", ("v", image));
        var victim = Path.Combine(layout, "blobs/sha256", image.Layers[1].Digest[7..]);
        var bytes = System.IO.File.ReadAllBytes(victim);
        bytes[bytes.Length / 2] ^= 1;
        System.IO.File.WriteAllBytes(victim, bytes);
        var store = new ImageStore(Root);

        var e = await Assert.ThrowsAsync<ImageException>(() => store.ImportOciLayoutAsync(layout, "bad"));
        Assert.Equal(ImageError.DigestMismatch, e.Kind);
        Assert.Empty(store.List());
        Assert.False(store.Content.Exists(image.Layers[1].Digest));
        Assert.Empty(Directory.GetFiles(store.Content.IngestDir));
    }

    [RootFact]
    public async Task Docker_save_tarball_import()
    {
        var tars = new[]
        {
            Tar(Dir("etc"), File("etc/issue", "docker save\n")),
            Tar(Dir("etc"), File("etc/.wh.issue", ""), File("etc/other", "o\n")),
        };
        var image = Image([.. tars.Select(t => LayerFromTar(t, gzip: true))], docker: true);
        var archive = DockerSave(image, tars, "busybox:saved", "myrepo/app:2");
        var store = new ImageStore(Root);

        var imported = Assert.Single(await store.ImportDockerSaveAsync(new MemoryStream(archive)));

        Assert.Equal(image.ConfigDigest, imported.ImageId);  // the config's bytes are kept: same image ID as docker's
        Assert.Equal(["docker.io/library/busybox:saved", "docker.io/myrepo/app:2"], imported.Names);
        Assert.Equal(tars.Select(t => Digest.Of(t)), imported.LayerBlobs.Select(l => l.Digest)); // layers stored as the plain tars they were
        Assert.All(imported.LayerBlobs, l => Assert.Equal(MediaTypes.OciLayer, l.MediaType));
        var dirs = store.RootfsFor("myrepo/app:2").LayerDirs;
        Assert.Equal("docker save\n", System.IO.File.ReadAllText(Path.Combine(dirs[0], "etc/issue")));
        Assert.Equal(store.Inspect("busybox:saved").ManifestDigest, imported.ManifestDigest);

        // with a reference it is named by it alone
        var other = new ImageStore(Path.Combine(_dir, "other"));
        var renamed = Assert.Single(await other.ImportArchiveAsync(new MemoryStream(archive), "renamed:1"));
        Assert.Equal(["docker.io/library/renamed:1"], renamed.Names);
    }

    [RootFact]
    public async Task Tag_remove_inspect_by_id_and_prune()
    {
        var a = TwoLayers(5);
        var b = Image([a.Layers[0], Layer(File("only-b", "b"))]);
        var store = new ImageStore(Root);
        await store.ImportOciLayoutAsync(Layout("a", ("1", a)), "a");
        await store.ImportOciLayoutAsync(Layout("b", ("1", b)), "b");

        store.Tag("a", "host:5000/copy/of-a:v9");
        Assert.Equal(["docker.io/library/a:latest", "host:5000/copy/of-a:v9"], store.Inspect("a").Names);
        Assert.Equal(a.ConfigDigest, store.Inspect(a.ConfigDigest).ImageId);
        Assert.Equal(a.ConfigDigest, store.Inspect(a.ConfigDigest[7..19]).ImageId);
        Assert.Equal(2, store.List().Count);
        Assert.Equal(2, store.ImageChains().Count);

        Assert.Equal(["docker.io/library/a:latest"], store.Remove("a"));
        Assert.Equal(a.ManifestDigest, store.Inspect("host:5000/copy/of-a:v9").ManifestDigest);
        Assert.Equal(ImageError.NotFound, Assert.Throws<ImageException>(() => store.Inspect("a")).Kind);

        // nothing to prune while both images are named; the shared base layer is stored once
        var pruned = await store.PruneAsync();
        Assert.Empty(pruned.LayersDeleted);
        Assert.Empty(pruned.BlobsDeleted);
        Assert.Equal(3, store.Layers.List().Count);

        // removing by ID removes every name of it; prune then frees a's own layer and blobs only
        Assert.Equal(["host:5000/copy/of-a:v9"], store.Remove(a.ConfigDigest));
        pruned = await store.PruneAsync();
        Assert.Single(pruned.LayersDeleted);
        Assert.Equal(new[] { a.ManifestDigest, a.ConfigDigest, a.Layers[1].Digest }.Order(StringComparer.Ordinal), pruned.BlobsDeleted);
        Assert.True(pruned.SpaceReclaimed > 0);
        Assert.Equal(2, store.Layers.List().Count);
        Assert.Equal(b.ConfigDigest, store.Inspect("b").ImageId);
        Assert.NotEmpty(store.RootfsFor("b").LayerDirs);

        store.Remove("b");
        await store.PruneAsync();
        Assert.Empty(store.Layers.List());
        Assert.Empty(store.Content.List());
        Assert.Empty(store.ImageChains());
    }

    /// <summary>A store holding <paramref name="image"/> as a pull without unpacking leaves it:
    /// blobs and name, no layers (made by importing it elsewhere and copying blobs/ and
    /// images.json, which is all such a store has).</summary>
    private async Task<ImageStore> NotUnpacked(TestImage image, string name, string root)
    {
        var source = new ImageStore(Path.Combine(_dir, "source-" + Guid.NewGuid().ToString("N")[..6]));
        await source.ImportOciLayoutAsync(Layout("layout-" + Guid.NewGuid().ToString("N")[..6], ("1", image)), name);
        var blobs = Path.Combine(root, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var digest in source.Content.List()) System.IO.File.Copy(source.Content.PathOf(digest), Path.Combine(blobs, digest[7..]));
        System.IO.File.Copy(Path.Combine(source.Root, "images.json"), Path.Combine(root, "images.json"));
        var store = new ImageStore(root);
        Assert.Empty(store.Layers.List());
        return store;
    }

    [RootFact]
    public async Task An_image_whose_layers_are_not_unpacked_is_a_stored_image_until_UnpackAsync()
    {
        var image = TwoLayers(6);
        var store = await NotUnpacked(image, "lazy:1", Root);

        // listed, inspected (size: the blobs' until unpacked), tagged, exported byte for byte
        var info = Assert.Single(store.List());
        Assert.Equal(image.ConfigDigest, store.Inspect("lazy:1").ImageId);
        Assert.False(store.IsUnpacked(info));
        Assert.Equal(image.Layers.Sum(l => (long)l.Blob.Length), info.Size);
        store.Tag("lazy:1", "lazy:copy");
        Assert.Equal(["docker.io/library/lazy:1", "docker.io/library/lazy:copy"], store.Inspect("lazy:copy").Names);
        var exported = Path.Combine(_dir, "exported");
        await store.ExportOciLayoutAsync("lazy:1", exported);
        foreach (var (digest, bytes) in image.Blobs()) Assert.Equal(bytes, System.IO.File.ReadAllBytes(Path.Combine(exported, "blobs/sha256", digest[7..])));
        Assert.Contains("is not unpacked yet", Assert.Throws<ImageException>(() => store.RootfsFor("lazy:1")).Message);

        // a prune keeps it whole
        var pruned = await store.PruneAsync();
        Assert.Empty(pruned.BlobsDeleted);
        Assert.Empty(pruned.LayersDeleted);

        await store.UnpackAsync("lazy:copy");
        info = store.Inspect("lazy:1");
        Assert.True(store.IsUnpacked(info));
        Assert.Equal(info.Layers.Sum(c => store.Layers.Get(c)!.Size), info.Size);
        Assert.Equal("hello 6\n", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor("lazy:1").LayerDirs[0], "etc/motd")));
        Assert.Empty(Directory.GetFiles(Path.Combine(Root, "leases")));

        // removed, it goes with the next prune like any other
        store.Remove(info.ImageId);
        Assert.Empty(store.List());
        pruned = await store.PruneAsync();
        Assert.Equal(2, pruned.LayersDeleted.Count);
        Assert.Empty(store.Content.List());
    }

    [RootFact]
    public async Task Commit_on_a_base_that_is_not_unpacked_unpacks_it_first()
    {
        var image = TwoLayers(7);
        var store = await NotUnpacked(image, "lazy-base:1", Root);
        var upper = Path.Combine(_dir, "upper");
        Directory.CreateDirectory(upper);
        System.IO.File.WriteAllText(Path.Combine(upper, "new"), "new\n");

        var committed = await store.CommitAsync("lazy-base:1", upper, "lazy-commit:1");

        Assert.Equal(3, committed.Layers.Count);
        Assert.True(store.IsUnpacked(committed));
        Assert.True(store.IsUnpacked(store.Inspect("lazy-base:1")));
        Assert.Equal("new\n", System.IO.File.ReadAllText(Path.Combine(store.RootfsFor("lazy-commit:1").LayerDirs[2], "new")));
    }

    [RootFact]
    public async Task Commit_of_an_upper_dir_makes_a_layer_chain_that_mounts_and_runs()
    {
        if (!System.IO.File.Exists("/bin/busybox"))
        {
            output.WriteLine("SKIPPED: /bin/busybox (busybox-static) is not installed");
            return;
        }
        var busybox = System.IO.File.ReadAllBytes("/bin/busybox");
        var baseImage = Image([Layer(
            Dir("bin"), new Entry("bin/busybox", busybox, Mode: 0x1ed), Symlink("bin/sh", "busybox"),
            Dir("etc"), File("etc/hello", "base\n"), Dir("data"), File("data/old", "old\n"))],
            cmd: ["/bin/sh"], env: ["PATH=/bin"]);
        var store = new ImageStore(Root);
        await store.ImportOciLayoutAsync(Layout("base", ("1", baseImage)), "base:1");

        // an overlay upper dir as a container leaves it: a new file, a deletion, an opaque dir
        var upper = Path.Combine(_dir, "upper");
        Directory.CreateDirectory(Path.Combine(upper, "etc"));
        System.IO.File.WriteAllText(Path.Combine(upper, "etc/new"), "committed\n");
        Assert.Equal(0, Tools.Run("mknod", [Path.Combine(upper, "etc/hello"), "c", "0", "0"]).ExitCode);
        Directory.CreateDirectory(Path.Combine(upper, "data"));
        System.IO.File.WriteAllText(Path.Combine(upper, "data/fresh"), "fresh\n");
        Assert.Equal(0, SetXattr(Path.Combine(upper, "data"), "trusted.overlay.opaque", "y"u8.ToArray(), 1, 0));

        var committed = await store.CommitAsync("base:1", upper, "committed:1", new CommitOptions(Author: "tests", Comment: "a test commit"));

        Assert.Equal(2, committed.Layers.Count);
        Assert.Equal(store.Inspect("base:1").Layers[0], committed.Layers[0]);
        Assert.Equal(["/bin/sh"], committed.Config.Config!.Cmd!);     // the base's run defaults are kept
        Assert.Equal(2, committed.Config.RootFs.DiffIds.Count);
        var last = committed.Config.History![^1];
        Assert.Equal("hcs commit", last.CreatedBy);
        Assert.Equal("a test commit", last.Comment);
        Assert.Equal("tests", committed.Config.Author);
        Assert.Equal(MediaTypes.OciLayerGzip, committed.LayerBlobs[1].MediaType);
        Assert.Equal(committed.LayerBlobs[1].Digest, Digest.Of(System.IO.File.ReadAllBytes(store.Content.PathOf(committed.LayerBlobs[1].Digest))));

        // the chain mounts (lowerdir = top first) and runs
        var rootfs = store.RootfsFor("committed:1");
        Assert.Equal(2, rootfs.LayerDirs.Count);
        var mnt = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(mnt);
        var lower = string.Join(':', rootfs.LayerDirs.Reverse());
        var mount = Tools.Run("mount", ["-t", "overlay", "overlay", "-o", $"ro,lowerdir={lower}", mnt]);
        Assert.True(mount.ExitCode == 0, mount.ToString());
        try
        {
            var run = Tools.Run("chroot", [mnt, "/bin/sh", "-c", "busybox cat /etc/new; test -e /etc/hello || echo gone; busybox ls /data"],
                env: new Dictionary<string, string> { ["PATH"] = "/bin" });
            Assert.True(run.ExitCode == 0 && run.Stderr.Length == 0, run.ToString());
            Assert.Equal("committed\ngone\nfresh\n", run.Stdout);
        }
        finally
        {
            Tools.Run("umount", [mnt]);
        }

        // commit on nothing: a single-layer image
        var scratch = await store.CommitAsync(null, upper, "scratch-commit");
        Assert.Single(scratch.Layers);
        Assert.Equal(ImageStore.HostArchitecture(), scratch.Config.Architecture);

        // and it exports and re-imports with the same digests
        using var tar = new MemoryStream();
        await store.ExportOciLayoutAsync("committed:1", tar);
        tar.Position = 0;
        var again = Assert.Single(await new ImageStore(Path.Combine(_dir, "again")).ImportOciLayoutAsync(tar));
        Assert.Equal(committed.ManifestDigest, again.ManifestDigest);
        Assert.Equal(committed.Layers, again.Layers);
    }

    [LibraryImport("libc", EntryPoint = "setxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetXattr(string path, string name, byte[] value, nuint size, int flags);
}
