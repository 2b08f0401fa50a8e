// The fd-relative system calls the layer store needs (extraction beneath a directory fd, overlay
// whiteouts, xattrs, the store lock). What Hcs.Linux.Native.Libc already has (open, close, read,
// write, rename, syscall, errno) is used from there; errors become ErrnoException via Libc.Check.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Hcs.Linux.Native;

[assembly: InternalsVisibleTo("Hcs.Tests.Unit")]
[assembly: InternalsVisibleTo("Hcs.Tests.Integration")]

namespace Hcs.Images.Layers;

internal static unsafe partial class LayerSyscalls
{
    private const string Lib = "libc";

    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const ulong RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08;
    public const int S_IFMT = 0xF000, S_IFIFO = 0x1000, S_IFCHR = 0x2000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    public const int LOCK_EX = 2, LOCK_NB = 4;
    public const int EXDEV = 18, ENOTDIR = 20, EISDIR = 21, ERANGE = 34, ELOOP = 40, ENODATA = 61, EOPNOTSUPP = 95;
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const long SYS_openat2 = 437; // the same number on every architecture (added after the unification at 424)

    /// <summary>struct open_how of openat2(2).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    /// <summary>struct statx: the same layout on every architecture, unlike struct stat.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(16)] public uint Nlink;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(112)] public long MtimeSec;
        [FieldOffset(120)] public uint MtimeNsec;
        [FieldOffset(128)] public uint RdevMajor;
        [FieldOffset(132)] public uint RdevMinor;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;

        public readonly int Type => Mode & S_IFMT;
    }

    [LibraryImport(Lib, EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int OpenAt(int dirFd, string path, int flags, int mode);

    [LibraryImport(Lib, EntryPoint = "mkdirat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int MkdirAt(int dirFd, string path, int mode);

    [LibraryImport(Lib, EntryPoint = "mknodat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int MknodAt(int dirFd, string path, int mode, ulong dev);

    [LibraryImport(Lib, EntryPoint = "symlinkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int SymlinkAt(string target, int dirFd, string path);

    [LibraryImport(Lib, EntryPoint = "linkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int LinkAt(int oldDirFd, string oldPath, int newDirFd, string newPath, int flags);

    [LibraryImport(Lib, EntryPoint = "unlinkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int UnlinkAt(int dirFd, string path, int flags);

    [LibraryImport(Lib, EntryPoint = "readlinkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint ReadlinkAt(int dirFd, string path, byte* buf, nint size);

    [LibraryImport(Lib, EntryPoint = "fchownat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int FchownAt(int dirFd, string path, int uid, int gid, int flags);

    [LibraryImport(Lib, EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(int fd, int uid, int gid);

    [LibraryImport(Lib, EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, int mode);

    [LibraryImport(Lib, EntryPoint = "fchmodat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int FchmodAt(int dirFd, string path, int mode, int flags);

    [LibraryImport(Lib, EntryPoint = "futimens", SetLastError = true)]
    private static partial int Futimens(int fd, Timespec* times);

    [LibraryImport(Lib, EntryPoint = "utimensat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int UtimensAt(int dirFd, string path, Timespec* times, int flags);

    [LibraryImport(Lib, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int StatxNative(int dirFd, string path, int flags, uint mask, Statx* buf);

    [LibraryImport(Lib, EntryPoint = "fsetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Fsetxattr(int fd, string name, byte* value, nuint size, int flags);

    [LibraryImport(Lib, EntryPoint = "lsetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Lsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport(Lib, EntryPoint = "flistxattr", SetLastError = true)]
    private static partial nint Flistxattr(int fd, byte* list, nuint size);

    [LibraryImport(Lib, EntryPoint = "llistxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint Llistxattr(string path, byte* list, nuint size);

    [LibraryImport(Lib, EntryPoint = "fgetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint Fgetxattr(int fd, string name, byte* value, nuint size);

    [LibraryImport(Lib, EntryPoint = "lgetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint Lgetxattr(string path, string name, byte* value, nuint size);

    [LibraryImport(Lib, EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport(Lib, EntryPoint = "getdents64", SetLastError = true)]
    private static partial nint Getdents64(int fd, byte* buf, nuint size);

    /// <summary>openat2(2): resolves <paramref name="path"/> beneath <paramref name="dirFd"/> under the
    /// given RESOLVE_* rules; returns the fd or -1 with errno set (EAGAIN is retried).</summary>
    public static int OpenAt2(int dirFd, string path, int flags, ulong resolve, int mode = 0)
    {
        // Marshalled by hand: the generic syscall(2) entry point takes longs.
        int max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        byte* p = stackalloc byte[max <= 4096 ? max : 1];
        byte[]? heap = max <= 4096 ? null : new byte[max];
        fixed (byte* h = heap)
        {
            byte* s = heap is null ? p : h;
            int n = Encoding.UTF8.GetBytes(path, new Span<byte>(s, max - 1));
            s[n] = 0;
            var how = new OpenHow { Flags = (ulong)flags, Mode = (ulong)mode, Resolve = resolve };
            for (int attempt = 0; ; attempt++)
            {
                // EAGAIN: a concurrent rename or mount somewhere on the system made the kernel give up
                // on a RESOLVE_BENEATH walk; the man page's advice is to retry.
                long fd = Libc.Syscall(SYS_openat2, dirFd, (long)s, (long)&how, sizeof(OpenHow));
                if (fd >= 0 || Libc.Errno != Libc.EAGAIN || attempt == 100) return (int)fd;
            }
        }
    }

    public static int SetTimes(int fd, long sec, long nsec)
    {
        Timespec* t = stackalloc Timespec[2];
        t[0] = t[1] = new Timespec { Sec = sec, Nsec = nsec };
        return Futimens(fd, t);
    }

    public static int SetTimesAt(int dirFd, string name, long sec, long nsec)
    {
        Timespec* t = stackalloc Timespec[2];
        t[0] = t[1] = new Timespec { Sec = sec, Nsec = nsec };
        return UtimensAt(dirFd, name, t, AT_SYMLINK_NOFOLLOW);
    }

    /// <summary>statx of <paramref name="name"/> in <paramref name="dirFd"/>, never following a final
    /// symlink; ("" with AT_EMPTY_PATH: the fd itself). Returns 0 or -1 with errno set.</summary>
    public static int StatAt(int dirFd, string name, out Statx st)
    {
        Statx s;
        int flags = AT_SYMLINK_NOFOLLOW | (name.Length == 0 ? AT_EMPTY_PATH : 0);
        int r = StatxNative(dirFd, name, flags, STATX_BASIC_STATS, &s);
        st = s;
        return r;
    }

    public static int SetXattr(int fd, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* v = value) return Fsetxattr(fd, name, v, (nuint)value.Length, 0);
    }

    public static int SetXattrNoFollow(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* v = value) return Lsetxattr(path, name, v, (nuint)value.Length, 0);
    }

    /// <summary>The xattrs of an open file (fd) or, when <paramref name="fd"/> is -1, of the
    /// path itself (no final symlink followed): name → value, names in ordinal order.</summary>
    public static SortedDictionary<string, byte[]> ListXattrs(int fd, string? path)
    {
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var names = Grow((b, size) => fd >= 0 ? Flistxattr(fd, b, size) : Llistxattr(path!, b, size), "listxattr") ?? [];
        int start = 0;
        for (int i = 0; i < names.Length; i++)
        {
            if (names[i] != 0) continue;
            if (i > start)
            {
                var name = Encoding.UTF8.GetString(names, start, i - start);
                var value = Grow((b, size) => fd >= 0 ? Fgetxattr(fd, name, b, size) : Lgetxattr(path!, name, b, size), $"getxattr {name}", allowMissing: true);
                if (value is not null) result[name] = value;
            }
            start = i + 1;
        }
        return result;
    }

    private delegate nint SizedCall(byte* buffer, nuint size);

    /// <summary>Calls a size-probing xattr call (size 0 asks for the length) until the buffer is
    /// big enough. ENOTSUP means "no xattrs here"; ENODATA (removed meanwhile) is null.</summary>
    private static byte[]? Grow(SizedCall call, string what, bool allowMissing = false)
    {
        for (int attempt = 0; ; attempt++)
        {
            nint need = call(null, 0);
            if (need < 0)
            {
                if (Libc.Errno == EOPNOTSUPP) return [];
                if (allowMissing && Libc.Errno == ENODATA) return null;
                throw new ErrnoException(Libc.Errno, what);
            }
            var buf = new byte[need];
            fixed (byte* b = buf)
            {
                nint got = call(buf.Length == 0 ? null : b, (nuint)buf.Length);
                if (got >= 0) return got == buf.Length ? buf : buf[..(int)got];
                if (Libc.Errno == ERANGE && attempt < 10) continue; // grew between the two calls
                if (allowMissing && Libc.Errno == ENODATA) return null;
                throw new ErrnoException(Libc.Errno, what);
            }
        }
    }

    /// <summary>readlinkat(2): the target of the symlink <paramref name="name"/> in <paramref name="dirFd"/>.</summary>
    public static string ReadLink(int dirFd, string name)
    {
        for (int size = 256; ; size *= 4)
        {
            var buf = new byte[size];
            fixed (byte* b = buf)
            {
                nint n = ReadlinkAt(dirFd, name, b, size);
                if (n < 0) throw new ErrnoException(Libc.Errno, $"readlink {name}");
                if (n < size) return Encoding.UTF8.GetString(buf, 0, (int)n);
            }
        }
    }

    /// <summary>One directory entry from getdents64(2).</summary>
    public readonly record struct DirEntry(string Name, byte Type);

    /// <summary>The entries of an open directory, without "." and "..", in the order the file
    /// system returns them (reads from the fd's current position, so call it once per fd).</summary>
    public static List<DirEntry> ReadDirectory(int dirFd)
    {
        var entries = new List<DirEntry>();
        var buf = new byte[32 * 1024];
        fixed (byte* b = buf)
        {
            while (true)
            {
                nint n = Getdents64(dirFd, b, (nuint)buf.Length);
                if (n < 0) throw new ErrnoException(Libc.Errno, "getdents64");
                if (n == 0) return entries;
                // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                for (nint pos = 0; pos < n;)
                {
                    ushort reclen = *(ushort*)(b + pos + 16);
                    byte type = b[pos + 18];
                    byte* name = b + pos + 19;
                    int len = 0;
                    while (name[len] != 0) len++;
                    if (!(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.'))
                        entries.Add(new DirEntry(Encoding.UTF8.GetString(name, len), type));
                    pos += reclen;
                }
            }
        }
    }

    /// <summary>Removes <paramref name="name"/> in <paramref name="dirFd"/> and, for a directory, all
    /// it holds; never follows a symlink. A name that is already gone is fine.</summary>
    public static void RemoveTree(int dirFd, string name)
    {
        if (UnlinkAt(dirFd, name, 0) == 0) return;
        int errno = Libc.Errno;
        if (errno == Libc.ENOENT) return;
        if (errno != EISDIR && errno != Libc.EPERM) throw new ErrnoException(errno, $"unlink {name}");
        // a directory (unlink gives EISDIR on Linux; EPERM per POSIX)
        int fd = OpenAt(dirFd, name, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            if (Libc.Errno == Libc.ENOENT) return;
            throw new ErrnoException(Libc.Errno, $"open {name}");
        }
        try
        {
            foreach (var e in ReadDirectory(fd)) RemoveTree(fd, e.Name);
        }
        finally
        {
            Libc.Close(fd);
        }
        if (UnlinkAt(dirFd, name, AT_REMOVEDIR) < 0 && Libc.Errno != Libc.ENOENT)
            throw new ErrnoException(Libc.Errno, $"rmdir {name}");
    }

    /// <summary>A path naming <paramref name="name"/> inside the directory an fd (O_PATH included)
    /// refers to, for the calls that have no fd-relative form (lsetxattr, llistxattr).</summary>
    public static string ProcPath(int dirFd, string name) => $"/proc/self/fd/{dirFd}/{name}";
}
