// Applies tar entries to a layer's diff/ directory in overlay form. Every path is reached from
// the directory's fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and every file is made
// with an *at() call on its parent's fd and a single final name (O_EXCL / O_NOFOLLOW), so no
// entry, however crafted, can write outside the directory or through a symlink.
//
// Per entry: refuse what a layer must not hold (docs/design/0006), turn whiteout names into
// overlay whiteouts (char 0:0, trusted.overlay.opaque=y), else create the file, then owner,
// mode (after the owner: chown clears setuid), xattrs, mtime. Directory mtimes are set at the
// end, deepest first, since creating their children changes them.
using System.Formats.Tar;
using System.Text;
using Hcs.Linux.Native;
using static Hcs.Images.Layers.LayerSyscalls;

namespace Hcs.Images.Layers;

internal sealed unsafe class LayerApplier : IDisposable
{
    private const int PathDirFlags = Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC;
    private const ulong Beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
    private const string XattrKeyPrefix = "SCHILY.xattr.";
    private static readonly byte[] OpaqueValue = "y"u8.ToArray();

    private readonly int _rootFd;
    // The parent directory of the last entry: archives list a directory's entries together, so
    // most entries need no path walk at all.
    private string? _cachedParent;
    private int _cachedParentFd = -1;
    private readonly Dictionary<string, (long Sec, long Nsec)> _directoryTimes = new(StringComparer.Ordinal);
    private readonly byte[] _buffer = new byte[1 << 20];

    public LayerApplier(string diffDir)
    {
        _rootFd = Libc.Check(Libc.Open(diffDir, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0), $"open {diffDir}");
    }

    /// <summary>Bytes of regular-file data written.</summary>
    public long Size { get; private set; }

    /// <summary>Applies one entry. <paramref name="rawPax"/>: its PAX records as bytes.</summary>
    public void Apply(TarEntry entry, IReadOnlyDictionary<string, byte[]>? rawPax)
    {
        string name = entry.Name;
        switch (entry.EntryType)
        {
            case TarEntryType.GlobalExtendedAttributes:
                return; // defaults for later entries' metadata we do not use (charset, comments)
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile
                or TarEntryType.Directory or TarEntryType.SymbolicLink or TarEntryType.HardLink or TarEntryType.Fifo:
                break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                throw new LayerException(name, "device node (a layer may not carry devices: the runtime gives a container its /dev; whiteouts are written as .wh. files)");
            default:
                throw new LayerException(name, $"unsupported entry type {entry.EntryType} ('{(char)entry.EntryType}')");
        }
        string path = LayerPaths.Normalize(name);
        var xattrs = Xattrs(entry, rawPax);
        if (path.Length == 0)
        {
            if (entry.EntryType != TarEntryType.Directory) throw new LayerException(name, "the layer root must be a directory");
            ApplyDirectoryMetadata(entry, _rootFd, xattrs, "");
            return;
        }
        var (parent, baseName) = LayerPaths.Split(path);
        try
        {
            switch (LayerPaths.ClassifyWhiteout(baseName, out var deleted))
            {
                case WhiteoutKind.AufsMetadata:
                    return;
                case WhiteoutKind.Opaque:
                    MakeOpaque(ResolveParent(name, parent));
                    return;
                case WhiteoutKind.Whiteout:
                    if (deleted is "" or "." or "..") throw new LayerException(name, "whiteout of an invalid name");
                    MakeWhiteout(name, ResolveParent(name, parent), deleted);
                    return;
            }
            int parentFd = ResolveParent(name, parent);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    WriteDirectory(entry, parentFd, baseName, path, xattrs);
                    break;
                case TarEntryType.SymbolicLink:
                    WriteSymlink(entry, parentFd, baseName, path, xattrs);
                    break;
                case TarEntryType.HardLink:
                    WriteHardLink(entry, parentFd, baseName, path);
                    break;
                case TarEntryType.Fifo:
                    WriteFifo(entry, parentFd, baseName, xattrs);
                    break;
                default:
                    WriteFile(entry, parentFd, baseName, xattrs);
                    break;
            }
        }
        catch (ErrnoException e)
        {
            throw new LayerException(name, e.Message, e);
        }
    }

    /// <summary>Sets the directory mtimes recorded on the way, deepest first.</summary>
    public void Finish()
    {
        foreach (var (path, time) in _directoryTimes.OrderByDescending(d => Depth(d.Key)))
        {
            int fd = OpenAt2(_rootFd, path.Length == 0 ? "." : path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, Beneath);
            if (fd < 0) continue; // replaced or removed by a later entry
            try
            {
                Libc.Check(SetTimes(fd, time.Sec, time.Nsec), $"set times of {path}");
            }
            finally
            {
                Libc.Close(fd);
            }
        }
        _directoryTimes.Clear();
    }

    public void Dispose()
    {
        DropCachedParent();
        Libc.Close(_rootFd);
    }

    private static int Depth(string path) => path.Length == 0 ? 0 : path.Count(c => c == '/') + 1;

    // ---- the entry kinds ----------------------------------------------------------------------

    private void WriteFile(TarEntry entry, int parentFd, string baseName, List<(string Name, byte[] Value)>? xattrs)
    {
        const int flags = Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
        int fd = OpenAt(parentFd, baseName, flags, 0b110_000_000);
        if (fd < 0 && Libc.Errno == Libc.EEXIST)
        {
            RemoveExisting(parentFd, baseName);
            fd = OpenAt(parentFd, baseName, flags, 0b110_000_000);
        }
        Libc.Check(fd, "create file");
        try
        {
            CopyData(entry, fd);
            SetOwnerModeXattrs(fd, entry, xattrs);
            var (sec, nsec) = UnixTime(entry.ModificationTime);
            Libc.Check(SetTimes(fd, sec, nsec), "set times");
        }
        finally
        {
            Libc.Close(fd);
        }
        Size += entry.Length;
    }

    private void CopyData(TarEntry entry, int fd)
    {
        long remaining = entry.Length;
        if (remaining == 0) return;
        var data = entry.DataStream ?? throw new LayerException(entry.Name, "no data for a file of non-zero size");
        while (remaining > 0)
        {
            int got;
            try
            {
                got = data.Read(_buffer, 0, (int)Math.Min(_buffer.Length, remaining));
            }
            catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
            {
                throw new LayerException(entry.Name, "the archive ends inside this entry's data (truncated)", e);
            }
            if (got == 0) throw new LayerException(entry.Name, "the archive ends inside this entry's data (truncated)");
            fixed (byte* b = _buffer)
            {
                for (int done = 0; done < got;)
                {
                    nint n = Libc.Write(fd, b + done, got - done);
                    if (n < 0)
                    {
                        if (Libc.Errno == Libc.EINTR) continue;
                        throw new ErrnoException(Libc.Errno, "write");
                    }
                    done += (int)n;
                }
            }
            remaining -= got;
        }
    }

    private void WriteDirectory(TarEntry entry, int parentFd, string baseName, string path, List<(string, byte[])>? xattrs)
    {
        if (MkdirAt(parentFd, baseName, 0b111_000_000) < 0)
        {
            if (Libc.Errno != Libc.EEXIST) throw new ErrnoException(Libc.Errno, "mkdir");
            // tar semantics: a directory listed again keeps its contents and takes the new
            // metadata; anything else by that name gives way
            Libc.Check(StatAt(parentFd, baseName, out var st), "stat");
            if (st.Type != S_IFDIR)
            {
                RemoveExisting(parentFd, baseName);
                Libc.Check(MkdirAt(parentFd, baseName, 0b111_000_000), "mkdir");
            }
        }
        int fd = Libc.Check(OpenAt(parentFd, baseName, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0), "open directory");
        try
        {
            ApplyDirectoryMetadata(entry, fd, xattrs, path);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    private void ApplyDirectoryMetadata(TarEntry entry, int fd, List<(string, byte[])>? xattrs, string path)
    {
        try
        {
            SetOwnerModeXattrs(fd, entry, xattrs);
        }
        catch (ErrnoException e)
        {
            throw new LayerException(entry.Name, e.Message, e);
        }
        _directoryTimes[path] = UnixTime(entry.ModificationTime);
    }

    private void WriteSymlink(TarEntry entry, int parentFd, string baseName, string path, List<(string, byte[])>? xattrs)
    {
        string target = entry.LinkName;
        if (target.Length == 0) throw new LayerException(entry.Name, "symlink with an empty target");
        if (LayerPaths.SymlinkClimbsOut(path, target))
            throw new LayerException(entry.Name, $"symlink target \"{target}\" climbs above the layer root");
        if (SymlinkAt(target, parentFd, baseName) < 0)
        {
            if (Libc.Errno != Libc.EEXIST) throw new ErrnoException(Libc.Errno, "symlink");
            RemoveExisting(parentFd, baseName);
            Libc.Check(SymlinkAt(target, parentFd, baseName), "symlink");
        }
        Libc.Check(FchownAt(parentFd, baseName, entry.Uid, entry.Gid, AT_SYMLINK_NOFOLLOW), "lchown");
        SetXattrsNoFollow(parentFd, baseName, xattrs);
        var (sec, nsec) = UnixTime(entry.ModificationTime);
        Libc.Check(SetTimesAt(parentFd, baseName, sec, nsec), "set times");
    }

    private void WriteHardLink(TarEntry entry, int parentFd, string baseName, string path)
    {
        string target;
        try
        {
            target = LayerPaths.Normalize(entry.LinkName);
        }
        catch (LayerException e)
        {
            throw new LayerException(entry.Name, $"hard link target \"{entry.LinkName}\" leaves the layer ({e.Message})");
        }
        if (target.Length == 0) throw new LayerException(entry.Name, "hard link to the layer root");
        if (target == path) return; // a link to itself: the file is already there
        var (targetParent, targetBase) = LayerPaths.Split(target);
        int targetParentFd = targetParent.Length == 0 ? _rootFd : OpenAt2(_rootFd, targetParent, PathDirFlags, Beneath);
        if (targetParentFd < 0)
        {
            throw Libc.Errno == ELOOP
                ? new LayerException(entry.Name, $"hard link target \"{entry.LinkName}\" is reached through a symlink")
                : new LayerException(entry.Name, $"hard link to \"{entry.LinkName}\", which is not in this layer (hard links may only name files extracted before them)");
        }
        try
        {
            if (StatAt(targetParentFd, targetBase, out var st) < 0)
                throw new LayerException(entry.Name, $"hard link to \"{entry.LinkName}\", which is not in this layer (hard links may only name files extracted before them)");
            if (st.Type is not (S_IFREG or S_IFLNK or S_IFIFO))
                throw new LayerException(entry.Name, $"hard link to \"{entry.LinkName}\", which is not a file");
            if (LinkAt(targetParentFd, targetBase, parentFd, baseName, 0) < 0)
            {
                if (Libc.Errno != Libc.EEXIST) throw new ErrnoException(Libc.Errno, $"link to {entry.LinkName}");
                RemoveExisting(parentFd, baseName);
                Libc.Check(LinkAt(targetParentFd, targetBase, parentFd, baseName, 0), $"link to {entry.LinkName}");
            }
        }
        finally
        {
            if (targetParentFd != _rootFd) Libc.Close(targetParentFd);
        }
    }

    private void WriteFifo(TarEntry entry, int parentFd, string baseName, List<(string, byte[])>? xattrs)
    {
        if (MknodAt(parentFd, baseName, S_IFIFO | 0b110_000_000, 0) < 0)
        {
            if (Libc.Errno != Libc.EEXIST) throw new ErrnoException(Libc.Errno, "mkfifo");
            RemoveExisting(parentFd, baseName);
            Libc.Check(MknodAt(parentFd, baseName, S_IFIFO | 0b110_000_000, 0), "mkfifo");
        }
        // A fifo cannot be opened without a peer (or O_NONBLOCK games): set it up by name. The name
        // is one we just created in a directory only we write to.
        Libc.Check(FchownAt(parentFd, baseName, entry.Uid, entry.Gid, AT_SYMLINK_NOFOLLOW), "lchown");
        Libc.Check(FchmodAt(parentFd, baseName, (int)entry.Mode & 0xFFF, 0), "chmod");
        SetXattrsNoFollow(parentFd, baseName, xattrs);
        var (sec, nsec) = UnixTime(entry.ModificationTime);
        Libc.Check(SetTimesAt(parentFd, baseName, sec, nsec), "set times");
    }

    private void MakeWhiteout(string entryName, int parentFd, string deleted)
    {
        // whatever this layer extracted under that name before is gone too
        RemoveExisting(parentFd, deleted);
        if (MknodAt(parentFd, deleted, S_IFCHR, 0) < 0)
            throw new LayerException(entryName, $"cannot create the overlay whiteout for \"{deleted}\": {new ErrnoException(Libc.Errno, "mknod").Message}");
    }

    private static void MakeOpaque(int parentFd)
    {
        // fsetxattr needs a real fd; the cached parent is O_PATH
        int fd = Libc.Check(OpenAt(parentFd, ".", Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0), "open directory");
        try
        {
            Libc.Check(SetXattr(fd, "trusted.overlay.opaque", OpaqueValue), "set trusted.overlay.opaque");
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    // ---- metadata ------------------------------------------------------------------------------

    private static void SetOwnerModeXattrs(int fd, TarEntry entry, List<(string Name, byte[] Value)>? xattrs)
    {
        Libc.Check(Fchown(fd, entry.Uid, entry.Gid), "chown");
        Libc.Check(Fchmod(fd, (int)entry.Mode & 0xFFF), "chmod"); // after chown, which clears setuid/setgid
        if (xattrs is null) return;
        foreach (var (name, value) in xattrs)
            if (SetXattr(fd, name, value) < 0) CheckXattrError(name);
    }

    private static void SetXattrsNoFollow(int parentFd, string baseName, List<(string Name, byte[] Value)>? xattrs)
    {
        if (xattrs is null) return;
        var path = ProcPath(parentFd, baseName);
        foreach (var (name, value) in xattrs)
            if (SetXattrNoFollow(path, name, value) < 0) CheckXattrError(name);
    }

    /// <summary>As docker and containerd do: a file system that does not take an xattr (or a
    /// namespace the kernel refuses on this kind of file, such as user.* on a symlink) does not
    /// fail the import.</summary>
    private static void CheckXattrError(string name)
    {
        int errno = Libc.Errno;
        if (errno is EOPNOTSUPP or Libc.EPERM) return;
        throw new ErrnoException(errno, $"set xattr {name}");
    }

    /// <summary>The entry's xattrs (PAX SCHILY.xattr.NAME), values as the archive's bytes.</summary>
    private static List<(string Name, byte[] Value)>? Xattrs(TarEntry entry, IReadOnlyDictionary<string, byte[]>? rawPax)
    {
        if (entry is not PaxTarEntry pax) return null;
        List<(string, byte[])>? result = null;
        foreach (var key in pax.ExtendedAttributes.Keys)
        {
            if (key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
                throw new LayerException(entry.Name, "sparse file (GNU sparse PAX format is not supported)");
            if (!key.StartsWith(XattrKeyPrefix, StringComparison.Ordinal)) continue;
            string name = key[XattrKeyPrefix.Length..];
            if (name.StartsWith("trusted.overlay.", StringComparison.Ordinal) || name.StartsWith("user.overlay.", StringComparison.Ordinal))
                throw new LayerException(entry.Name, $"xattr {name} (overlayfs metadata: an archive must not forge whiteouts, opaque dirs or redirects)");
            // TarReader decoded the value as UTF-8, which is lossy for binary values; the tracker
            // kept the bytes. Both read the same header, so a key missing there means the two
            // disagree about the framing: refuse rather than guess.
            if (rawPax is null || !rawPax.TryGetValue(key, out var value)
                || Encoding.UTF8.GetString(value) != pax.ExtendedAttributes[key])
                throw new LayerException(entry.Name, $"PAX record {key} could not be read consistently");
            (result ??= []).Add((name, value));
        }
        return result;
    }

    private static (long Sec, long Nsec) UnixTime(DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0)
        {
            sec--;
            rest += TimeSpan.TicksPerSecond;
        }
        return (sec, rest * 100);
    }

    // ---- directories ---------------------------------------------------------------------------

    /// <summary>An O_PATH fd of the entry's parent directory, created (0755, root) when the
    /// archive did not list it. Owned by the cache: callers do not close it.</summary>
    private int ResolveParent(string entryName, string parent)
    {
        if (parent.Length == 0) return _rootFd;
        if (_cachedParent == parent) return _cachedParentFd;
        DropCachedParent();
        int fd = OpenAt2(_rootFd, parent, PathDirFlags, Beneath);
        if (fd < 0)
        {
            int errno = Libc.Errno;
            fd = errno == Libc.ENOENT ? CreateParents(entryName, parent) : throw PathError(entryName, errno);
        }
        _cachedParent = parent;
        _cachedParentFd = fd;
        return fd;
    }

    /// <summary>Walks <paramref name="parent"/> one component at a time, making what is missing.</summary>
    private int CreateParents(string entryName, string parent)
    {
        int current = _rootFd;
        try
        {
            foreach (var part in parent.Split('/'))
            {
                int next = OpenAt2(current, part, PathDirFlags, Beneath);
                if (next < 0 && Libc.Errno == Libc.ENOENT)
                {
                    if (MkdirAt(current, part, 0b111_101_101) < 0 && Libc.Errno != Libc.EEXIST)
                        throw new LayerException(entryName, new ErrnoException(Libc.Errno, $"mkdir {part}").Message);
                    // mkdir's mode passes through the umask; set it exactly
                    FchmodAt(current, part, 0b111_101_101, 0);
                    next = OpenAt2(current, part, PathDirFlags, Beneath);
                }
                if (next < 0) throw PathError(entryName, Libc.Errno);
                if (current != _rootFd) Libc.Close(current);
                current = next;
            }
            return current;
        }
        catch
        {
            if (current != _rootFd) Libc.Close(current);
            throw;
        }
    }

    private static LayerException PathError(string entryName, int errno) => errno switch
    {
        ELOOP => new LayerException(entryName, "its path goes through a symlink (entries under a symlink are refused)"),
        ENOTDIR => new LayerException(entryName, "its path goes through something that is not a directory"),
        EXDEV => new LayerException(entryName, "its path leaves the layer"),
        _ => new LayerException(entryName, new ErrnoException(errno, "open parent directory").Message),
    };

    /// <summary>Removes whatever is at <paramref name="baseName"/> (a directory with its contents).</summary>
    private void RemoveExisting(int parentFd, string baseName)
    {
        // the cached directory could be inside what goes; the parent itself stays
        if (_cachedParentFd != parentFd) DropCachedParent();
        RemoveTree(parentFd, baseName);
    }

    private void DropCachedParent()
    {
        if (_cachedParentFd >= 0) Libc.Close(_cachedParentFd);
        _cachedParentFd = -1;
        _cachedParent = null;
    }
}
