using System.Runtime.InteropServices;

namespace Hcs.Cli;

/// <summary>
/// The local terminal: is a descriptor a tty, its size, and raw mode for `run -t`/`exec -t`
/// (keys go to the container's terminal unchanged, Ctrl-C included, as with docker).
/// libc directly rather than System.Console: Console's terminal support reads terminfo and
/// starts a signal-handling thread, work a short-lived CLI does not need.
/// </summary>
internal static partial class Terminal
{
    private const int TCSANOW = 0;
    private const uint TIOCGWINSZ = 0x5413;
    // glibc's struct termios is 60 bytes on Linux; a larger buffer leaves room for any libc
    private const int TermiosSize = 128;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int isatty(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport("libc")]
    private static unsafe partial void cfmakeraw(byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int ioctl(int fd, nuint request, ushort* winsize);

    public static bool IsTerminal(int fd) => isatty(fd) == 1;

    /// <summary>Rows and columns of the terminal on fd, or null when fd is no terminal.</summary>
    public static unsafe (ushort Rows, ushort Columns)? Size(int fd)
    {
        ushort* ws = stackalloc ushort[4];
        if (ioctl(fd, TIOCGWINSZ, ws) != 0 || ws[0] == 0 || ws[1] == 0) return null;
        return (ws[0], ws[1]);
    }

    /// <summary>Puts the terminal on fd in raw mode; disposing the result restores it.</summary>
    public static unsafe RawMode? MakeRaw(int fd)
    {
        var saved = new byte[TermiosSize];
        fixed (byte* p = saved)
        {
            if (tcgetattr(fd, p) != 0) return null;
            byte* raw = stackalloc byte[TermiosSize];
            new Span<byte>(p, TermiosSize).CopyTo(new Span<byte>(raw, TermiosSize));
            cfmakeraw(raw);
            if (tcsetattr(fd, TCSANOW, raw) != 0) return null;
        }
        return new RawMode(fd, saved);
    }

    public sealed class RawMode(int fd, byte[] saved) : IDisposable
    {
        private bool _restored;

        public unsafe void Dispose()
        {
            if (_restored) return;
            _restored = true;
            fixed (byte* p = saved) tcsetattr(fd, TCSANOW, p);
        }
    }
}
