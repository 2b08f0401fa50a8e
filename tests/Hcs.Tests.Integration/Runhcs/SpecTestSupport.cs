using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>Small helpers shared by the OCI runtime-spec feature tests (namespaces, rootfs,
/// devices, process, seccomp, hooks, console). What they observe is always the kernel's view:
/// /proc of the host or of the container, never the runtime's own records.</summary>
internal static class SpecHelpers
{
    /// <summary>runhcs run --bundle B ID in the foreground: the container's output and exit code.
    /// Output goes through files, and a run that lost the spawn race is retried (see
    /// <see cref="SpawnRace"/>): the tests using this test their own feature, not the race.</summary>
    public static CommandResult RunFg(this Runtime rt, TestBundle b, params string[] extra)
    {
        for (int attempt = 1; ; attempt++)
        {
            var id = Runtime.NewId();
            var r = Tools.RunDetached(Runtime.Binary, ["--root", rt.Root, "run", .. extra, "--bundle", b.Dir, id]);
            if (r.ExitCode != 0) rt.Run("delete", "--force", id); // normally there is nothing left to delete
            if (!LostSpawnRace(r, b) || attempt == 5) return r;
        }
    }

    /// <summary>Like RunFg, but the container must exit 0.</summary>
    public static string RunOk(this Runtime rt, TestBundle b, params string[] extra)
    {
        var r = rt.RunFg(b, extra);
        Assert.True(r.ExitCode == 0, $"runhcs run failed:\n{r}");
        return r.Stdout;
    }

    /// <summary>runhcs run -d: the id and the container's init pid (on the host); retried like RunFg.</summary>
    public static (string Id, int Pid) RunDetached(this Runtime rt, TestBundle b)
    {
        for (int attempt = 1; ; attempt++)
        {
            var id = Runtime.NewId();
            var r = rt.Run("run", "-d", "--bundle", b.Dir, id);
            if (r.ExitCode == 0) return (id, rt.Pid(id));
            if (!LostSpawnRace(r, b) || attempt == 5) Assert.Fail($"runhcs run -d --bundle {b.Dir} {id} failed:\n{r}");
        }
    }

    /// <summary>True if the command failed on the spawn race; the process such a failure leaves
    /// behind (it carries the bundle path in its command line) is killed.</summary>
    private static bool LostSpawnRace(CommandResult r, TestBundle b)
    {
        if (r.ExitCode == 0 || !r.Stderr.Contains(SpawnRace)) return false;
        Thread.Sleep(100);
        KillStrays(b.Dir);
        return true;
    }

    /// <summary>What runhcs says when it loses the spawn race: a spawn through an intermediate
    /// process (exec, user/time namespaces, joining a pid namespace) sometimes fails with it
    /// (ProcessTests.Exec_is_reliable, NamespaceTests.Time_namespace_create_is_reliable).</summary>
    public const string SpawnRace = "unexpected message from intermediate";

    /// <summary>runhcs exec, with its output read from files (a process left behind by a failed
    /// spawn keeps the command's stdio open), retried while it fails on the spawn race, so the
    /// tests that merely use exec test their own feature. The race has its own tests.</summary>
    public static CommandResult Exec(this Runtime rt, params string[] args)
    {
        for (int attempt = 1; ; attempt++)
        {
            var r = Tools.RunDetached(Runtime.Binary, ["--root", rt.Root, "exec", .. args]);
            if (r.ExitCode != 255 || !r.Stderr.Contains(SpawnRace) || attempt == 5) return r;
        }
    }

    public static CommandResult ExecOk(this Runtime rt, params string[] args)
    {
        var r = rt.Exec(args);
        Assert.True(r.ExitCode == 0, $"runhcs exec {string.Join(' ', args)} failed:\n{r}");
        return r;
    }

    public static void AddNamespace(this Spec s, string type, string? path = null)
    {
        s.Linux!.Namespaces!.RemoveAll(n => n.Type == type);
        s.Linux.Namespaces.Add(new Namespace { Type = type, Path = path });
    }

    public static void RemoveNamespace(this Spec s, string type) =>
        s.Linux!.Namespaces!.RemoveAll(n => n.Type == type);

    /// <summary>Adds capabilities to the bounding, effective and permitted sets.</summary>
    public static void AddCaps(this Spec s, params string[] caps)
    {
        var c = s.Process!.Capabilities ??= new Capabilities();
        foreach (var set in new[] { c.Bounding ??= [], c.Effective ??= [], c.Permitted ??= [] })
            foreach (var cap in caps)
                if (!set.Contains(cap)) set.Add(cap);
    }

    /// <summary>A user namespace mapping container ids [0, size) to host ids [hostId, hostId+size).</summary>
    public static void UserNamespace(this Spec s, uint hostId, uint size)
    {
        s.AddNamespace("user");
        s.Linux!.UidMappings = [new IdMapping { ContainerId = 0, HostId = hostId, Size = size }];
        s.Linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = hostId, Size = size }];
    }

    /// <summary>The namespace link (e.g. "net:[4026531840]") of a process, "self" for the test.</summary>
    public static string Ns(string type, string pid = "self") => new FileInfo($"/proc/{pid}/ns/{type}").LinkTarget!;

    /// <summary>A field of /proc/PID/status ("Uid", "CapEff", "NoNewPrivs"...), without the name.</summary>
    public static string Status(int pid, string field) => StatusField(File.ReadAllText($"/proc/{pid}/status"), field);

    public static string StatusField(string statusText, string field)
    {
        foreach (var line in statusText.Split('\n'))
            if (line.StartsWith(field + ":")) return line[(field.Length + 1)..].Trim();
        throw new KeyNotFoundException($"no {field} in status:\n{statusText}");
    }

    /// <summary>The bit numbers of the capabilities the tests use (linux/capability.h).</summary>
    public static readonly Dictionary<string, int> CapBits = new()
    {
        ["CAP_CHOWN"] = 0, ["CAP_DAC_OVERRIDE"] = 1, ["CAP_FOWNER"] = 3, ["CAP_KILL"] = 5, ["CAP_SETGID"] = 6,
        ["CAP_SETUID"] = 7, ["CAP_NET_BIND_SERVICE"] = 10, ["CAP_NET_ADMIN"] = 12, ["CAP_NET_RAW"] = 13,
        ["CAP_SYS_CHROOT"] = 18, ["CAP_SYS_ADMIN"] = 21, ["CAP_MKNOD"] = 27, ["CAP_AUDIT_WRITE"] = 29,
    };

    /// <summary>The /proc/PID/status hex rendering of a set of capabilities.</summary>
    public static string CapMask(params string[] caps) =>
        caps.Aggregate(0UL, (m, c) => m | (1UL << CapBits[c])).ToString("x16");

    /// <summary>A directory on the host for a test, removed by the caller (world-traversable, so a
    /// container in a user namespace can reach it too).</summary>
    public static string HostDir(string prefix)
    {
        var d = Path.Combine("/tmp/hcs-it", prefix + "-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(d);
        File.SetUnixFileMode(d, (UnixFileMode)0x1ed); // 0755
        return d;
    }

    public static void WriteScript(string path, string body)
    {
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0x1ed);
    }

    /// <summary>Kills (by pid) the processes whose command line carries a marker unique to one test,
    /// e.g. its bundle directory: what a failed spawn may leave behind. Returns what it found.</summary>
    public static List<string> KillStrays(string marker)
    {
        var found = LeakCheck.ProcessesWith(marker);
        foreach (var p in found)
        {
            try { System.Diagnostics.Process.GetProcessById(int.Parse(p.Split(':')[0])).Kill(); }
            catch (ArgumentException) { }
            catch (InvalidOperationException) { }
        }
        return found;
    }

    public static void TryDeleteDir(string d)
    {
        try { if (Directory.Exists(d)) Directory.Delete(d, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The receiving end of runc's --console-socket protocol: a listening AF_UNIX stream socket;
/// the runtime connects and sends the pty master as SCM_RIGHTS ancillary data. .NET has no API
/// for received descriptors, so the message is read with recvmsg(2) directly.
/// </summary>
internal sealed unsafe partial class ConsoleSocket : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    public string Path { get; }

    public ConsoleSocket(string dir)
    {
        Path = System.IO.Path.Combine(dir, "console.sock");
        _listener.Bind(new UnixDomainSocketEndPoint(Path));
        _listener.Listen(4);
    }

    /// <summary>Accepts the runtime's connection (it may already have gone: the kernel keeps the
    /// queued connection and its message) and returns the received descriptor.</summary>
    public PtyMaster ReceiveMaster(int timeoutMs = 10_000)
    {
        var (fd, payload) = ReceiveFd(timeoutMs);
        return new PtyMaster(fd, payload);
    }

    /// <summary>One message with an fd attached (SCM_RIGHTS): the fd and the data.</summary>
    public (int Fd, string Payload) ReceiveFd(int timeoutMs = 10_000)
    {
        if (!_listener.Poll(timeoutMs * 1000, SelectMode.SelectRead))
            throw new TimeoutException("nobody connected to the console socket");
        using var conn = _listener.Accept();
        const int SOL_SOCKET = 1, SCM_RIGHTS = 1;
        byte* data = stackalloc byte[8192];
        byte* control = stackalloc byte[64];
        var iov = new IoVec { Base = data, Len = 8192 };
        var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
        long n = RecvMsg((int)conn.Handle, &msg, 0);
        if (n < 0) throw new IOException($"recvmsg: errno {Marshal.GetLastPInvokeError()}");
        var hdr = (CmsgHdr*)control;
        if (msg.ControlLen < (ulong)sizeof(CmsgHdr) || hdr->Level != SOL_SOCKET || hdr->Type != SCM_RIGHTS)
            throw new IOException($"no SCM_RIGHTS in the console message ({n} bytes of data, {msg.ControlLen} of control)");
        int fd = *(int*)(control + sizeof(CmsgHdr));
        return (fd, Encoding.UTF8.GetString(data, (int)n));
    }

    public void Dispose()
    {
        _listener.Dispose();
        try { File.Delete(Path); } catch (IOException) { }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public ulong Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public ulong IovLen;
        public void* Control;
        public ulong ControlLen;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CmsgHdr
    {
        public ulong Len;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial long RecvMsg(int fd, MsgHdr* msg, int flags);
}

/// <summary>A pty master received from the runtime: write keystrokes, read what the container printed.</summary>
internal sealed unsafe partial class PtyMaster(int fd, string name) : IDisposable
{
    public int Fd { get; private set; } = fd;

    /// <summary>The data part of the console message (runc sends the pty's name).</summary>
    public string MessageData { get; } = name;

    private readonly StringBuilder _seen = new();

    public void Write(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* p = bytes)
        {
            long n = WriteFd(Fd, p, (ulong)bytes.Length);
            if (n != bytes.Length) throw new IOException($"write to the pty master: {n}, errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Reads until the output contains <paramref name="expected"/>, the slave side is closed
    /// (EIO) or the timeout passes; returns everything read so far.</summary>
    public string ReadUntil(string? expected, int timeoutMs = 10_000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        byte* buf = stackalloc byte[4096];
        while ((expected is null || !_seen.ToString().Contains(expected)) && Environment.TickCount64 < deadline)
        {
            var pfd = new PollFd { Fd = Fd, Events = 1 /* POLLIN */ };
            int r = Poll(&pfd, 1, 100);
            if (r <= 0) continue;
            long n = ReadFd(Fd, buf, 4096);
            if (n <= 0) break; // EIO: every slave fd is closed (the container exited)
            _seen.Append(Encoding.UTF8.GetString(buf, (int)n));
        }
        return _seen.ToString();
    }

    public void Dispose()
    {
        if (Fd >= 0) Close(Fd);
        Fd = -1;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial long ReadFd(int fd, byte* buf, ulong count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial long WriteFd(int fd, byte* buf, ulong count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, ulong n, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
