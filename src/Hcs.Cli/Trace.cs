using System.Diagnostics;

namespace Hcs.Cli;

/// <summary>HCS_TRACE=1: milliseconds since start at each step on stderr, to see where the time
/// of a `hcs run` goes (hcs's own start-up, each request to hcsd).</summary>
internal static class Trace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("HCS_TRACE") == "1";
    // the first use is Main's first line: close enough to the process's start
    private static readonly long Start = Stopwatch.GetTimestamp();

    public static void Mark(string step)
    {
        if (!Enabled) return;
        long now = Stopwatch.GetTimestamp();
        var ms = Stopwatch.GetElapsedTime(Start, now).TotalMilliseconds;
        var clock = now * 1000.0 / Stopwatch.Frequency % 100_000; // as hcsd's and hcs-monitor's traces
        Output.Error($"hcs trace: {ms,7:0.00} ms @{clock,9:F3} {step}");
    }
}
