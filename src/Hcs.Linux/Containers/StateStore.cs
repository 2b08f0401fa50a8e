using System.Text.Json;
using Hcs.Linux.Native;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Containers;

/// <summary>
/// The per-container state directories under the runtime root (default /run/runhcs):
/// <c>&lt;root&gt;/&lt;id&gt;/state.json</c>, <c>config.json</c>, and <c>exec.fifo</c> while the
/// container is created but not started. Files are replaced atomically (write + rename), so a
/// concurrent reader sees the old or the new version, never half of one.
/// </summary>
public sealed class StateStore(string root)
{
    public string Root { get; } = root;

    public string DirOf(string id) => Path.Combine(Root, id);
    public string FifoOf(string id) => Path.Combine(Root, id, "exec.fifo");

    /// <summary>runc's rule for ids: letters, digits, '_', '+', '-', '.'; not "." or "..".</summary>
    public static void CheckId(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new RuntimeError("container id cannot be empty");
        if (id is "." or ".." || id.Length > 1024)
            throw new RuntimeError($"invalid container id format: {id}");
        foreach (var c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '-' or '.'))
                throw new RuntimeError($"invalid container id format: {id}");
    }

    /// <summary>Claims the id: creates the state directory, failing if it exists.</summary>
    public void Claim(string id)
    {
        CheckId(id);
        Directory.CreateDirectory(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // mkdir(2) is the atomic test-and-set: two creates with one id cannot both succeed.
        if (Libc.MkDir(DirOf(id), 0x1c0 /* 0700 */) < 0)
        {
            int errno = Libc.Errno;
            if (errno == Libc.EEXIST) throw new RuntimeError($"container with id exists: {id}", RuntimeErrorKind.Exists);
            throw new ErrnoException(errno, $"create state directory {DirOf(id)}");
        }
    }

    /// <summary>Saves state.json, and config.json: the original bytes when given (create copies
    /// the bundle's file as is), else the config serialized (after `update` changed it).</summary>
    public void Save(ContainerRecord record, bool withConfig, byte[]? configBytes = null)
    {
        var dir = DirOf(record.Id);
        if (configBytes is not null)
            WriteAtomic(Path.Combine(dir, "config.json"), configBytes);
        else if (withConfig)
            WriteAtomic(Path.Combine(dir, "config.json"), OciWriter.ToUtf8(record.Config));
        WriteAtomic(Path.Combine(dir, "state.json"), RecordJson.Write(record));
    }

    public bool Exists(string id) => File.Exists(Path.Combine(DirOf(id), "state.json"));

    public ContainerRecord Load(string id)
    {
        CheckId(id);
        var dir = DirOf(id);
        byte[] state;
        try { state = File.ReadAllBytes(Path.Combine(dir, "state.json")); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RuntimeError("container does not exist", RuntimeErrorKind.NotFound);
        }
        var record = RecordJson.Read(state, Path.Combine(dir, "state.json"));
        record.Config = OciJson.ReadSpec(File.ReadAllBytes(Path.Combine(dir, "config.json")), "config.json");
        return record;
    }

    public IEnumerable<string> Ids()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (var d in Directory.EnumerateDirectories(Root))
        {
            var id = Path.GetFileName(d);
            if (File.Exists(Path.Combine(d, "state.json"))) yield return id;
        }
    }

    /// <summary>Removes the state directory: the files we know by name, then the directory;
    /// a recursive delete only if something unexpected is in it.</summary>
    public void Remove(string id)
    {
        var dir = DirOf(id);
        foreach (var name in (ReadOnlySpan<string>)["state.json", "config.json", "exec.fifo"])
            Libc.Unlink(dir + "/" + name);
        if (Libc.RmDir(dir) == 0 || Libc.Errno == Libc.ENOENT) return;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>Writes a file so readers never see a partial version: temp file + rename.
    /// Plain syscalls: this runs on every create, and FileStream's setup costs more than the write.</summary>
    public static unsafe void WriteAtomic(string path, ReadOnlySpan<byte> data)
    {
        var tmp = path + ".tmp" + Environment.ProcessId;
        int fd = Libc.Check(Libc.Open(tmp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC | Libc.O_CLOEXEC, 0x1a4 /* 0644 */), $"create {tmp}");
        try
        {
            fixed (byte* p = data)
                for (int off = 0; off < data.Length;)
                {
                    nint n = Libc.Write(fd, p + off, data.Length - off);
                    if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                    if (n <= 0) throw new ErrnoException(Libc.Errno, $"write {tmp}");
                    off += (int)n;
                }
        }
        catch
        {
            Libc.Close(fd);
            Libc.Unlink(tmp);
            throw;
        }
        Libc.Close(fd);
        if (Libc.Rename(tmp, path) < 0)
        {
            int errno = Libc.Errno;
            Libc.Unlink(tmp);
            throw new ErrnoException(errno, $"rename {tmp} to {path}");
        }
    }

    public static void WriteAtomic(string path, string text) => WriteAtomic(path, System.Text.Encoding.UTF8.GetBytes(text));
}

public enum RuntimeErrorKind { Other, NotFound, Exists, InvalidState }

/// <summary>An error meant for the user, worded like runc's.</summary>
public sealed class RuntimeError(string message, RuntimeErrorKind kind = RuntimeErrorKind.Other) : Exception(message)
{
    public RuntimeErrorKind Kind { get; } = kind;
}
