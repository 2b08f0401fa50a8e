using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hcs.Images.Images;

/// <summary>
/// An exclusive flock(2) on a file, held until disposed. Opened with open(2) directly, not with
/// FileStream: .NET takes its own non-blocking flock when it opens a file (LOCK_SH or LOCK_EX by
/// FileShare), which fails at once instead of waiting while another process holds the lock.
/// flock locks belong to the open file description, so two of these on one file exclude each
/// other within one process too (threads) — never take the same lock twice in one call chain.
/// </summary>
internal sealed partial class FileLock : IDisposable
{
    private const int O_RDONLY = 0x0, O_RDWR = 0x2, O_CREAT = 0x40, O_CLOEXEC = 0x80000;
    private const int LOCK_EX = 2, LOCK_NB = 4;
    private const int ENOENT = 2, EINTR = 4, EWOULDBLOCK = 11;

    public SafeFileHandle Handle { get; }
    public string Path { get; }

    private FileLock(SafeFileHandle handle, string path)
    {
        Handle = handle;
        Path = path;
    }

    /// <summary>Waits (blocking the thread) for the lock: for short critical sections.</summary>
    public static FileLock Acquire(string path)
    {
        while (true)
        {
            var handle = OpenHandle(path);
            int r;
            while ((r = Flock(handle, LOCK_EX)) != 0 && Marshal.GetLastPInvokeError() == EINTR) { }
            if (r != 0) Fail(handle, path, "flock");
            if (StillAt(handle, path)) return new FileLock(handle, path);
            handle.Dispose();
        }
    }

    /// <summary>Waits for the lock without holding a thread (polls; for long-held locks such as a
    /// blob being downloaded by another pull). If <paramref name="path"/> was renamed or removed
    /// while waiting (the other holder finished), the lock is retaken on what is there now.</summary>
    public static async Task<FileLock> AcquireAsync(string path, CancellationToken ct)
    {
        int delay = 5;
        while (true)
        {
            var handle = OpenHandle(path);
            if (Flock(handle, LOCK_EX | LOCK_NB) == 0)
            {
                if (StillAt(handle, path)) return new FileLock(handle, path);
                handle.Dispose();
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            if (errno != EWOULDBLOCK && errno != EINTR) throw new IOException($"flock {path}: errno {errno}");
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 200);
        }
    }

    /// <summary>Opens a file for reading without .NET's implicit flock(LOCK_SH|LOCK_NB), which
    /// would fail while a writer holds its lock (a blob just renamed out of ingest/).</summary>
    public static FileStream OpenRead(string path)
    {
        int fd = Open(path, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT) throw new FileNotFoundException($"{path} does not exist", path);
            throw new IOException($"open {path}: errno {errno}");
        }
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
    }

    /// <summary>A stream over the locked file (it does not take .NET's own lock).</summary>
    public FileStream Stream() => new(Handle, FileAccess.ReadWrite, bufferSize: 0);

    public void Dispose() => Handle.Dispose();

    private static SafeFileHandle OpenHandle(string path)
    {
        int fd = Open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0x1a4 /* 0644 */);
        if (fd < 0) throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static void Fail(SafeFileHandle handle, string path, string call)
    {
        int errno = Marshal.GetLastPInvokeError();
        handle.Dispose();
        throw new IOException($"{call} {path}: errno {errno}");
    }

    /// <summary>True if the locked file is still the one at <paramref name="path"/>: a holder that
    /// renames or unlinks the file before unlocking leaves waiters holding a lock on a file no
    /// longer there.</summary>
    private static unsafe bool StillAt(SafeFileHandle handle, string path)
    {
        byte* a = stackalloc byte[256];
        byte* b = stackalloc byte[256];
        if (FStat(handle, a) != 0 || Stat(path, b) != 0) return false;
        // struct stat starts with st_dev, st_ino (8 bytes each) on x86_64 and aarch64
        return ((ulong*)a)[0] == ((ulong*)b)[0] && ((ulong*)a)[1] == ((ulong*)b)[1];
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int FStat(SafeFileHandle fd, byte* stat);

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Stat(string path, byte* stat);
}
