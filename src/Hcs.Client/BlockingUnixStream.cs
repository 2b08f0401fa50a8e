using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hcs.Client;

/// <summary>
/// A connection to a Unix socket made of plain blocking system calls, for
/// <see cref="HostComputeServiceOptions.BlockingTransport"/>: every read and write, the
/// asynchronous ones too, is done by the calling thread before the call returns.
///
/// By hand rather than with System.Net.Sockets because its first Socket starts the epoll
/// engine's thread (and waits until that thread runs) and opens three more sockets to probe
/// IPv4, IPv6 and Unix support, all before a program that only blocks has used any of it: a
/// measurable part of a CLI that lives a few milliseconds.
///
/// Disposing shuts the socket down before closing it: a call blocked in it on another thread
/// then ends (a plain close would leave it blocked), which is how a cancelled request stops.
/// </summary>
internal sealed partial class BlockingUnixStream : Stream
{
    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SHUT_RDWR = 2;
    private const int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
    private const int EINTR = 4, ENOENT = 2, EACCES = 13, EPIPE = 32, ECONNRESET = 104, ECONNREFUSED = 111;

    private readonly SafeFileHandle _fd;
    private int _disposed;

    private BlockingUnixStream(SafeFileHandle fd) => _fd = fd;

    /// <summary>Connects to the socket at <paramref name="path"/>; failures are SocketExceptions,
    /// as System.Net.Sockets would throw them.</summary>
    public static BlockingUnixStream Connect(string path)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(path);
        // struct sockaddr_un: the family (native-endian short), then the path, NUL-terminated, in 108 bytes
        if (name.Length >= 108) throw new ArgumentException($"the socket path is longer than 107 bytes: {path}", nameof(path));
        var address = new byte[2 + name.Length + 1];
        BitConverter.TryWriteBytes(address, (short)AF_UNIX);
        name.CopyTo(address, 2);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw SocketError(Marshal.GetLastPInvokeError());
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        int r;
        do r = connect(fd, address, address.Length);
        while (r < 0 && Marshal.GetLastPInvokeError() == EINTR);
        if (r < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw SocketError(errno);
        }
        return new BlockingUnixStream(handle);
    }

    /// <summary>The errors a Unix socket meets, as System.Net.Sockets names them (and so with the
    /// same messages); others keep their number in the message.</summary>
    private static SocketException SocketError(int errno) => errno switch
    {
        ENOENT => new SocketException((int)System.Net.Sockets.SocketError.AddressNotAvailable),
        EACCES => new SocketException((int)System.Net.Sockets.SocketError.AccessDenied),
        ECONNREFUSED => new SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused),
        ECONNRESET => new SocketException((int)System.Net.Sockets.SocketError.ConnectionReset),
        EPIPE => new SocketException((int)System.Net.Sockets.SocketError.Shutdown),
        _ => new SocketException((int)System.Net.Sockets.SocketError.SocketError, $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"),
    };

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override unsafe int Read(Span<byte> buffer)
    {
        using var fd = new Lease(_fd);
        fixed (byte* p = buffer)
        {
            for (;;)
            {
                nint n = recv(fd.Value, p, buffer.Length, 0);
                if (n >= 0) return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) throw Failed("read from", errno);
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        using var fd = new Lease(_fd);
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                // MSG_NOSIGNAL: a peer that has gone is an error here, not a SIGPIPE
                nint n = send(fd.Value, p + done, buffer.Length - done, MSG_NOSIGNAL);
                if (n >= 0) done += (int)n;
                else if (Marshal.GetLastPInvokeError() is var errno && errno != EINTR) throw Failed("write to", errno);
            }
        }
    }

    /// <summary>Writes what the socket's buffer takes now, without waiting (for a last frame that
    /// must not hold a peer that stopped reading); false when none of it fit or the socket is gone.</summary>
    public unsafe bool TryWriteWithoutWaiting(ReadOnlySpan<byte> data)
    {
        try
        {
            using var fd = new Lease(_fd);
            fixed (byte* p = data)
                return send(fd.Value, p, data.Length, MSG_DONTWAIT | MSG_NOSIGNAL) > 0;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>The fd, held for one call: a dispose meanwhile shuts the socket down (which ends
    /// the call) but closes it only once the call has let go, so the number cannot be reused
    /// under it.</summary>
    private readonly ref struct Lease
    {
        private readonly SafeFileHandle _handle;

        public Lease(SafeFileHandle handle)
        {
            bool added = false;
            handle.DangerousAddRef(ref added); // throws ObjectDisposedException once closed
            _handle = handle;
            Value = (int)handle.DangerousGetHandle();
        }

        public int Value { get; }

        public void Dispose() => _handle.DangerousRelease();
    }

    private Exception Failed(string what, int errno) =>
        Volatile.Read(ref _disposed) != 0
            ? new ObjectDisposedException(nameof(BlockingUnixStream))
            : new IOException($"cannot {what} the socket: {Marshal.GetPInvokeErrorMessage(errno)}", SocketError(errno));

    // The asynchronous calls block: they are the synchronous ones, completed before they return.

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        try
        {
            ct.ThrowIfCancellationRequested();
            return ValueTask.FromResult(Read(buffer.Span));
        }
        catch (Exception e)
        {
            return ValueTask.FromException<int>(e);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        try
        {
            ct.ThrowIfCancellationRequested();
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0 && !_fd.IsClosed)
        {
            shutdown((int)_fd.DangerousGetHandle(), SHUT_RDWR); // wakes a read or write blocked on another thread
            _fd.Dispose(); // closes once that call has let go of the handle
        }
        base.Dispose(disposing);
    }

    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int connect(int fd, byte[] address, int length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int shutdown(int fd, int how);
}
