using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

[assembly: InternalsVisibleTo("Hcs.Tests.Unit")]

namespace Hcs.Linux.Cgroups;

/// <summary>
/// Reading and writing cgroupfs files. Plain open/read/write through libc rather than
/// <see cref="File"/>: the kernel answers a refused limit with an errno on write(2), and the
/// message we report ("memory.max: writing 1: Device or resource busy") must carry exactly that
/// errno; System.IO maps some of them to exception types and loses the number. It also keeps a
/// runhcs call to a handful of syscalls and small buffers.
/// </summary>
internal static unsafe partial class CgroupFs
{
    private const string Lib = "libc";
    // Same values on x86_64 and arm64 (asm-generic); O_DIRECTORY differs, so it is not used.
    private const int O_RDONLY = 0, O_WRONLY = 1, O_TRUNC = 0x200, O_CLOEXEC = 0x80000;
    public const int ENOENT = 2, ESRCH = 3, EINTR = 4, EBUSY = 16, EEXIST = 17, EINVAL = 22, ENOSPC = 28,
        EOPNOTSUPP = 95;
    public const short POLLPRI = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SysOpen(string path, int flags, int mode);

    [LibraryImport(Lib, EntryPoint = "close")]
    private static partial int SysClose(int fd);

    [LibraryImport(Lib, EntryPoint = "pread", SetLastError = true)]
    private static partial nint SysPread(int fd, byte* buf, nint count, long offset);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    private static partial nint SysWrite(int fd, byte* buf, nint count);

    [LibraryImport(Lib, EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint SysPwrite(int fd, byte* buf, nint count, long offset);

    [LibraryImport(Lib, EntryPoint = "mkdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SysMkdir(string path, int mode);

    [LibraryImport(Lib, EntryPoint = "rmdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SysRmdir(string path);

    [LibraryImport(Lib, EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    private static partial int SysPoll(PollFd* fds, nuint count, int timeoutMs);

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>The exception every refused write becomes: file, value, kernel's reason.</summary>
    public static CgroupException WriteFailed(string path, string value, int errno) =>
        new($"{path}: writing {value}: {ErrorText(errno)}", errno);

    /// <summary>Opens read-only, close-on-exec. Returns the fd or -errno.</summary>
    public static int OpenRead(string path)
    {
        while (true)
        {
            int fd = SysOpen(path, O_RDONLY | O_CLOEXEC, 0);
            if (fd >= 0) return fd;
            int e = Marshal.GetLastPInvokeError();
            if (e != EINTR) return -e;
        }
    }

    public static void Close(int fd) => SysClose(fd);

    /// <summary>One write(2) of the whole value, as the kernel parses each write as one request.
    /// O_TRUNC is what runc uses too: cgroupfs ignores it, and it keeps test trees made of
    /// ordinary files holding exactly the last value written. Returns 0 or the errno.</summary>
    public static int TryWrite(string path, string value)
    {
        int fd = OpenWrite(path);
        if (fd < 0) return -fd;
        try
        {
            return WriteValue(fd, value);
        }
        finally
        {
            SysClose(fd);
        }
    }

    /// <summary>Opens for writing (O_TRUNC, see <see cref="TryWrite"/>). The fd or -errno.</summary>
    private static int OpenWrite(string path)
    {
        while (true)
        {
            int fd = SysOpen(path, O_WRONLY | O_TRUNC | O_CLOEXEC, 0);
            if (fd >= 0) return fd;
            int e = Marshal.GetLastPInvokeError();
            if (e != EINTR) return -e;
        }
    }

    /// <summary>The value in one write at offset 0 (pwrite: cgroupfs ignores the offset; a test
    /// tree's ordinary file written again through a kept fd starts over). 0 or the errno.</summary>
    private static int WriteValue(int fd, string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = max > 512 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buf = rented ?? stackalloc byte[512];
        int len = Encoding.UTF8.GetBytes(value, buf);
        try
        {
            fixed (byte* p = buf)
            {
                while (true)
                {
                    nint n = SysPwrite(fd, p, len, 0);
                    if (n == len) return 0;
                    if (n >= 0) return EINVAL; // cgroupfs never takes part of a value
                    int e = Marshal.GetLastPInvokeError();
                    if (e != EINTR) return e;
                }
            }
        }
        finally
        {
            if (rented != null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Files kept open across writes, for many values to one file (v1 device rules: a dozen for
    /// the default container, on the critical path of every create): one open and close per
    /// file instead of per value. Each value is still its own write(2), as the kernel parses
    /// each write as one request, so their order is kept.
    /// </summary>
    public sealed class KeptOpen : IDisposable
    {
        private readonly Dictionary<string, int> _fds = new(StringComparer.Ordinal);

        public void Write(string path, string value)
        {
            if (!_fds.TryGetValue(path, out int fd))
            {
                fd = OpenWrite(path);
                if (fd < 0) throw WriteFailed(path, value, -fd);
                _fds[path] = fd;
            }
            int e = WriteValue(fd, value);
            if (e != 0) throw WriteFailed(path, value, e);
        }

        public void Dispose()
        {
            foreach (int fd in _fds.Values) SysClose(fd);
            _fds.Clear();
        }
    }

    public static void Write(string path, string value)
    {
        int e = TryWrite(path, value);
        if (e != 0) throw WriteFailed(path, value, e);
    }

    /// <summary>Reads a whole file; null with the errno when it cannot be opened or read.</summary>
    public static string? TryRead(string path, out int errno)
    {
        int fd = OpenRead(path);
        if (fd < 0)
        {
            errno = -fd;
            return null;
        }
        try
        {
            return ReadFd(fd, out errno);
        }
        finally
        {
            SysClose(fd);
        }
    }

    /// <summary>Reads from offset 0 (pread, so a kept-open fd can be re-read, as the
    /// cgroup.events poll loop does).</summary>
    public static string? ReadFd(int fd, out int errno)
    {
        // Most cgroup files are a few bytes; memory.stat and big cgroup.procs are a few KiB.
        byte[] buf = ArrayPool<byte>.Shared.Rent(4096);
        int total = 0;
        try
        {
            while (true)
            {
                if (total == buf.Length)
                {
                    byte[] bigger = ArrayPool<byte>.Shared.Rent(buf.Length * 2);
                    buf.AsSpan(0, total).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buf);
                    buf = bigger;
                }
                nint n;
                fixed (byte* p = &buf[total])
                    n = SysPread(fd, p, buf.Length - total, total);
                if (n < 0)
                {
                    int e = Marshal.GetLastPInvokeError();
                    if (e == EINTR) continue;
                    errno = e;
                    return null;
                }
                if (n == 0) break;
                total += (int)n;
            }
            errno = 0;
            return Encoding.UTF8.GetString(buf, 0, total);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>Reads a file that must exist; the error names the file.</summary>
    public static string Read(string path) =>
        TryRead(path, out int e) ?? throw new CgroupException($"{path}: reading: {ErrorText(e)}", e);

    /// <summary>Creates one directory; false if it already existed.</summary>
    public static bool Mkdir(string path)
    {
        if (SysMkdir(path, 0x1ED /* 0755 */) == 0) return true;
        int e = Marshal.GetLastPInvokeError();
        if (e == EEXIST) return false;
        throw new CgroupException($"{path}: mkdir: {ErrorText(e)}", e);
    }

    /// <summary>mkdir(2) with mode 0755; 0 or the errno.</summary>
    public static int TryMkdir(string path) => SysMkdir(path, 0x1ED /* 0755 */) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>rmdir(2); 0 or the errno.</summary>
    public static int Rmdir(string path) => SysRmdir(path) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>kill(2); 0 or the errno.</summary>
    public static int Kill(int pid, int signal) => SysKill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>Waits for a kernfs change notification (POLLPRI) on fd, at most timeoutMs.</summary>
    public static void PollPri(int fd, int timeoutMs)
    {
        var p = new PollFd { Fd = fd, Events = POLLPRI };
        SysPoll(&p, 1, timeoutMs);
    }

    // ---- parsing: spans over the file text, no per-line strings ----

    /// <summary>A number as cgroupfs prints it; "max" (v2's unlimited) is ulong.MaxValue.
    /// Negative values (v1 prints -1 for some unlimited settings) are also unlimited.</summary>
    public static ulong ParseU64(ReadOnlySpan<char> s)
    {
        s = s.Trim();
        if (s.IsEmpty) return 0;
        if (s.SequenceEqual("max") || s[0] == '-') return ulong.MaxValue;
        return ulong.TryParse(s, out ulong v) ? v : 0;
    }

    /// <summary>The value of "key value" in a flat-keyed file (memory.stat, cpu.stat,
    /// cgroup.events, memory.oom_control...).</summary>
    public static bool TryGetKey(string text, string key, out ulong value)
    {
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.Length > key.Length && line[key.Length] == ' ' && line.StartsWith(key))
            {
                value = ParseU64(line[(key.Length + 1)..]);
                return true;
            }
        }
        value = 0;
        return false;
    }

    public static ulong GetKey(string? text, string key) =>
        text != null && TryGetKey(text, key, out ulong v) ? v : 0;

    /// <summary>Reads a single-number file; 0 when it is absent.</summary>
    public static ulong ReadU64(string path)
    {
        string? s = TryRead(path, out _);
        return s == null ? 0 : ParseU64(s);
    }

    /// <summary>Adds the pids listed in a cgroup.procs text (one per line; v1 may repeat them).</summary>
    public static void ParsePids(string text, List<int> into, HashSet<int> seen)
    {
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (int.TryParse(line.Trim(), out int pid) && seen.Add(pid)) into.Add(pid);
        }
    }

    /// <summary>Reads cgroup.procs of dir and, when recursive, of every sub-cgroup.</summary>
    public static List<int> GetPids(string dir, bool recursive)
    {
        var pids = new List<int>();
        var seen = new HashSet<int>();
        AddPids(dir, recursive, pids, seen);
        return pids;
    }

    private static void AddPids(string dir, bool recursive, List<int> pids, HashSet<int> seen)
    {
        string? text = TryRead(Path.Join(dir, "cgroup.procs"), out int e);
        if (text == null)
        {
            if (e == ENOENT) return; // the cgroup went away meanwhile: it has no processes
            throw new CgroupException($"{dir}/cgroup.procs: reading: {ErrorText(e)}", e);
        }
        ParsePids(text, pids, seen);
        if (!recursive) return;
        foreach (string sub in SubDirs(dir)) AddPids(sub, true, pids, seen);
    }

    public static string[] SubDirs(string dir)
    {
        try
        {
            return Directory.GetDirectories(dir);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }
}
