using System.Security.Cryptography;

namespace Hcs.Images.Images;

// Content digests ("sha256:<64 lowercase hex>"), the only algorithm the store keeps. A digest
// from the outside world is validated before it names a file, so it can never be a path.

public static class Digest
{
    public const string Sha256Prefix = "sha256:";

    /// <summary>True for "sha256:" followed by exactly 64 lowercase hex digits.</summary>
    public static bool IsValid(string? digest) =>
        digest is { Length: 71 } && digest.StartsWith(Sha256Prefix, StringComparison.Ordinal) && IsHex64(digest.AsSpan(7));

    public static bool IsHex64(ReadOnlySpan<char> hex)
    {
        if (hex.Length != 64) return false;
        foreach (var c in hex)
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f')) return false;
        return true;
    }

    /// <summary>The digest, checked; an <see cref="ImageException"/> saying what is wrong otherwise
    /// (<paramref name="what"/> names where it came from).</summary>
    public static string Validate(string? digest, string what)
    {
        if (IsValid(digest)) return digest!;
        if (string.IsNullOrEmpty(digest)) throw new ImageException(ImageError.Invalid, $"{what}: the digest is missing");
        int colon = digest.IndexOf(':');
        if (colon > 0 && digest[..colon] != "sha256")
            throw new ImageException(ImageError.Invalid, $"{what}: digest algorithm \"{digest[..colon]}\" is not supported (only sha256)");
        throw new ImageException(ImageError.Invalid, $"{what}: \"{digest}\" is not a sha256 digest (sha256: and 64 lowercase hex digits)");
    }

    /// <summary>The 64 hex digits of a valid digest (the file name in blobs/sha256/).</summary>
    public static string Hex(string digest) => Validate(digest, "digest")[7..];

    public static string Of(ReadOnlySpan<byte> data) => FromHash(SHA256.HashData(data));

    public static string FromHash(ReadOnlySpan<byte> sha256) => Sha256Prefix + Convert.ToHexStringLower(sha256);

    public static async Task<string> OfStreamAsync(Stream stream, CancellationToken ct = default) =>
        FromHash(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
}

/// <summary>
/// A read-only pass-through stream that hashes what is read and checks it at the end: when the
/// inner stream ends, the bytes seen must have the expected digest (and size, if known), or the
/// read that hit the end throws a <see cref="ImageException"/> (DigestMismatch). A consumer that
/// reads to the end therefore never finishes on content that does not verify. More bytes than the
/// expected size fail at once, so a lying server cannot fill the disk.
/// </summary>
public sealed class VerifyingStream : Stream
{
    private readonly Stream _inner;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly string _expected;
    private readonly long _expectedSize;
    private readonly string _what;
    private readonly bool _leaveOpen;
    private long _read;
    private bool _verified;

    /// <param name="expectedSize">-1 when unknown.</param>
    public VerifyingStream(Stream inner, string expectedDigest, long expectedSize, string what, bool leaveOpen = false)
    {
        _inner = inner;
        _expected = Digest.Validate(expectedDigest, what);
        _expectedSize = expectedSize;
        _what = what;
        _leaveOpen = leaveOpen;
    }

    public long BytesRead => _read;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => Seen(buffer, _inner.Read(buffer));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await _inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        return Seen(buffer.Span, n);
    }

    private int Seen(Span<byte> buffer, int n)
    {
        if (buffer.Length == 0) return 0;
        if (n > 0)
        {
            _read += n;
            if (_expectedSize >= 0 && _read > _expectedSize)
                throw new ImageException(ImageError.DigestMismatch, $"{_what}: more than the {_expectedSize} bytes its descriptor gives");
            _hash.AppendData(buffer[..n]);
            return n;
        }
        if (!_verified)
        {
            if (_expectedSize >= 0 && _read != _expectedSize)
                throw new ImageException(ImageError.DigestMismatch, $"{_what}: {_read} bytes, not the {_expectedSize} its descriptor gives");
            var actual = Digest.FromHash(_hash.GetCurrentHash());
            if (actual != _expected)
                throw new ImageException(ImageError.DigestMismatch, $"{_what}: content has digest {actual}, not {_expected}");
            _verified = true;
        }
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
