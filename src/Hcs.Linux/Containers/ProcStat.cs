namespace Hcs.Linux.Containers;

/// <summary>The two fields of /proc/&lt;pid&gt;/stat the runtime needs: the state letter and the
/// start time (clock ticks after boot), which together tell "still our process" from "exited"
/// or "pid reused".</summary>
public readonly record struct ProcStat(char State, ulong StartTime)
{
    /// <summary>Null when the process is gone (or unreadable). Plain open/read/close: this runs in
    /// every create and delete, and a FileStream's set-up costs more than the read.</summary>
    public static unsafe ProcStat? Read(int pid)
    {
        Span<byte> buf = stackalloc byte[1024];
        int fd = Native.Libc.Open($"/proc/{pid}/stat", Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0) return null;
        nint n;
        fixed (byte* p = buf)
            do n = Native.Libc.Read(fd, p, buf.Length);
            while (n < 0 && Native.Libc.Errno == Native.Libc.EINTR);
        Native.Libc.Close(fd);
        if (n <= 0) return null;
        // "pid (comm) S ppid ..." — comm may contain spaces and parens: split after the last ')'.
        var text = buf[..(int)n];
        int close = text.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= n) return null;
        var rest = text[(close + 2)..];
        char state = (char)rest[0];
        // fields after comm start at field 3 (state); starttime is field 22 → the 20th token here
        int field = 0, i = 0;
        while (i < rest.Length && field < 19)
        {
            if (rest[i] == (byte)' ') field++;
            i++;
        }
        ulong start = 0;
        while (i < rest.Length && rest[i] >= (byte)'0' && rest[i] <= (byte)'9')
            start = start * 10 + (ulong)(rest[i++] - '0');
        return new ProcStat(state, start);
    }

    public bool IsGone => State is 'Z' or 'X' or 'x';
}
