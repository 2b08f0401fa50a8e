// Turns a directory in overlay form (a container's upper dir, or a stored layer's diff/) into
// an OCI layer tar: the inverse of LayerApplier. A 0:0 character device becomes ".wh.NAME", a
// directory with trusted.overlay.opaque=y gets ".wh..wh..opq" right after its own entry.
// Depth first, names in ordinal order, so the same tree always gives the same bytes.
//
// Walked with directory fds (getdents64, statx, openat O_NOFOLLOW): a symlink in the tree is
// written as a symlink, never followed.
using Hcs.Images.Archive;
using Hcs.Linux.Native;
using static Hcs.Images.Layers.LayerSyscalls;

namespace Hcs.Images.Layers;

internal static class LayerExporter
{
    public static async Task ExportAsync(string directory, Stream output, CancellationToken ct)
    {
        int rootFd = Libc.Check(Libc.Open(directory, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0), $"open {directory}");
        try
        {
            var writer = new TarArchiveWriter(output);
            var walk = new Walk(writer, ct);
            await walk.DirectoryAsync(rootFd, "");
            await writer.FinishAsync(ct);
        }
        finally
        {
            Libc.Close(rootFd);
        }
    }

    /// <summary>Opens <paramref name="name"/> in <paramref name="dirFd"/> for reading if it is
    /// a regular file at the moment of the open; -1 if it is gone. Anything else there now (a
    /// device node or fifo swapped in after the directory was listed) is a LayerException:
    /// hcsd is root outside the container's device cgroup, so a plain open(O_RDONLY) of a
    /// block device a container made would read the host's disk into the image, and a fifo
    /// would block the export forever. O_PATH opens nothing (no device open, no fifo wait);
    /// the type is checked on that fd, and the same inode is then reopened for reading
    /// through /proc/self/fd.</summary>
    internal static int OpenRegularFile(int dirFd, string name, string path, out Statx st)
    {
        st = default;
        int pathFd = OpenAt(dirFd, name, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (pathFd < 0)
        {
            if (Libc.Errno == Libc.ENOENT) return -1;
            throw new ErrnoException(Libc.Errno, $"open {path}");
        }
        try
        {
            Libc.Check(StatAt(pathFd, "", out st), $"stat {path}");
            if (st.Type != S_IFREG)
                throw new LayerException($"{path}: replaced by something other than a regular file (mode 0{Convert.ToString(st.Type, 8)}) while it was exported");
            return Libc.Check(Libc.Open($"/proc/self/fd/{pathFd}", Libc.O_RDONLY | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0), $"open {path}");
        }
        finally
        {
            Libc.Close(pathFd);
        }
    }

    private sealed class Walk(TarArchiveWriter writer, CancellationToken ct)
    {
        // (device, inode) of regular files with more than one link → the first name written
        private readonly Dictionary<(uint, uint, ulong), string> _links = [];

        public async Task DirectoryAsync(int dirFd, string prefix)
        {
            var entries = ReadDirectory(dirFd);
            entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            foreach (var entry in entries)
            {
                ct.ThrowIfCancellationRequested();
                if (StatAt(dirFd, entry.Name, out var st) < 0)
                {
                    if (Libc.Errno == Libc.ENOENT) continue; // gone meanwhile
                    throw new ErrnoException(Libc.Errno, $"stat {prefix}{entry.Name}");
                }
                string path = prefix + entry.Name;
                switch (st.Type)
                {
                    case S_IFDIR:
                        await SubdirectoryAsync(dirFd, entry.Name, path, st);
                        break;
                    case S_IFREG:
                        await FileAsync(dirFd, entry.Name, path);
                        break;
                    case S_IFLNK:
                        await writer.WriteHeaderAsync(Header(path, (byte)'2', st, ReadLink(dirFd, entry.Name),
                            Exported(ListXattrs(-1, ProcPath(dirFd, entry.Name)))), ct);
                        break;
                    case S_IFIFO:
                        await writer.WriteHeaderAsync(Header(path, (byte)'6', st, null,
                            Exported(ListXattrs(-1, ProcPath(dirFd, entry.Name)))), ct);
                        break;
                    case S_IFCHR when st.RdevMajor == 0 && st.RdevMinor == 0:
                        // overlay whiteout
                        await writer.WriteHeaderAsync(new TarHeader
                        {
                            Name = prefix + LayerPaths.WhiteoutPrefix + entry.Name,
                            Type = (byte)'0',
                            Uid = st.Uid,
                            Gid = st.Gid,
                            MtimeSeconds = st.MtimeSec,
                        }, ct);
                        break;
                    default:
                        // Other devices and sockets: a layer does not carry them (LayerApplier
                        // refuses devices, tar has no sockets); the runtime makes /dev.
                        break;
                }
            }
        }

        private async Task SubdirectoryAsync(int dirFd, string name, string path, Statx st)
        {
            int fd = OpenAt(dirFd, name, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            if (fd < 0)
            {
                if (Libc.Errno == Libc.ENOENT) return;
                throw new ErrnoException(Libc.Errno, $"open {path}");
            }
            try
            {
                var xattrs = ListXattrs(fd, null);
                // A renamed directory (redirect_dir=on) takes its contents from another lower
                // path: the tree alone does not say what it holds.
                if (xattrs.ContainsKey("trusted.overlay.redirect"))
                    throw new LayerException($"{path}: a directory renamed through overlayfs redirect_dir cannot be exported (mount with redirect_dir=off)");
                bool opaque = xattrs.TryGetValue("trusted.overlay.opaque", out var value) && value is [(byte)'y'];
                await writer.WriteHeaderAsync(Header(path + "/", (byte)'5', st, null, Exported(xattrs)), ct);
                if (opaque)
                {
                    await writer.WriteHeaderAsync(new TarHeader
                    {
                        Name = path + "/" + LayerPaths.OpaqueMarker,
                        Type = (byte)'0',
                        MtimeSeconds = st.MtimeSec,
                    }, ct);
                }
                await DirectoryAsync(fd, path + "/");
            }
            finally
            {
                Libc.Close(fd);
            }
        }

        private async Task FileAsync(int dirFd, string name, string path)
        {
            // The statx above was by name: a running container may have swapped the name for a
            // device node or a fifo since (commit does not pause it). Open what is there now and
            // take its type, inode and size from the open file, never from the listing.
            int fd = OpenRegularFile(dirFd, name, path, out var st);
            if (fd < 0) return; // gone meanwhile
            try
            {
                if (st.Nlink > 1)
                {
                    var key = (st.DevMajor, st.DevMinor, st.Ino);
                    if (_links.TryGetValue(key, out var first))
                    {
                        await writer.WriteHeaderAsync(Header(path, (byte)'1', st, first, null), ct);
                        return;
                    }
                    _links[key] = path;
                }
                var xattrs = ListXattrs(fd, null);
                // metacopy=on copies up only the metadata: the data is still in a lower layer
                if (xattrs.ContainsKey("trusted.overlay.metacopy"))
                    throw new LayerException($"{path}: a metadata-only copy-up (overlayfs metacopy=on) cannot be exported (mount with metacopy=off)");
                var header = Header(path, (byte)'0', st, null, Exported(xattrs));
                header.Size = (long)st.Size;
                await writer.WriteHeaderAsync(header, ct);
                long remaining = header.Size;
                while (remaining > 0)
                {
                    long want = remaining;
                    int got = await writer.FillDataAsync(buffer => ReadInto(fd, buffer.Span, want, path), ct);
                    if (got == 0)
                    {
                        // The file shrank while we read it: the header promised its size, so
                        // pad with zeros rather than write a broken archive.
                        await writer.WriteDataAsync(new byte[(int)Math.Min(remaining, 1 << 20)], ct);
                        remaining -= Math.Min(remaining, 1 << 20);
                        continue;
                    }
                    remaining -= got;
                }
                await writer.EndEntryAsync(ct);
            }
            finally
            {
                Libc.Close(fd);
            }
        }

        private static unsafe int ReadInto(int fd, Span<byte> buffer, long limit, string path)
        {
            if (buffer.Length > limit) buffer = buffer[..(int)limit];
            fixed (byte* b = buffer)
            {
                while (true)
                {
                    nint n = Libc.Read(fd, b, buffer.Length);
                    if (n >= 0) return (int)n;
                    if (Libc.Errno != Libc.EINTR) throw new ErrnoException(Libc.Errno, $"read {path}");
                }
            }
        }

        private static TarHeader Header(string name, byte type, in Statx st, string? link, IReadOnlyDictionary<string, byte[]>? xattrs) => new()
        {
            Name = name,
            Type = type,
            Mode = st.Mode & 0xFFF,
            Uid = st.Uid,
            Gid = st.Gid,
            MtimeSeconds = st.MtimeSec,
            LinkName = link,
            Xattrs = xattrs,
        };

        /// <summary>The xattrs a layer carries: user.* and security.*, but never overlayfs's own
        /// (user.overlay.* in userxattr mounts); trusted.* and system.* stay on this host.</summary>
        private static SortedDictionary<string, byte[]>? Exported(SortedDictionary<string, byte[]> all)
        {
            SortedDictionary<string, byte[]>? kept = null;
            foreach (var (name, value) in all)
            {
                bool keep = (name.StartsWith("user.", StringComparison.Ordinal) && !name.StartsWith("user.overlay.", StringComparison.Ordinal))
                    || name.StartsWith("security.", StringComparison.Ordinal);
                if (keep) (kept ??= new SortedDictionary<string, byte[]>(StringComparer.Ordinal))[name] = value;
            }
            return kept;
        }
    }
}
