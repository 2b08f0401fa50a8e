// The layer store against the real kernel (root: owners, devices, trusted xattrs, overlay
// mounts): archives crafted here with TarWriter (or the store's own writer where xattr values
// must be bytes) are refused or applied, stacked with a real overlay mount, exported and
// imported again. docs/design/0006-layers-and-images.md.
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Hcs.Images.Archive;
using Hcs.Images.Layers;
using Hcs.Linux.Native;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Images;

public sealed class LayerStoreTests : IDisposable
{
    // <dir>/sentinel/store: the store's root sits in a directory that must stay as it is
    private readonly string _dir = Path.Combine("/var/tmp/hcs-tests", "layers-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly string _sentinel;
    private readonly string _storeRoot;
    private readonly List<string> _mounts = [];

    public LayerStoreTests()
    {
        _sentinel = Path.Combine(_dir, "sentinel");
        _storeRoot = Path.Combine(_sentinel, "store");
        Directory.CreateDirectory(_sentinel);
    }

    public void Dispose()
    {
        foreach (var m in _mounts) Libc.Umount2(m, 2 /* MNT_DETACH */);
        if (Directory.Exists(_dir)) LayerSyscalls.RemoveTree(LayerSyscalls.AT_FDCWD, _dir);
    }

    private LayerStore Store(string? root = null) => new(root ?? _storeRoot);

    // ---- refusals ------------------------------------------------------------------------------

    [RootFact]
    public Task Dot_dot_names_are_refused() =>
        AssertRefused(Tar(File("ok", "fine"), File("../x", "escaped")), "../x", "'..'");

    [RootFact]
    public Task Absolute_names_are_refused()
    {
        var target = $"/etc/hcs-layer-test-{Guid.NewGuid():N}";
        return AssertRefused(Tar(File(target, "escaped")), target, "absolute", () => Assert.False(System.IO.File.Exists(target)));
    }

    [RootFact]
    public Task Symlinks_climbing_out_are_refused() =>
        AssertRefused(Tar(Symlink("a", "../../.."), File("a/x", "escaped")), "a", "climbs above the layer root");

    [RootFact]
    public Task Entries_under_a_symlink_are_refused()
    {
        // an absolute target is a fine symlink, but nothing may be written through it
        var name = $"hcs-layer-test-{Guid.NewGuid():N}";
        return AssertRefused(Tar(Symlink("root", "/tmp"), File($"root/{name}", "escaped")), $"root/{name}", "symlink",
            () => Assert.False(System.IO.File.Exists($"/tmp/{name}")));
    }

    [RootFact]
    public Task Entries_under_a_relative_symlink_are_refused() =>
        AssertRefused(Tar(Dir("sub/"), Symlink("link", "sub"), File("link/x", "through")), "link/x", "symlink");

    [RootFact]
    public Task Hard_links_leaving_the_layer_are_refused() =>
        AssertRefused(Tar(HardLink("passwd", "../../etc/passwd")), "passwd", "leaves the layer");

    [RootFact]
    public Task Hard_links_to_absolute_paths_are_refused() =>
        AssertRefused(Tar(HardLink("passwd", "/etc/passwd")), "passwd", "leaves the layer");

    [RootFact]
    public Task Hard_links_to_missing_entries_are_refused() =>
        AssertRefused(Tar(File("a", "x"), HardLink("b", "not-there")), "b", "not in this layer");

    [RootFact]
    public Task Hard_links_through_a_symlink_are_refused() =>
        AssertRefused(Tar(Dir("d/"), File("d/f", "x"), Symlink("l", "d"), HardLink("h", "l/f")), "h", "through a symlink");

    [RootFact]
    public Task Hard_links_to_files_extracted_later_are_refused() =>
        AssertRefused(Tar(HardLink("h", "f"), File("f", "x")), "h", "not in this layer");

    [RootFact]
    public Task Device_nodes_are_refused() =>
        AssertRefused(Tar(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/null") { DeviceMajor = 1, DeviceMinor = 3 }), "dev/null", "device");

    [RootFact]
    public Task Whiteout_devices_in_the_archive_are_refused() =>
        AssertRefused(Tar(File("a", "x"), new PaxTarEntry(TarEntryType.CharacterDevice, "gone")), "gone", "device");

    [RootFact]
    public Task Block_devices_are_refused() =>
        AssertRefused(Tar(new PaxTarEntry(TarEntryType.BlockDevice, "sda") { DeviceMajor = 8 }), "sda", "device");

    [RootFact]
    public Task Forged_overlay_xattrs_are_refused() =>
        AssertRefused(Tar(new PaxTarEntry(TarEntryType.Directory, "dir/",
            new Dictionary<string, string> { ["SCHILY.xattr.trusted.overlay.opaque"] = "y" })), "dir/", "trusted.overlay.opaque");

    [RootFact]
    public Task Unknown_entry_types_are_refused() =>
        AssertRefused(WithTypeFlag(Tar(new UstarTarEntry(TarEntryType.RegularFile, "odd") { DataStream = new MemoryStream(new byte[10]) }), (byte)'Z'),
            "odd", "unsupported entry type");

    [RootFact]
    public Task Gnu_multivolume_entries_are_refused() =>
        AssertRefused(WithTypeFlag(Tar(new UstarTarEntry(TarEntryType.RegularFile, "part") { DataStream = new MemoryStream(new byte[10]) }), (byte)'M'),
            "part", "unsupported entry type");

    [RootFact]
    public Task Sparse_entries_are_refused() =>
        AssertRefused(WithTypeFlag(Tar(new UstarTarEntry(TarEntryType.RegularFile, "sparse") { DataStream = new MemoryStream(new byte[10]) }), (byte)'S'),
            null, "SparseFile");

    [RootFact]
    public Task Truncated_gzip_is_refused()
    {
        var big = RandomNumberGenerator.GetBytes(1 << 20);
        var gz = Gzip(Tar(File("first", "x"), File("big", big), File("after", "y")));
        return AssertRefused(gz[..(gz.Length / 2)], "big", "truncated");
    }

    [RootFact]
    public Task Gzip_cut_between_entries_is_refused()
    {
        // the deflate data stops exactly after a whole entry: only the missing end marker tells
        var tar = Tar(File("first", "x"), File("second", "y"));
        int end = tar.Length;
        while (end > 0 && tar.AsSpan(end - 512, 512).IndexOfAnyExcept((byte)0) < 0) end -= 512;
        return AssertRefused(Gzip(tar[..end]), "second", "end-of-archive");
    }

    [RootFact]
    public Task Corrupt_zstd_is_refused()
    {
        var zst = Zstd(Tar(File("big", RandomNumberGenerator.GetBytes(256 << 10)), File("b", "y")));
        for (int i = zst.Length / 2; i < zst.Length / 2 + 64; i++) zst[i] ^= 0x5a;
        return AssertRefused(zst, null, "corrupt");
    }

    [RootFact]
    public Task Wrong_expected_diff_id_is_refused() =>
        AssertRefused(Tar(File("a", "x")), null, "digest mismatch", expectedDiffId: "sha256:" + new string('0', 64));

    [RootFact]
    public async Task Unknown_parents_are_refused()
    {
        var store = Store();
        var e = await Assert.ThrowsAsync<LayerException>(() => store.ImportAsync(new MemoryStream(Tar(File("a", "x"))), "sha256:" + new string('1', 64)));
        Assert.Contains("parent", e.Message);
        AssertStoreEmpty(store);
    }

    [RootFact]
    public async Task Cancelled_imports_leave_nothing()
    {
        var store = Store();
        var tar = Gzip(RichArchive(extraFiles: 2000));
        foreach (var delayMs in new[] { 0, 5, 30 })
        {
            using var cts = new CancellationTokenSource();
            if (delayMs == 0) cts.Cancel();
            else cts.CancelAfter(delayMs);
            try
            {
                await store.ImportAsync(new MemoryStream(tar), null, ct: cts.Token);
                continue; // finished before the cancellation: nothing to check for this delay
            }
            catch (OperationCanceledException)
            {
            }
            AssertStoreEmpty(store);
        }
    }

    // ---- imports -------------------------------------------------------------------------------

    [RootFact]
    public async Task Gzip_zstd_and_plain_imports_give_the_same_tree_and_diff_id()
    {
        var tar = RichArchive();
        var expectedDiffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
        var layers = new List<LayerInfo>();
        foreach (var (kind, bytes) in new[] { ("plain", tar), ("gzip", Gzip(tar)), ("zstd", Zstd(tar)) })
        {
            var store = Store(Path.Combine(_dir, kind));
            layers.Add(await store.ImportAsync(new MemoryStream(bytes), null, expectedDiffId));
        }
        Assert.All(layers, l => Assert.Equal(expectedDiffId, l.DiffId));
        Assert.All(layers, l => Assert.Equal(expectedDiffId, l.ChainId));
        var trees = layers.Select(l => Snapshot(l.DiffPath)).ToList();
        Assert.Equal(trees[0], trees[1]);
        Assert.Equal(trees[0], trees[2]);
        Assert.Contains("etc/hosts", trees[0].Keys);
    }

    [RootFact]
    public async Task Owners_modes_setuid_mtimes_and_xattrs_are_applied()
    {
        byte[] capability = [0x01, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var mtime = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero).ToUnixTimeSeconds();
        var archive = new MemoryStream();
        var w = new TarArchiveWriter(archive);
        await w.WriteHeaderAsync(new TarHeader { Name = "bin/", Type = (byte)'5', Mode = 0b010_111_101_101, Uid = 0, Gid = 50, MtimeSeconds = mtime }, default);
        await w.WriteHeaderAsync(new TarHeader
        {
            Name = "bin/su", Type = (byte)'0', Mode = 0b100_111_101_101, Uid = 1234, Gid = 5678, Size = 4, MtimeSeconds = mtime + 1,
            Xattrs = new Dictionary<string, byte[]> { ["security.capability"] = capability, ["user.bin"] = [0xff, 0x00, 0x01] },
        }, default);
        await w.WriteDataAsync("#!su"u8.ToArray(), default);
        await w.EndEntryAsync(default);
        await w.WriteHeaderAsync(new TarHeader { Name = "tmp/", Type = (byte)'5', Mode = 0b001_111_111_111, MtimeSeconds = mtime + 2 }, default);
        await w.WriteHeaderAsync(new TarHeader { Name = "bin/sh", Type = (byte)'2', LinkName = "/bin/busybox", Uid = 7, Gid = 8, MtimeSeconds = mtime + 3 }, default);
        await w.WriteHeaderAsync(new TarHeader { Name = "bin/sh2", Type = (byte)'1', LinkName = "bin/su" }, default);
        await w.WriteHeaderAsync(new TarHeader { Name = "run/fifo", Type = (byte)'6', Mode = 0b110_100_000, Uid = 3, Gid = 4, MtimeSeconds = mtime + 4 }, default);
        await w.FinishAsync(default);

        var layer = await Store().ImportAsync(new MemoryStream(archive.ToArray()), null);
        var d = layer.DiffPath;
        var bin = Stat(d, "bin");
        Assert.Equal((0u, 50u, 0b010_111_101_101), (bin.Uid, bin.Gid, bin.Mode & 0xFFF));
        Assert.Equal(mtime, bin.MtimeSec); // set after its children were made
        var su = Stat(d, "bin/su");
        Assert.Equal((1234u, 5678u, 0b100_111_101_101), (su.Uid, su.Gid, su.Mode & 0xFFF)); // setuid survives chown
        Assert.Equal(mtime + 1, su.MtimeSec);
        Assert.Equal(2u, su.Nlink); // bin/sh2
        var xattrs = LayerSyscalls.ListXattrs(-1, Path.Combine(d, "bin/su"));
        Assert.Equal(capability, xattrs["security.capability"]);
        Assert.Equal(new byte[] { 0xff, 0x00, 0x01 }, xattrs["user.bin"]);
        Assert.Equal(0b001_111_111_111, Stat(d, "tmp").Mode & 0xFFF);
        var sh = Stat(d, "bin/sh");
        Assert.Equal((LayerSyscalls.S_IFLNK, 7u, 8u, mtime + 3), (sh.Type, sh.Uid, sh.Gid, sh.MtimeSec));
        Assert.Equal("/bin/busybox", LayerSyscalls.ReadLink(LayerSyscalls.AT_FDCWD, Path.Combine(d, "bin/sh")));
        var fifo = Stat(d, "run/fifo");
        Assert.Equal((LayerSyscalls.S_IFIFO, 3u, 4u, 0b110_100_000, mtime + 4), (fifo.Type, fifo.Uid, fifo.Gid, fifo.Mode & 0xFFF, fifo.MtimeSec));
        var run = Stat(d, "run"); // made because the archive did not list it
        Assert.Equal((0u, 0u, 0b111_101_101), (run.Uid, run.Gid, run.Mode & 0xFFF));
        Assert.Equal(4L, layer.Size);
    }

    [RootFact]
    public async Task Later_entries_replace_earlier_ones()
    {
        var layer = await Store().ImportAsync(new MemoryStream(Tar(
            File("a", "first"), File("a", "second"),
            Dir("d/"), File("d/x", "x"), File("d", "now a file"),
            File("f", "file"), Dir("f/"), File("f/y", "y"),
            File("h", "old"), HardLink("h2", "h"), File("h", "new"))), null);
        var d = layer.DiffPath;
        Assert.Equal("second", System.IO.File.ReadAllText(Path.Combine(d, "a")));
        Assert.Equal("now a file", System.IO.File.ReadAllText(Path.Combine(d, "d")));
        Assert.Equal("y", System.IO.File.ReadAllText(Path.Combine(d, "f/y")));
        // the replaced name got a new inode: the earlier hard link keeps the old content
        Assert.Equal("new", System.IO.File.ReadAllText(Path.Combine(d, "h")));
        Assert.Equal("old", System.IO.File.ReadAllText(Path.Combine(d, "h2")));
    }

    [RootFact]
    public async Task Whiteouts_and_opaque_dirs_become_overlay_form_and_mount_as_such()
    {
        var store = Store();
        var parent = await store.ImportAsync(new MemoryStream(Tar(
            File("keep", "k"), File("gone", "g"), Dir("dir/"), File("dir/old", "o"), Dir("dir2/"), File("dir2/x", "x"), File("dir2/y", "y"))), null);
        var child = await store.ImportAsync(new MemoryStream(Tar(
            File(".wh.gone", ""), Dir("dir/"), File("dir/.wh..wh..opq", ""), File("dir/new", "n"),
            File("dir2/.wh.x", ""), File(".wh..wh.plnk", ""), File("later", "l"), File(".wh.later", ""))), parent.ChainId);

        Assert.Equal(LayerStore.ChainId(parent.ChainId, child.DiffId), child.ChainId);
        Assert.Equal(parent.ChainId, child.Parent);
        var gone = Stat(child.DiffPath, "gone");
        Assert.Equal((LayerSyscalls.S_IFCHR, 0u, 0u), (gone.Type, gone.RdevMajor, gone.RdevMinor));
        Assert.Equal("y"u8.ToArray(), LayerSyscalls.ListXattrs(-1, Path.Combine(child.DiffPath, "dir"))["trusted.overlay.opaque"]);
        Assert.Equal(LayerSyscalls.S_IFCHR, Stat(child.DiffPath, "dir2/x").Type);
        Assert.Equal(LayerSyscalls.S_IFCHR, Stat(child.DiffPath, "later").Type); // whited out after it was extracted
        Assert.False(Path.Exists(Path.Combine(child.DiffPath, ".wh..wh.plnk")));
        Assert.False(Path.Exists(Path.Combine(child.DiffPath, ".wh.gone")));

        var lowers = store.LowerDirs(child.ChainId);
        Assert.Equal([child.DiffPath, parent.DiffPath], lowers);
        var merged = Mount($"lowerdir={string.Join(':', lowers)}");
        Assert.Equal("k", System.IO.File.ReadAllText(Path.Combine(merged, "keep")));
        Assert.False(Path.Exists(Path.Combine(merged, "gone")));
        Assert.False(Path.Exists(Path.Combine(merged, "later")));
        Assert.Equal(["new"], Directory.GetFileSystemEntries(Path.Combine(merged, "dir")).Select(Path.GetFileName));
        Assert.Equal(["y"], Directory.GetFileSystemEntries(Path.Combine(merged, "dir2")).Select(Path.GetFileName));
    }

    [RootFact]
    public async Task Export_of_an_upper_dir_round_trips_with_its_whiteouts()
    {
        var store = Store();
        var parent = await store.ImportAsync(new MemoryStream(RichArchive()), null);
        // changes made through a real overlay mount, as a container makes them
        var upper = Path.Combine(_dir, "upper");
        var work = Path.Combine(_dir, "work");
        Directory.CreateDirectory(upper);
        Directory.CreateDirectory(work);
        var merged = Mount($"lowerdir={parent.DiffPath},upperdir={upper},workdir={work},metacopy=off,redirect_dir=off");
        System.IO.File.Delete(Path.Combine(merged, "etc/hosts"));                         // whiteout
        Directory.Delete(Path.Combine(merged, "usr/share"), recursive: true);             // opaque dir ...
        Directory.CreateDirectory(Path.Combine(merged, "usr/share"));
        System.IO.File.WriteAllText(Path.Combine(merged, "usr/share/new"), "fresh");       // ... with new content
        System.IO.File.WriteAllText(Path.Combine(merged, "etc/motd"), "changed");          // copy-up
        System.IO.File.WriteAllBytes(Path.Combine(merged, "big"), RandomNumberGenerator.GetBytes(3 << 20));
        System.IO.File.CreateSymbolicLink(Path.Combine(merged, "etc/link"), "../big");
        System.IO.File.WriteAllText(Path.Combine(merged, "a1"), "linked");
        Assert.Equal(0, Tools.Run("ln", [Path.Combine(merged, "a1"), Path.Combine(merged, "a2")]).ExitCode);
        Assert.Equal(0, Tools.Run("chown", ["321:654", Path.Combine(merged, "a1")]).ExitCode);
        Assert.Equal(0, Tools.Run("chmod", ["4711", Path.Combine(merged, "a1")]).ExitCode);
        SetXattr(Path.Combine(merged, "big"), "user.blob", [0x80, 0x00, 0xfe]);
        Unmount(merged);

        var tar = new MemoryStream();
        await store.ExportChangesAsync(upper, tar);
        var names = TarNames(tar.ToArray());
        Assert.Contains("etc/.wh.hosts", names);
        Assert.Contains("usr/share/.wh..wh..opq", names);
        Assert.Equal(names.IndexOf("usr/share/") + 1, names.IndexOf("usr/share/.wh..wh..opq"));
        Assert.True(names.IndexOf("a1") < names.IndexOf("a2") && names.IndexOf("a2") < names.IndexOf("big"), "ordinal order");

        var child = await store.ImportAsync(new MemoryStream(tar.ToArray()), parent.ChainId);
        Assert.Equal(Snapshot(upper), Snapshot(child.DiffPath));

        // the same bytes again: deterministic export
        var again = new MemoryStream();
        await store.ExportChangesAsync(upper, again);
        Assert.Equal(tar.ToArray(), again.ToArray());
    }

    [RootFact]
    public async Task Export_of_a_stored_layer_imports_to_the_same_tree()
    {
        var layer = await Store().ImportAsync(new MemoryStream(Gzip(RichArchive())), null);
        var tar = new MemoryStream();
        await Store().ExportLayerAsync(layer.ChainId, tar);
        var copy = await Store(Path.Combine(_dir, "copy")).ImportAsync(new MemoryStream(tar.ToArray()), null);
        Assert.Equal(Snapshot(layer.DiffPath), Snapshot(copy.DiffPath));
    }

    [RootFact]
    public async Task Concurrent_imports_of_one_layer_store_it_once()
    {
        var tar = Gzip(RichArchive(extraFiles: 300));
        var stores = new[] { Store(), Store() }; // two openings, as two processes would have
        var results = await Task.WhenAll(stores.Select(s => Task.Run(() => s.ImportAsync(new MemoryStream(tar), null))));
        Assert.Equal(results[0], results[1]);
        Assert.Single(Directory.GetDirectories(Path.Combine(_storeRoot, "layers")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_storeRoot, "tmp")));
        Assert.Single(Store().List());
    }

    [RootFact]
    public async Task Prune_removes_what_no_image_or_lease_holds()
    {
        var store = Store();
        var a = await store.ImportAsync(new MemoryStream(Tar(File("a", "a"))), null);
        var b = await store.ImportAsync(new MemoryStream(Tar(File("b", "b"))), a.ChainId);
        var c = await store.ImportAsync(new MemoryStream(Tar(File("c", "c"))), null);
        var d = await store.ImportAsync(new MemoryStream(Tar(File("d", "d"))), null);
        var keptBlob = WriteBlob("kept");
        var loseBlob = WriteBlob("lost");
        store.Lease("container-1", [b.ChainId]); // holds a below it too
        string[][] images = [[c.ChainId]];

        var counts = store.ReferenceCounts(images);
        Assert.Equal(1, counts[a.ChainId]);
        Assert.Equal(1, counts[b.ChainId]);
        Assert.Equal(1, counts[c.ChainId]);
        Assert.Equal(0, counts[d.ChainId]);
        Assert.Equal(2, store.ReferenceCounts([[c.ChainId], [c.ChainId]])[c.ChainId]);

        var first = store.Prune(images, [keptBlob]);
        Assert.Equal([d.ChainId], first.RemovedLayers);
        Assert.Equal([loseBlob], first.RemovedBlobs);
        Assert.True(store.Exists(a.ChainId) && store.Exists(b.ChainId) && store.Exists(c.ChainId));
        Assert.False(store.Exists(d.ChainId));
        Assert.True(System.IO.File.Exists(Path.Combine(_storeRoot, "blobs/sha256", keptBlob[7..])));

        store.Release("container-1");
        var second = store.Prune(images);
        Assert.Equal(new[] { a.ChainId, b.ChainId }.Order(StringComparer.Ordinal), second.RemovedLayers.Order(StringComparer.Ordinal));
        Assert.Empty(second.RemovedBlobs);
        Assert.Equal([c.ChainId], store.List().Select(l => l.ChainId));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_storeRoot, "tmp")));

        Assert.Throws<LayerException>(() => store.Lease("container-2", [d.ChainId])); // gone
    }

    [RootFact]
    public void Opening_the_store_empties_tmp()
    {
        Store();
        var junk = Path.Combine(_storeRoot, "tmp", "import-crashed");
        Directory.CreateDirectory(Path.Combine(junk, "diff", "usr"));
        System.IO.File.WriteAllText(Path.Combine(junk, "diff", "usr", "x"), "x");
        Store();
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_storeRoot, "tmp")));
        foreach (var dir in new[] { "layers", "blobs/sha256", "ingest", "leases" })
            Assert.True(Directory.Exists(Path.Combine(_storeRoot, dir)), dir);
        Assert.True(System.IO.File.Exists(Path.Combine(_storeRoot, "lock")));
    }

    // ---- helpers -------------------------------------------------------------------------------

    /// <summary>Imports <paramref name="archive"/> and asserts the refusal: a LayerException
    /// naming <paramref name="entry"/> (when given) and <paramref name="problem"/>, nothing left
    /// in layers/ or tmp/, nothing new beside the store.</summary>
    private async Task AssertRefused(byte[] archive, string? entry, string problem, Action? alsoCheck = null, string? expectedDiffId = null)
    {
        var store = Store();
        var before = Directory.GetFileSystemEntries(_sentinel, "*", SearchOption.AllDirectories).Order().ToList();
        var e = await Assert.ThrowsAsync<LayerException>(() => store.ImportAsync(new MemoryStream(archive), null, expectedDiffId));
        if (entry is not null)
        {
            Assert.Equal(entry, e.Entry);
            Assert.Contains($"\"{entry}\"", e.Message);
        }
        Assert.True(e.Message.Contains(problem), $"\"{problem}\" not in: {e.Message}");
        AssertStoreEmpty(store);
        var after = Directory.GetFileSystemEntries(_sentinel, "*", SearchOption.AllDirectories).Order().ToList();
        Assert.Equal(before, after);
        Assert.Equal(["store"], Directory.GetFileSystemEntries(_sentinel).Select(Path.GetFileName));
        alsoCheck?.Invoke();
    }

    private void AssertStoreEmpty(LayerStore store)
    {
        Assert.Empty(store.List());
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_storeRoot, "layers")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_storeRoot, "tmp")));
    }

    /// <summary>A layer with a bit of everything: dirs, files with owners and modes, symlinks,
    /// a hard link, a fifo, an xattr, a long name, fractional mtimes.</summary>
    private static byte[] RichArchive(int extraFiles = 20)
    {
        var entries = new List<TarEntry>
        {
            Dir("./"),
            Dir("etc/"),
            File("etc/hosts", "127.0.0.1 localhost\n"),
            File("etc/motd", "hello\n", mode: 0b110_100_100),
            new PaxTarEntry(TarEntryType.RegularFile, "etc/shadow", new Dictionary<string, string> { ["SCHILY.xattr.user.kind"] = "secret" })
                { DataStream = new MemoryStream("root:*:1::::::\n"u8.ToArray()), Mode = (UnixFileMode)0b110_100_000, Gid = 42 },
            Dir("usr/"), Dir("usr/bin/"),
            File("usr/bin/tool", "#!/bin/sh\n", mode: 0b111_101_101, uid: 1000, gid: 1000),
            HardLink("usr/bin/tool2", "usr/bin/tool"),
            Symlink("usr/bin/sh", "/bin/busybox"),
            Symlink("usr/bin/rel", "../share/doc"),
            Dir("usr/share/"), Dir("usr/share/doc/"),
            new PaxTarEntry(TarEntryType.Fifo, "usr/share/fifo") { Mode = (UnixFileMode)0b110_110_110 },
            File("usr/share/doc/" + new string('x', 180), "long name"),
        };
        for (int i = 0; i < extraFiles; i++)
            entries.Add(File($"usr/share/doc/f{i:D4}", RandomNumberGenerator.GetBytes(i * 97 % 5000)));
        foreach (var e in entries)
            if (e.ModificationTime == default || e.ModificationTime > DateTimeOffset.UtcNow.AddDays(-1))
                e.ModificationTime = new DateTimeOffset(2020, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234567);
        return Tar([.. entries]);
    }

    private static TarEntry File(string name, string content, int mode = 0b110_100_100, int uid = 0, int gid = 0) =>
        File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid);

    private static TarEntry File(string name, byte[] content, int mode = 0b110_100_100, int uid = 0, int gid = 0) =>
        new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content), Mode = (UnixFileMode)mode, Uid = uid, Gid = gid };

    private static TarEntry Dir(string name) => new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)0b111_101_101 };

    private static TarEntry Symlink(string name, string target) => new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target };

    private static TarEntry HardLink(string name, string target) => new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target };

    private static byte[] Tar(params TarEntry[] entries)
    {
        var ms = new MemoryStream();
        using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var e in entries) w.WriteEntry(e);
        return ms.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    private static byte[] Zstd(byte[] data)
    {
        var ms = new MemoryStream();
        using (var compressor = new ZstdSharp.Compressor(3))
        {
            // with the frame checksum, as the zstd CLI writes it: corruption is then always caught
            compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            using var z = new ZstdSharp.CompressionStream(ms, compressor, leaveOpen: true);
            z.Write(data);
        }
        return ms.ToArray();
    }

    /// <summary>The archive with its first header's type flag replaced (checksum redone): the
    /// entry types TarWriter will not write.</summary>
    private static byte[] WithTypeFlag(byte[] tar, byte type)
    {
        tar[156] = type;
        tar.AsSpan(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in tar.AsSpan(0, 512)) sum += b;
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0')).CopyTo(tar, 148);
        tar[154] = 0;
        return tar;
    }

    private static List<string> TarNames(byte[] tar)
    {
        var names = new List<string>();
        using var r = new TarReader(new MemoryStream(tar));
        while (r.GetNextEntry() is { } e) names.Add(e.Name);
        return names;
    }

    private string WriteBlob(string content)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        var hex = Convert.ToHexStringLower(SHA256.HashData(bytes));
        System.IO.File.WriteAllBytes(Path.Combine(_storeRoot, "blobs/sha256", hex), bytes);
        return "sha256:" + hex;
    }

    private string Mount(string options)
    {
        var target = Path.Combine(_dir, "mnt-" + _mounts.Count);
        Directory.CreateDirectory(target);
        var r = Tools.Run("mount", ["-t", "overlay", "overlay", "-o", options, target]);
        Assert.True(r.ExitCode == 0, "mount -t overlay failed:\n" + r);
        _mounts.Add(target);
        return target;
    }

    private void Unmount(string target)
    {
        Libc.Check(Libc.Umount2(target, 0), $"umount {target}");
        _mounts.Remove(target);
    }

    private static LayerSyscalls.Statx Stat(string dir, string name)
    {
        Libc.Check(LayerSyscalls.StatAt(LayerSyscalls.AT_FDCWD, Path.Combine(dir, name), out var st), $"stat {name}");
        return st;
    }

    private static void SetXattr(string path, string name, byte[] value) =>
        Libc.Check(LayerSyscalls.SetXattrNoFollow(path, name, value), $"setxattr {name}");

    /// <summary>What a layer's tree says, path → description: type, owner, mode, whole-second
    /// mtime, content hash, link target, link count, xattrs a layer carries (user.*, security.*,
    /// trusted.overlay.opaque). A whiteout is only "whiteout" (overlay shares one inode among
    /// them; its owner and times mean nothing). Directory sizes are the file system's business.</summary>
    private static SortedDictionary<string, string> Snapshot(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void Walk(string rel)
        {
            foreach (var entry in Directory.GetFileSystemEntries(Path.Combine(root, rel)).Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(entry);
                var path = rel.Length == 0 ? name : rel + "/" + name;
                var st = Stat(root, path);
                if (st.Type == LayerSyscalls.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0)
                {
                    result[path] = "whiteout";
                    continue;
                }
                var xattrs = LayerSyscalls.ListXattrs(-1, entry)
                    .Where(x => x.Key.StartsWith("user.") || x.Key.StartsWith("security.") || x.Key == "trusted.overlay.opaque")
                    .Select(x => $"{x.Key}={Convert.ToHexString(x.Value)}");
                var what = st.Type switch
                {
                    LayerSyscalls.S_IFDIR => "dir",
                    LayerSyscalls.S_IFREG => $"file {st.Size} {Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(entry)))[..16]} links={st.Nlink}",
                    LayerSyscalls.S_IFLNK => "symlink -> " + LayerSyscalls.ReadLink(LayerSyscalls.AT_FDCWD, entry),
                    LayerSyscalls.S_IFIFO => "fifo",
                    _ => $"type {st.Type:x}",
                };
                var mode = st.Type == LayerSyscalls.S_IFLNK ? "" : Convert.ToString(st.Mode & 0xFFF, 8);
                result[path] = $"{what} {st.Uid}:{st.Gid} {mode} t={st.MtimeSec} [{string.Join(", ", xattrs)}]";
                if (st.Type == LayerSyscalls.S_IFDIR) Walk(path);
            }
        }
        Walk("");
        return result;
    }
}
