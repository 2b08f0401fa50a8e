// A bounded single-producer / single-consumer pipe of large byte blocks between two threads:
// the importer decompresses and hashes on one core while the other applies the tar. A fixed
// set of buffers circulates, so the producer can run at most that far ahead and nothing is
// allocated per block.
namespace Hcs.Images.Archive;

internal sealed class BlockPipe
{
    private readonly object _gate = new();
    private readonly Stack<byte[]> _free = new();
    private readonly Queue<(byte[] Block, int Length)> _full = new();
    private bool _completed;
    private Exception? _producerError;
    private bool _aborted;

    public BlockPipe(int blockSize, int blocks)
    {
        for (int i = 0; i < blocks; i++) _free.Push(new byte[blockSize]);
        Reader = new PipeReaderStream(this);
    }

    /// <summary>The consumer's side: a read-only, forward-only stream.</summary>
    public PipeReaderStream Reader { get; }

    /// <summary>Producer: an empty block to fill (waits while the consumer is behind).</summary>
    public byte[] Rent()
    {
        lock (_gate)
        {
            while (_free.Count == 0 && !_aborted) Monitor.Wait(_gate);
            if (_aborted) throw new OperationCanceledException("the consumer stopped reading");
            return _free.Pop();
        }
    }

    /// <summary>Producer: hands over a block with <paramref name="length"/> bytes of data.</summary>
    public void Publish(byte[] block, int length)
    {
        lock (_gate)
        {
            if (length == 0) _free.Push(block);
            else _full.Enqueue((block, length));
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Producer: no more data; with an error, the consumer's next read throws it.</summary>
    public void Complete(Exception? error = null)
    {
        lock (_gate)
        {
            _completed = true;
            _producerError = error;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Consumer: stops the producer (its next <see cref="Rent"/> throws).</summary>
    public void Abort()
    {
        lock (_gate)
        {
            _aborted = true;
            Monitor.PulseAll(_gate);
        }
    }

    private bool TryTake(out byte[] block, out int length)
    {
        lock (_gate)
        {
            while (_full.Count == 0 && !_completed) Monitor.Wait(_gate);
            if (_full.Count > 0)
            {
                (block, length) = _full.Dequeue();
                return true;
            }
            if (_producerError is not null) throw new ProducerFailedException(_producerError);
            block = [];
            length = 0;
            return false;
        }
    }

    private void Return(byte[] block)
    {
        lock (_gate)
        {
            _free.Push(block);
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Thrown to the consumer when the producer failed; the producer's error is inside.</summary>
    internal sealed class ProducerFailedException(Exception inner) : IOException(inner.Message, inner);

    internal sealed class PipeReaderStream(BlockPipe pipe) : ReadOnlyStream
    {
        private byte[]? _block;
        private int _length, _pos;

        /// <summary>Sees every byte handed to the reader, in order (a tap on the stream).</summary>
        public PaxRecordTracker? Tracker;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.Length == 0) return 0;
            if (_block is null || _pos == _length)
            {
                if (_block is not null) pipe.Return(_block);
                _block = null;
                if (!pipe.TryTake(out var next, out _length)) return 0;
                _block = next;
                _pos = 0;
            }
            int n = Math.Min(buffer.Length, _length - _pos);
            var data = _block.AsSpan(_pos, n);
            data.CopyTo(buffer);
            Tracker?.Observe(data);
            _pos += n;
            return n;
        }

        /// <summary>Reads and drops everything left (so the producer hashes the whole stream).</summary>
        public void Drain()
        {
            Tracker = null;
            if (_block is not null) pipe.Return(_block);
            _block = null;
            while (pipe.TryTake(out var next, out _)) pipe.Return(next);
        }

    }
}
