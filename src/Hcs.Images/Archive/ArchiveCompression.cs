// How a layer blob is compressed, told from its first bytes, and the stream that undoes it.
// Registries label layers with a media type, but docker save tarballs, OCI layouts made by hand
// and `hcs image import` files do not always; the magic numbers never lie.
using System.IO.Compression;

namespace Hcs.Images.Archive;

public enum ArchiveCompression
{
    /// <summary>A plain tar (or something that is not compressed in a way we know).</summary>
    None,
    /// <summary>gzip (RFC 1952): 1f 8b.</summary>
    Gzip,
    /// <summary>zstd frame (RFC 8878): 28 b5 2f fd.</summary>
    Zstd,
}

public static class ArchiveCompressions
{
    /// <summary>Bytes <see cref="Sniff"/> needs to decide.</summary>
    public const int SniffLength = 4;

    public static ArchiveCompression Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b) return ArchiveCompression.Gzip;
        if (head.Length >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) return ArchiveCompression.Zstd;
        return ArchiveCompression.None;
    }

    /// <summary>The uncompressed bytes of <paramref name="source"/> (which is left open).</summary>
    public static Stream Decompress(Stream source, ArchiveCompression compression) => compression switch
    {
        // GZipStream reads its input in 8 KiB pieces: the caller gives it a buffered source.
        ArchiveCompression.Gzip => new GZipStream(source, CompressionMode.Decompress, leaveOpen: true),
        ArchiveCompression.Zstd => new ZstdSharp.DecompressionStream(source, bufferSize: 1 << 20, checkEndOfStream: true, leaveOpen: true),
        _ => source,
    };
}

/// <summary>A stream that first returns bytes already read from <paramref name="rest"/> (the
/// sniffed head), then the rest of it.</summary>
internal sealed class PrefixedStream(byte[] head, int headLength, Stream rest) : ReadOnlyStream
{
    private int _headPos;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_headPos < headLength)
        {
            int n = Math.Min(buffer.Length, headLength - _headPos);
            head.AsSpan(_headPos, n).CopyTo(buffer);
            _headPos += n;
            return n;
        }
        return rest.Read(buffer);
    }

}
