using System.Diagnostics;

namespace Hcs.Linux;

/// <summary>
/// Milestones with timestamps, printed to stderr when HCS_TRACE=1: a cheap profiler for the
/// few milliseconds a runtime command lives (strace distorts them too much to be useful).
/// </summary>
public static class PerfTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("HCS_TRACE") == "1";
    private static readonly long Start = Stopwatch.GetTimestamp();

    public static void Mark(string what)
    {
        if (!Enabled) return;
        long now = Stopwatch.GetTimestamp();
        var ms = Stopwatch.GetElapsedTime(Start, now).TotalMilliseconds;
        // the clock's own value too (CLOCK_MONOTONIC, shared by every process): lines of hcsd,
        // hcs-monitor and a client can be merged into one timeline
        var clock = now * 1000.0 / Stopwatch.Frequency % 100_000;
        var bytes = System.Text.Encoding.UTF8.GetBytes($"[trace {ms,8:F3} ms @{clock,9:F3} {GC.GetTotalAllocatedBytes() / 1024,5} KiB] {what}\n");
        unsafe
        {
            fixed (byte* p = bytes) Native.Libc.Write(2, p, bytes.Length);
        }
    }
}
