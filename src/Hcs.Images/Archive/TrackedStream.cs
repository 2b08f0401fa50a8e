namespace Hcs.Images.Archive;

/// <summary>A tar stream read through a <see cref="PaxRecordTracker"/>, which sees every byte in
/// order: it refuses oversized metadata entries before TarReader would read them into memory.</summary>
internal sealed class TrackedStream(Stream inner, PaxRecordTracker tracker) : ReadOnlyStream
{
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        tracker.Observe(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        tracker.Observe(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
}
