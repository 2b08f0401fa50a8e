namespace Hcs.Linux.Containers;

/// <summary>The two fields of /proc/&lt;pid&gt;/stat the runtime needs: the state letter and the
/// start time (clock ticks after boot), which together tell "still our process" from "exited"
/// or "pid reused".</summary>
public readonly record struct ProcStat(char State, ulong StartTime)
{
    public static ProcStat? Read(int pid)
    {
        Span<byte> buf = stackalloc byte[1024];
        int n;
        try
        {
            using var f = new FileStream($"/proc/{pid}/stat", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            n = f.Read(buf);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
        // "pid (comm) S ppid ..." — comm may contain spaces and parens: split after the last ')'.
        var text = buf[..n];
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
