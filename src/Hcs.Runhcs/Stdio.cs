using System.Text;
using Hcs.Linux.Native;

namespace Hcs.Runhcs;

/// <summary>stdout/stderr as plain write(2): System.Console's writers, encoders and terminal
/// setup cost more to start than everything runhcs prints.</summary>
public static unsafe class Stdio
{
    public static void Out(string text) => Write(1, Encoding.UTF8.GetBytes(text));
    public static void Err(string text) => Write(2, Encoding.UTF8.GetBytes(text));

    public static void Write(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
            for (int off = 0; off < data.Length;)
            {
                nint n = Libc.Write(fd, p + off, data.Length - off);
                if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                if (n <= 0) return; // a closed stdout is not our failure to report
                off += (int)n;
            }
    }

    public static byte[] ReadAllStdin()
    {
        var ms = new MemoryStream();
        var buf = new byte[16 * 1024];
        fixed (byte* p = buf)
            for (;;)
            {
                nint n = Libc.Read(0, p, buf.Length);
                if (n < 0 && Libc.Errno == Libc.EINTR) continue;
                if (n <= 0) break;
                ms.Write(buf, 0, (int)n);
            }
        return ms.ToArray();
    }
}
