using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Hcs.Client;

/// <summary>Newline-delimited JSON read as it arrives (events, logs): each complete line is
/// parsed and handed out; blank lines (keep-alives) are skipped.</summary>
internal static class Ndjson
{
    /// <summary>A line longer than this is not a sane event: the stream is treated as broken.</summary>
    private const long MaxLine = 16 * 1024 * 1024;

    public static async IAsyncEnumerable<T> ReadAsync<T>(HcsConnection connection, Stream stream, Func<ReadOnlyMemory<byte>, T> parse,
                                                         [EnumeratorCancellation] CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await ReadAsync(connection, reader, ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                // Parsed before AdvanceTo (the lines point into the pipe's memory), yielded after.
                var items = new List<T>();
                try
                {
                    while (buffer.PositionOf((byte)'\n') is { } end)
                    {
                        Parse(buffer.Slice(0, end), parse, items, connection, ct);
                        buffer = buffer.Slice(buffer.GetPosition(1, end));
                    }
                    if (result.IsCompleted)
                    {
                        Parse(buffer, parse, items, connection, ct); // a last line without its newline
                        buffer = buffer.Slice(buffer.End);
                    }
                    else if (buffer.Length > MaxLine)
                    {
                        throw connection.ConnectionLost(new InvalidDataException($"a line of hcsd's stream is longer than {MaxLine} bytes"));
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
                foreach (var item in items) yield return item;
                if (result.IsCompleted) yield break;
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static async ValueTask<ReadResult> ReadAsync(HcsConnection connection, PipeReader reader, CancellationToken ct)
    {
        try
        {
            return await reader.ReadAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (connection.Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
    }

    private static void Parse<T>(ReadOnlySequence<byte> line, Func<ReadOnlyMemory<byte>, T> parse, List<T> into,
                                 HcsConnection connection, CancellationToken ct)
    {
        if (IsBlank(line)) return;
        try
        {
            into.Add(parse(line.IsSingleSegment ? line.First : line.ToArray()));
        }
        catch (Exception e) when (connection.Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
    }

    private static bool IsBlank(ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
            foreach (var b in segment.Span)
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        return true;
    }
}
