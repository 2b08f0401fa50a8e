// Follows the tar framing of the bytes a TarReader consumes, for two things TarReader does not
// give: the raw bytes of PAX records (it decodes every value as UTF-8, which mangles binary
// xattrs such as security.capability), and whether the archive really ended with its
// end-of-archive block (it treats a plain end of stream the same, so a truncated gzip whose
// deflate data stops between two entries would pass unnoticed).
//
// Framing (POSIX ustar/pax, GNU): 512-byte header; its data, rounded up to 512, follows.
// 'x' data = PAX records for the next entry ("size" there overrides the header's), 'g' global
// records, 'L'/'K' GNU long names; header-only types (1-6) have no data (TarReader refuses them
// with a size). An all-zero header ends the archive.
using System.Text;

namespace Hcs.Images.Archive;

internal sealed class PaxRecordTracker
{
    private const int Block = 512;
    /// <summary>The largest PAX header or GNU long name accepted (xattrs included, real ones are KiB).</summary>
    internal const long MaxMetadataSize = 16 << 20;
    private enum State { Header, PaxData, Skip, Ended }

    private readonly byte[] _header = new byte[Block];
    private int _headerFill;
    private State _state = State.Header;
    private long _skip;
    private byte[] _pax = [];
    private int _paxFill;
    private long _paxPadding;
    private Dictionary<string, byte[]>? _pending;

    /// <summary>The raw PAX records of the last entry header seen (the one TarReader just
    /// returned), or null when it had none.</summary>
    public IReadOnlyDictionary<string, byte[]>? CurrentRecords { get; private set; }

    /// <summary>An all-zero header block was seen where a header was due.</summary>
    public bool SawEndOfArchive => _state == State.Ended;

    /// <summary>Feeds the next bytes of the archive, in order.</summary>
    public void Observe(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            switch (_state)
            {
                case State.Ended:
                    return;
                case State.Skip:
                {
                    int n = (int)Math.Min(_skip, data.Length);
                    _skip -= n;
                    data = data[n..];
                    if (_skip == 0) _state = State.Header;
                    break;
                }
                case State.Header:
                {
                    int n = Math.Min(Block - _headerFill, data.Length);
                    data[..n].CopyTo(_header.AsSpan(_headerFill));
                    _headerFill += n;
                    data = data[n..];
                    if (_headerFill == Block)
                    {
                        _headerFill = 0;
                        OnHeader();
                    }
                    break;
                }
                case State.PaxData:
                {
                    int n = Math.Min(_pax.Length - _paxFill, data.Length);
                    data[..n].CopyTo(_pax.AsSpan(_paxFill));
                    _paxFill += n;
                    data = data[n..];
                    if (_paxFill == _pax.Length)
                    {
                        _pending = ParseRecords(_pax);
                        SkipThen(_paxPadding);
                    }
                    break;
                }
            }
        }
    }

    private void OnHeader()
    {
        if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            _state = State.Ended;
            return;
        }
        byte type = _header[156];
        long size = ParseNumber(_header.AsSpan(124, 12));
        long padding = Padding(size);
        // Metadata entries (PAX records, GNU long names) are read whole into memory by TarReader,
        // which accepts any size up to Array.MaxLength: one 2 GiB 'x' header (a few MiB of gzip)
        // would make hcsd allocate and fill 2 GiB. The tracker sees each header block before
        // TarReader parses it (it taps the stream TarReader reads), so it refuses them here;
        // TarReader's callers report an InvalidDataException as a corrupt archive.
        if ((type is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K') && (size is < 0 or > MaxMetadataSize))
            throw new InvalidDataException($"a tar metadata entry (type '{(char)type}') of {size} bytes: more than the {MaxMetadataSize} bytes one may have");
        switch (type)
        {
            case (byte)'x':
                _pax = new byte[size];
                _paxFill = 0;
                _paxPadding = padding;
                if (size == 0)
                {
                    _pending = [];
                    SkipThen(padding);
                }
                else _state = State.PaxData;
                return;
            case (byte)'g' or (byte)'L' or (byte)'K':
                SkipThen(size + padding);
                return;
            case (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6':
                TakePending();
                SkipThen(0);
                return;
            default:
                if (_pending is not null && _pending.TryGetValue("size", out var paxSize)
                    && long.TryParse(Encoding.ASCII.GetString(paxSize), out var overridden))
                {
                    size = overridden;
                    padding = Padding(size);
                }
                TakePending();
                SkipThen(size + padding);
                return;
        }
    }

    private void TakePending()
    {
        CurrentRecords = _pending;
        _pending = null;
    }

    private void SkipThen(long count)
    {
        _skip = count;
        _state = count > 0 ? State.Skip : State.Header;
    }

    private static long Padding(long size) => size <= 0 ? 0 : (Block - size % Block) % Block;

    /// <summary>A numeric header field: octal (NUL/space padded) or GNU base-256 (high bit set).</summary>
    internal static long ParseNumber(ReadOnlySpan<byte> field)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            long v = field[0] & 0x7f;
            for (int i = 1; i < field.Length; i++) v = (v << 8) | field[i];
            return v;
        }
        long n = 0;
        foreach (byte b in field)
        {
            if (b is (byte)' ' or 0)
            {
                if (n != 0) break;
                continue;
            }
            if (b is < (byte)'0' or > (byte)'7') return -1;
            n = n * 8 + (b - '0');
        }
        return n;
    }

    /// <summary>PAX records "LENGTH KEY=VALUE\n", LENGTH counting the whole record in bytes;
    /// values kept as bytes. Stops at the first malformed record (TarReader reports those).</summary>
    internal static Dictionary<string, byte[]> ParseRecords(ReadOnlySpan<byte> data)
    {
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        while (data.Length > 0)
        {
            int space = data.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(data[..space], out int length) || length <= space + 1 || length > data.Length)
                break;
            var record = data[(space + 1)..length];
            if (record[^1] != (byte)'\n') break;
            int eq = record.IndexOf((byte)'=');
            if (eq <= 0) break;
            records[Encoding.UTF8.GetString(record[..eq])] = record[(eq + 1)..^1].ToArray();
            data = data[length..];
        }
        return records;
    }
}
