// Writes a POSIX pax tar, the format OCI layers use. Our own writer rather than TarWriter
// because xattr values are bytes, not text: TarWriter only takes PAX values as strings and
// writes them as UTF-8, which cannot carry a binary security.capability.
//
// Output is deterministic: only the ustar fields and, when something does not fit them, a PAX
// header (path, linkpath, uid, gid, size, mtime, SCHILY.xattr.*); no user or group names, no
// atime/ctime, whole-second mtimes (as docker and containerd write layers).
using System.Text;

namespace Hcs.Images.Archive;

/// <summary>What a tar header says about one entry.</summary>
internal sealed class TarHeader
{
    public required string Name;
    /// <summary>ustar type flag: '0' file, '1' hard link, '2' symlink, '5' directory, '6' fifo.</summary>
    public required byte Type;
    public int Mode;
    public long Uid;
    public long Gid;
    public long Size;
    public long MtimeSeconds;
    public string? LinkName;
    public IReadOnlyDictionary<string, byte[]>? Xattrs;
}

internal sealed class TarArchiveWriter(Stream output)
{
    private const int Block = 512;
    private const long MaxOctal7 = 0x1FFFFF, MaxOctal11 = 0x1FFFFFFFF; // 7 and 11 octal digits
    private readonly byte[] _buffer = new byte[1 << 20];
    private int _fill;
    private long _written;

    /// <summary>Writes the header(s) of an entry; its <see cref="TarHeader.Size"/> bytes of data
    /// follow through <see cref="WriteDataAsync"/> or <see cref="FillData"/>, then
    /// <see cref="EndEntryAsync"/>.</summary>
    public async ValueTask WriteHeaderAsync(TarHeader h, CancellationToken ct)
    {
        var pax = new List<(string Key, byte[] Value)>();
        var nameBytes = Encoding.UTF8.GetBytes(h.Name);
        var linkBytes = h.LinkName is null ? [] : Encoding.UTF8.GetBytes(h.LinkName);
        if (nameBytes.Length > 100) pax.Add(("path", nameBytes));
        if (linkBytes.Length > 100) pax.Add(("linkpath", linkBytes));
        if (h.Uid is < 0 or > MaxOctal7) pax.Add(("uid", Ascii(h.Uid)));
        if (h.Gid is < 0 or > MaxOctal7) pax.Add(("gid", Ascii(h.Gid)));
        if (h.Size > MaxOctal11) pax.Add(("size", Ascii(h.Size)));
        if (h.MtimeSeconds is < 0 or > MaxOctal11) pax.Add(("mtime", Ascii(h.MtimeSeconds)));
        if (h.Xattrs is not null)
            foreach (var (name, value) in h.Xattrs) pax.Add(("SCHILY.xattr." + name, value));

        if (pax.Count > 0)
        {
            var records = new MemoryStream();
            foreach (var (key, value) in pax) WriteRecord(records, key, value);
            var paxName = "PaxHeaders/" + Path.GetFileName(h.Name.TrimEnd('/'));
            await EnsureRoomAsync(Block, ct);
            WriteUstar(Truncate(Encoding.UTF8.GetBytes(paxName), 100), (byte)'x', 0b110_100_100, 0, 0, records.Length, 0, []);
            await WriteDataAsync(records.GetBuffer().AsMemory(0, (int)records.Length), ct);
            await EndEntryAsync(ct);
        }
        await EnsureRoomAsync(Block, ct);
        WriteUstar(Truncate(nameBytes, 100), h.Type, h.Mode, Clamp(h.Uid, MaxOctal7), Clamp(h.Gid, MaxOctal7),
            h.Size > MaxOctal11 ? 0 : h.Size, Clamp(h.MtimeSeconds, MaxOctal11), Truncate(linkBytes, 100));
    }

    public async ValueTask WriteDataAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (data.Length > 0)
        {
            if (_fill == _buffer.Length) await FlushAsync(ct);
            int n = Math.Min(data.Length, _buffer.Length - _fill);
            data.Span[..n].CopyTo(_buffer.AsSpan(_fill));
            _fill += n;
            _written += n;
            data = data[n..];
        }
    }

    /// <summary>Lets <paramref name="read"/> fill the free part of the buffer directly (file data
    /// read from an fd with no intermediate copy); returns how many bytes it added (0 at its end).</summary>
    public async ValueTask<int> FillDataAsync(Func<Memory<byte>, int> read, CancellationToken ct)
    {
        if (_fill == _buffer.Length) await FlushAsync(ct);
        int n = read(_buffer.AsMemory(_fill));
        _fill += n;
        _written += n;
        return n;
    }

    /// <summary>Pads the entry's data to a whole block.</summary>
    public async ValueTask EndEntryAsync(CancellationToken ct)
    {
        int pad = (int)((Block - _written % Block) % Block);
        if (pad == 0) return;
        await EnsureRoomAsync(pad, ct);
        _buffer.AsSpan(_fill, pad).Clear();
        _fill += pad;
        _written += pad;
    }

    /// <summary>The end-of-archive marker (two zero blocks), then everything to the output.</summary>
    public async ValueTask FinishAsync(CancellationToken ct)
    {
        await EnsureRoomAsync(2 * Block, ct);
        _buffer.AsSpan(_fill, 2 * Block).Clear();
        _fill += 2 * Block;
        _written += 2 * Block;
        await FlushAsync(ct);
        await output.FlushAsync(ct);
    }

    private async ValueTask EnsureRoomAsync(int bytes, CancellationToken ct)
    {
        if (_buffer.Length - _fill < bytes) await FlushAsync(ct);
    }

    private async ValueTask FlushAsync(CancellationToken ct)
    {
        if (_fill == 0) return;
        await output.WriteAsync(_buffer.AsMemory(0, _fill), ct);
        _fill = 0;
    }

    private void WriteUstar(ReadOnlySpan<byte> name, byte type, int mode, long uid, long gid, long size, long mtime, ReadOnlySpan<byte> link)
    {
        var h = _buffer.AsSpan(_fill, Block);
        h.Clear();
        name.CopyTo(h);
        Octal(h.Slice(100, 8), mode & 0xFFF);
        Octal(h.Slice(108, 8), uid);
        Octal(h.Slice(116, 8), gid);
        Octal(h.Slice(124, 12), size);
        Octal(h.Slice(136, 12), mtime);
        h[156] = type;
        link.CopyTo(h.Slice(157, 100));
        "ustar\0"u8.CopyTo(h.Slice(257));
        "00"u8.CopyTo(h.Slice(263));
        Octal(h.Slice(329, 8), 0);
        Octal(h.Slice(337, 8), 0);
        // checksum: the byte sum of the header with the checksum field taken as eight spaces
        h.Slice(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in h) sum += b;
        Octal(h.Slice(148, 7), sum);
        h[155] = (byte)' ';
        _fill += Block;
        _written += Block;
    }

    /// <summary>A zero-padded octal number filling the field but its last byte (a NUL).</summary>
    private static void Octal(Span<byte> field, long value)
    {
        int digits = field.Length - 1;
        for (int i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        field[digits] = 0;
    }

    /// <summary>"LENGTH KEY=VALUE\n", LENGTH being the record's own length in bytes, digits included.</summary>
    private static void WriteRecord(Stream to, string key, byte[] value)
    {
        int body = 1 + Encoding.UTF8.GetByteCount(key) + 1 + value.Length + 1; // ' ' key '=' value '\n'
        int length = body + 1;
        while (length.ToString().Length + body != length) length = length.ToString().Length + body;
        to.Write(Encoding.ASCII.GetBytes(length.ToString()));
        to.WriteByte((byte)' ');
        to.Write(Encoding.UTF8.GetBytes(key));
        to.WriteByte((byte)'=');
        to.Write(value);
        to.WriteByte((byte)'\n');
    }

    private static byte[] Ascii(long value) => Encoding.ASCII.GetBytes(value.ToString());

    private static long Clamp(long value, long max) => value < 0 || value > max ? 0 : value;

    private static ReadOnlySpan<byte> Truncate(byte[] bytes, int max) => bytes.AsSpan(0, Math.Min(bytes.Length, max));
}
