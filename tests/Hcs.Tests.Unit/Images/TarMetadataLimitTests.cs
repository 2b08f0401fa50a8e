// A layer tar may not make the importer buffer a huge PAX header or GNU long name: TarReader
// reads those whole into memory (up to 2 GiB each), so the tracker that taps its stream refuses
// them when it sees their header, before TarReader allocates anything.
using System.Formats.Tar;
using System.Text;
using Hcs.Images.Archive;

namespace Hcs.Tests.Unit.Images;

public sealed class TarMetadataLimitTests
{
    private static byte[] Header(char type, long size)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes("PaxHeaders/x").CopyTo(h, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(h, 100);
        Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(h, 124);
        h[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(h, 257);
        return h;
    }

    [Theory]
    [InlineData('x')]
    [InlineData('g')]
    [InlineData('L')]
    [InlineData('K')]
    public void A_gigabyte_metadata_entry_is_refused_at_its_header(char type)
    {
        var tracker = new PaxRecordTracker();
        Assert.Throws<InvalidDataException>(() => tracker.Observe(Header(type, 1L << 30)));
    }

    [Fact]
    public void A_normal_pax_header_passes()
    {
        var ms = new MemoryStream();
        using (var w = new TarWriter(ms, leaveOpen: true))
        {
            var e = new PaxTarEntry(TarEntryType.RegularFile, "f", new Dictionary<string, string> { ["SCHILY.xattr.user.a"] = "b" });
            w.WriteEntry(e);
        }
        var tracker = new PaxRecordTracker();
        tracker.Observe(ms.ToArray());
        Assert.True(tracker.SawEndOfArchive);
        Assert.Equal("b"u8.ToArray(), tracker.CurrentRecords!["SCHILY.xattr.user.a"]);
    }

    /// <summary>An image archive (OCI layout or docker save) is read through the tracker too.</summary>
    [Fact]
    public async Task An_image_archive_with_a_gigabyte_pax_header_is_refused_as_invalid()
    {
        var root = Path.Combine(Path.GetTempPath(), "hcs-tarlimit-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var store = new Hcs.Images.Images.ImageStore(root);
            var archive = new MemoryStream([.. Header('x', 1L << 30), .. new byte[4096]]);
            var e = await Assert.ThrowsAsync<Hcs.Images.Images.ImageException>(() => store.ImportArchiveAsync(archive));
            Assert.Equal(Hcs.Images.Images.ImageError.Invalid, e.Kind);
            Assert.Contains("metadata entry", e.Message);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>End to end through TarReader: without the limit it would rent a 1 GiB buffer
    /// and then fail only at the end of the (here missing) data.</summary>
    [Fact]
    public void TarReader_behind_the_tracker_never_gets_the_header()
    {
        var tracker = new PaxRecordTracker();
        var tapped = new TapStream(new MemoryStream(Header('x', 1L << 30)), tracker);
        using var reader = new TarReader(tapped);
        var e = Assert.Throws<InvalidDataException>(() => reader.GetNextEntry());
        Assert.Contains("metadata entry", e.Message);
    }

    private sealed class TapStream(Stream inner, PaxRecordTracker tracker) : ReadOnlyStream
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = inner.Read(buffer, offset, count);
            tracker.Observe(buffer.AsSpan(offset, n));
            return n;
        }
    }
}
