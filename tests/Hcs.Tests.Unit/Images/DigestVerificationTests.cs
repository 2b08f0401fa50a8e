using System.Security.Cryptography;
using Hcs.Images.Images;

namespace Hcs.Tests.Unit.Images;

/// <summary>Digests checked while content streams: VerifyingStream, and the content store's
/// ingest (verify, resume from a partial file, nothing kept on a mismatch).</summary>
public sealed class DigestVerificationTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "hcs-content-" + Guid.NewGuid().ToString("N"));
    private readonly ContentStore _store;
    private readonly byte[] _data = RandomNumberGenerator.GetBytes(3 << 20 | 123);
    private readonly string _digest;

    public DigestVerificationTests()
    {
        _store = new ContentStore(_root);
        _digest = Digest.Of(_data);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Digest_syntax()
    {
        Assert.True(Digest.IsValid("sha256:" + new string('0', 64)));
        Assert.False(Digest.IsValid("sha256:" + new string('A', 64)));
        Assert.False(Digest.IsValid("sha256:" + new string('0', 63)));
        Assert.False(Digest.IsValid("sha256:../../../../etc/passwd" + new string('0', 36)));
        Assert.Contains("not supported", Assert.Throws<ImageException>(() => Digest.Validate("sha512:00", "x")).Message);
        Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.Of([]));
    }

    [Fact]
    public async Task Verifying_stream_passes_content_that_matches()
    {
        using var s = new VerifyingStream(new MemoryStream(_data), _digest, _data.Length, "blob");
        using var copy = new MemoryStream();
        await s.CopyToAsync(copy);
        Assert.Equal(_data, copy.ToArray());
    }

    [Fact]
    public async Task Verifying_stream_fails_the_last_read_on_a_wrong_digest()
    {
        var bad = (byte[])_data.Clone();
        bad[1000] ^= 1;
        using var s = new VerifyingStream(new MemoryStream(bad), _digest, bad.Length, "blob X");
        var e = await Assert.ThrowsAsync<ImageException>(() => s.CopyToAsync(Stream.Null));
        Assert.Equal(ImageError.DigestMismatch, e.Kind);
        Assert.Contains("blob X: content has digest", e.Message);
    }

    [Fact]
    public void Verifying_stream_fails_at_once_past_the_size()
    {
        using var s = new VerifyingStream(new MemoryStream(_data), _digest, 10, "blob");
        var e = Assert.Throws<ImageException>(() => s.CopyTo(Stream.Null));
        Assert.Contains("more than the 10 bytes", e.Message);
    }

    [Fact]
    public async Task Write_verifies_and_renames_into_blobs()
    {
        await _store.WriteAsync(new MemoryStream(_data), _digest, _data.Length);
        Assert.True(_store.Exists(_digest));
        Assert.Equal(_data, File.ReadAllBytes(_store.PathOf(_digest)));
        Assert.Empty(Directory.GetFiles(_store.IngestDir));
        Assert.Equal([_digest], _store.List());
    }

    [Fact]
    public async Task A_mismatch_keeps_nothing()
    {
        var bad = (byte[])_data.Clone();
        bad[^1] ^= 0x80;
        var e = await Assert.ThrowsAsync<ImageException>(() => _store.WriteAsync(new MemoryStream(bad), _digest, bad.Length));
        Assert.Equal(ImageError.DigestMismatch, e.Kind);
        Assert.False(_store.Exists(_digest));
        Assert.Empty(Directory.GetFiles(_store.IngestDir));
        Assert.Empty(Directory.GetFiles(_store.BlobsDir));
    }

    [Fact]
    public async Task A_size_mismatch_keeps_nothing()
    {
        await Assert.ThrowsAsync<ImageException>(() => _store.WriteAsync(new MemoryStream(_data), _digest, _data.Length - 1));
        await Assert.ThrowsAsync<ImageException>(() => _store.WriteAsync(new MemoryStream(_data, 0, 100), _digest, _data.Length));
        Assert.Empty(Directory.GetFiles(_store.IngestDir));
        Assert.Empty(Directory.GetFiles(_store.BlobsDir));
    }

    [Fact]
    public async Task A_cut_source_leaves_a_partial_that_resumes()
    {
        long cut = 1 << 20 | 7;
        using (var ingest = await _store.BeginAsync(_digest, _data.Length))
        {
            Assert.Equal(0, ingest.Offset);
            await Assert.ThrowsAsync<IOException>(() => ingest.AppendAsync(new FailingAfter(_data, cut), null, default));
        }
        Assert.Equal(cut, _store.PartialLength(_digest));
        Assert.False(_store.Exists(_digest));

        using (var ingest = await _store.BeginAsync(_digest, _data.Length))
        {
            Assert.Equal(cut, ingest.Offset);   // what a Range: bytes=N- request asks for
            await ingest.AppendAsync(new MemoryStream(_data, (int)cut, _data.Length - (int)cut), null, default);
            ingest.Commit();
        }
        Assert.Equal(_data, File.ReadAllBytes(_store.PathOf(_digest)));
        Assert.Equal(0, _store.PartialLength(_digest));
    }

    [Fact]
    public async Task A_partial_that_is_not_a_prefix_fails_verification_and_is_removed()
    {
        File.WriteAllBytes(_store.PartialPath(_digest), new byte[1000]);
        using (var ingest = await _store.BeginAsync(_digest, _data.Length))
        {
            Assert.Equal(1000, ingest.Offset);
            await ingest.AppendAsync(new MemoryStream(_data, 1000, _data.Length - 1000), null, default);
            Assert.Equal(ImageError.DigestMismatch, Assert.Throws<ImageException>(ingest.Commit).Kind);
        }
        Assert.False(File.Exists(_store.PartialPath(_digest)));
    }

    [Fact]
    public async Task Restart_discards_the_partial_bytes()
    {
        File.WriteAllBytes(_store.PartialPath(_digest), new byte[1000]);
        using var ingest = await _store.BeginAsync(_digest, _data.Length);
        ingest.Restart(); // the server answered 200 to a Range request
        await ingest.AppendAsync(new MemoryStream(_data), null, default);
        ingest.Commit();
        Assert.True(_store.Exists(_digest));
    }

    [Fact]
    public async Task A_stored_blob_is_not_written_again()
    {
        _store.Put(_data);
        using var ingest = await _store.BeginAsync(_digest, _data.Length);
        Assert.True(ingest.AlreadyStored);
        await _store.WriteAsync(new FailingAfter(_data, 0), _digest, _data.Length); // not even read
    }

    [Fact]
    public async Task Two_writers_of_one_blob_write_it_once()
    {
        var first = await _store.BeginAsync(_digest, _data.Length);
        var second = _store.BeginAsync(_digest, _data.Length);  // waits for the first's lock
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        await first.AppendAsync(new MemoryStream(_data), null, default);
        first.Commit();
        first.Dispose();
        using var waited = await second.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(waited.AlreadyStored);
        Assert.False(File.Exists(_store.PartialPath(_digest)));
    }

    [Fact]
    public async Task Unknown_digest_is_learnt_while_writing()
    {
        var (digest, size) = await _store.WriteAsync(new MemoryStream(_data));
        Assert.Equal(_digest, digest);
        Assert.Equal(_data.Length, size);
        Assert.Equal(_data, _store.ReadAllBytes(digest, _data.Length));
        Assert.Empty(Directory.GetFiles(_store.IngestDir));
    }

    [Fact]
    public void A_damaged_stored_document_is_detected_on_read()
    {
        var digest = _store.Put("{}"u8);
        File.WriteAllText(_store.PathOf(digest), "{ }");
        Assert.Equal(ImageError.DigestMismatch, Assert.Throws<ImageException>(() => _store.ReadAllBytes(digest)).Kind);
    }

    /// <summary>Yields the data up to a point, then fails as a cut connection does.</summary>
    private sealed class FailingAfter(byte[] data, long cut) : Stream
    {
        private long _position;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= cut) throw new IOException("connection reset");
            int n = (int)Math.Min(count, cut - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
