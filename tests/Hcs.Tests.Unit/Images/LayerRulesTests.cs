// The layer store's rules that need no root: OCI identities, compression sniffing, the name
// rules of layer archives, and the tar framing the importer follows beside TarReader.
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Hcs.Images.Archive;
using Hcs.Images.Layers;

namespace Hcs.Tests.Unit.Images;

public sealed class LayerRulesTests
{
    // The diff_ids of the example configuration in the OCI image spec (config.md); the second is
    // the DiffID of an empty layer: sha256 of 1024 zero bytes (a tar with only its end marker).
    private const string SpecDiff0 = "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1";
    private const string EmptyLayerDiff = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

    [Fact]
    public void Chain_id_of_a_base_layer_is_its_diff_id() =>
        Assert.Equal(SpecDiff0, LayerStore.ChainId(null, SpecDiff0));

    [Fact]
    public void Chain_id_of_an_upper_layer_hashes_parent_space_diff()
    {
        // sha256("<ChainID(L0)> <DiffID(L1)>"), as `printf '%s' "$a $b" | sha256sum` gives
        var chain1 = LayerStore.ChainId(SpecDiff0, EmptyLayerDiff);
        Assert.Equal("sha256:c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f", chain1);
        var chain2 = LayerStore.ChainId(chain1, SpecDiff0);
        var expected = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(chain1 + " " + SpecDiff0)));
        Assert.Equal(expected, chain2);
    }

    [Fact]
    public void Empty_layer_diff_id_is_the_hash_of_1024_zero_bytes() =>
        Assert.Equal(EmptyLayerDiff, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(new byte[1024])));

    [Theory]
    [InlineData("c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1")]
    [InlineData("sha256:C6F988F4874BB0ADD23A778F753C65EFE992244E148A1D2EC2A8B664FB66BBD1")]
    [InlineData("sha512:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1")]
    [InlineData("sha256:../../../etc/passwd")]
    [InlineData("sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd")]
    public void Malformed_digests_are_refused(string digest) =>
        Assert.Throws<ArgumentException>(() => LayerStore.ChainId(null, digest));

    [Theory]
    [InlineData(new byte[] { 0x1f, 0x8b, 0x08, 0x00 }, ArchiveCompression.Gzip)]
    [InlineData(new byte[] { 0x28, 0xb5, 0x2f, 0xfd }, ArchiveCompression.Zstd)]
    [InlineData(new byte[] { (byte)'e', (byte)'t', (byte)'c', (byte)'/' }, ArchiveCompression.None)]
    [InlineData(new byte[] { 0x28, 0xb5, 0x2f }, ArchiveCompression.None)] // too short to be zstd
    [InlineData(new byte[] { }, ArchiveCompression.None)]
    public void Compression_is_told_from_the_magic_number(byte[] head, ArchiveCompression expected) =>
        Assert.Equal(expected, ArchiveCompressions.Sniff(head));

    [Theory]
    [InlineData("etc/passwd", "etc/passwd")]
    [InlineData("./etc/passwd", "etc/passwd")]
    [InlineData("etc//x/./y/", "etc/x/y")]
    [InlineData("./", "")]
    [InlineData(".", "")]
    [InlineData("usr/lib/", "usr/lib")]
    [InlineData("a/..b/c..", "a/..b/c..")]
    [InlineData("...", "...")]
    public void Entry_names_are_normalized_relative_to_the_layer(string name, string expected) =>
        Assert.Equal(expected, LayerPaths.Normalize(name));

    [Theory]
    [InlineData("/etc/x", "absolute")]
    [InlineData("../x", "'..'")]
    [InlineData("a/../../x", "'..'")]
    [InlineData("a/..", "'..'")]
    [InlineData("", "empty")]
    public void Names_leaving_the_layer_are_refused_naming_the_entry(string name, string problem)
    {
        var e = Assert.Throws<LayerException>(() => LayerPaths.Normalize(name));
        Assert.Equal(name, e.Entry);
        Assert.Contains($"\"{name}\"", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData("a", "../x", true)]
    [InlineData("a/b", "../x", false)]
    [InlineData("a/b", "../../x", true)]
    [InlineData("a/b/c", "../../x", false)]
    [InlineData("a/b/c", "./../.././../x", true)]
    [InlineData("a/b", "x/../../y", false)]
    [InlineData("a/b", "x/../../../y", true)]
    [InlineData("a", "/etc/passwd", false)] // absolute: resolved in the container's root
    [InlineData("a", "../../..", true)]
    [InlineData("a", "b/c", false)]
    public void Relative_symlink_targets_may_not_climb_above_the_root(string link, string target, bool climbs) =>
        Assert.Equal(climbs, LayerPaths.SymlinkClimbsOut(link, target));

    [Theory]
    [InlineData("file", "None", "")]
    [InlineData(".wh.file", "Whiteout", "file")]
    [InlineData(".wh..wh..opq", "Opaque", "")]
    [InlineData(".wh..wh.plnk", "AufsMetadata", "")]
    [InlineData(".wh..wh.aufs", "AufsMetadata", "")]
    [InlineData(".wh..hidden", "Whiteout", ".hidden")]
    [InlineData(".whfile", "None", "")]
    public void Whiteout_names_follow_the_oci_convention(string name, string kind, string target)
    {
        // (the kind as text: the enum is internal, a public test method cannot take it)
        Assert.Equal(kind, LayerPaths.ClassifyWhiteout(name, out var deleted).ToString());
        Assert.Equal(target, deleted);
    }

    [Fact]
    public async Task Pax_xattr_values_survive_as_bytes_and_the_archive_reads_back_with_TarReader()
    {
        // security.capability of a file with cap_setuid: bit 7 makes a 0x80 byte, not UTF-8
        byte[] capability = [0x01, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var archive = new MemoryStream();
        var writer = new TarArchiveWriter(archive);
        await writer.WriteHeaderAsync(new TarHeader { Name = "dir/", Type = (byte)'5', Mode = 0b111_101_101 }, default);
        await writer.WriteHeaderAsync(new TarHeader
        {
            Name = "dir/newuidmap",
            Type = (byte)'0',
            Mode = 0b111_101_101,
            Size = 3,
            Uid = 3_000_000, // too big for the ustar field: goes to PAX
            Xattrs = new Dictionary<string, byte[]> { ["security.capability"] = capability, ["user.note"] = "é"u8.ToArray() },
        }, default);
        await writer.WriteDataAsync("abc"u8.ToArray(), default);
        await writer.EndEntryAsync(default);
        var longName = "dir/" + new string('n', 150);
        await writer.WriteHeaderAsync(new TarHeader { Name = longName, Type = (byte)'2', LinkName = "newuidmap" }, default);
        await writer.FinishAsync(default);

        var tracker = new PaxRecordTracker();
        var bytes = archive.ToArray();
        var reader = new TarReader(new TappedStream(bytes, tracker));
        var entries = new List<(TarEntry Entry, IReadOnlyDictionary<string, byte[]>? Raw)>();
        while (reader.GetNextEntry(copyData: true) is { } e) entries.Add((e, tracker.CurrentRecords));

        Assert.Equal(["dir/", "dir/newuidmap", longName], entries.Select(e => e.Entry.Name));
        var file = entries[1];
        Assert.Equal(3_000_000, file.Entry.Uid);
        Assert.Equal(capability, file.Raw!["SCHILY.xattr.security.capability"]);
        Assert.Equal("é"u8.ToArray(), file.Raw["SCHILY.xattr.user.note"]);
        // what TarReader itself makes of the binary value: not the bytes (why the tracker exists)
        var decoded = ((PaxTarEntry)file.Entry).ExtendedAttributes["SCHILY.xattr.security.capability"];
        Assert.NotEqual(capability, Encoding.UTF8.GetBytes(decoded));
        Assert.Null(entries[0].Raw);
        Assert.Equal("newuidmap", entries[2].Entry.LinkName);
        // TarReader stops at the first zero block, which the tracker has seen
        Assert.True(tracker.SawEndOfArchive);
    }

    [Fact]
    public void Tracker_tells_a_truncated_archive_from_a_finished_one()
    {
        var archive = new MemoryStream();
        using (var w = new TarWriter(archive, TarEntryFormat.Pax, leaveOpen: true))
        {
            var e = new PaxTarEntry(TarEntryType.RegularFile, "a") { DataStream = new MemoryStream(new byte[700]) };
            w.WriteEntry(e);
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "b/"));
        }
        var full = archive.ToArray();
        var complete = new PaxRecordTracker();
        complete.Observe(full);
        Assert.True(complete.SawEndOfArchive);

        // cut right after the last entry's header: no end marker
        int lastHeaderEnd = full.Length - 1024;
        while (lastHeaderEnd > 0 && full.AsSpan(lastHeaderEnd - 512, 512).IndexOfAnyExcept((byte)0) < 0) lastHeaderEnd -= 512;
        var cut = new PaxRecordTracker();
        cut.Observe(full.AsSpan(0, lastHeaderEnd));
        Assert.False(cut.SawEndOfArchive);
    }

    [Theory]
    [InlineData("0000644\0", 420)]
    [InlineData("     644 ", 420)]
    [InlineData("00000000000\0", 0)]
    public void Octal_header_numbers_parse(string field, long expected) =>
        Assert.Equal(expected, PaxRecordTracker.ParseNumber(Encoding.ASCII.GetBytes(field)));

    [Fact]
    public void Base256_header_numbers_parse()
    {
        byte[] field = [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
        Assert.Equal(256, PaxRecordTracker.ParseNumber(field));
    }

    /// <summary>A read-only stream over bytes that shows every byte read to a tracker, as the
    /// importer's pipe does.</summary>
    private sealed class TappedStream(byte[] data, PaxRecordTracker tracker) : Hcs.Images.Archive.ReadOnlyStream
    {
        private int _pos;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            // small, odd pieces: the tracker must not depend on how the reader reads
            int n = Math.Min(Math.Min(buffer.Length, 333), data.Length - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            tracker.Observe(data.AsSpan(_pos, n));
            _pos += n;
            return n;
        }

    }
}
