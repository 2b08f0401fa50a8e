using System.Reflection;
using Hcs.Linux.Containers;
using Hcs.Runhcs;

namespace Hcs.Tests.Unit.Cli;

/// <summary>runhcs's size and duration parsing (update --memory, events --interval). Units is
/// internal to the runhcs executable, so it is reached by reflection.</summary>
public sealed class UnitsTests
{
    private static readonly Type Units = typeof(Program).Assembly.GetType("Hcs.Runhcs.Units", throwOnError: true)!;

    private static T Call<T>(string method, string text, string flag) =>
        (T)Units.GetMethod(method, BindingFlags.Public | BindingFlags.Static)!
            .Invoke(null, BindingFlags.DoNotWrapExceptions, null, [text, flag], null)!;

    private static long Memory(string text) => Call<long>("ParseMemory", text, "--memory");
    private static TimeSpan Duration(string text) => Call<TimeSpan>("ParseDuration", text, "--interval");

    [Theory]
    [InlineData("100", 100L)]
    [InlineData("0", 0L)]
    [InlineData("-1", -1L)]
    [InlineData("32m", 32L << 20)]
    [InlineData("32M", 32L << 20)]
    [InlineData("32mb", 32L << 20)]
    [InlineData("32MiB", 32L << 20)]
    [InlineData("1g", 1L << 30)]
    [InlineData("1G", 1L << 30)]
    [InlineData("2gb", 2L << 30)]
    [InlineData("1k", 1024L)]
    [InlineData("1kb", 1024L)]
    [InlineData("1.5k", 1536L)]
    [InlineData("0.5g", 1L << 29)]
    [InlineData("1t", 1L << 40)]
    [InlineData("1p", 1L << 50)]
    [InlineData("512b", 512L)]
    [InlineData(" 64m ", 64L << 20)]
    public void Memory_sizes(string text, long bytes) => Assert.Equal(bytes, Memory(text));

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("abc")]
    [InlineData("10x")]
    [InlineData("1.2.3m")]
    [InlineData("-2")]
    [InlineData("-1m")]
    [InlineData("1e3")]
    [InlineData("1 m")]
    public void Invalid_memory_sizes(string text)
    {
        var e = Assert.Throws<RuntimeError>(() => Memory(text));
        Assert.Equal($"--memory: invalid size \"{text}\"", e.Message);
    }

    [Theory]
    [InlineData("5s", 5000.0)]
    [InlineData("500ms", 500.0)]
    [InlineData("1m", 60000.0)]
    [InlineData("2h", 7200000.0)]
    [InlineData("1.5s", 1500.0)]
    [InlineData("250us", 0.25)]
    [InlineData("1000000ns", 1.0)]
    [InlineData(" 10s ", 10000.0)]
    public void Durations(string text, double ms) => Assert.Equal(TimeSpan.FromMilliseconds(ms), Duration(text));

    [Theory]
    [InlineData("5")]
    [InlineData("0s")]
    [InlineData("-1s")]
    [InlineData("s")]
    [InlineData("5S")]
    [InlineData("5d")]
    [InlineData("")]
    public void Invalid_durations(string text)
    {
        var e = Assert.Throws<RuntimeError>(() => Duration(text));
        Assert.StartsWith("--interval: ", e.Message);
        Assert.Contains($"\"{text}\"", e.Message);
    }

    // runc's --interval is a Go time.Duration flag, which accepts compound values.
    [Theory]
    [InlineData("1m30s", 90000.0)]
    [InlineData("1h30m", 5400000.0)]
    public void Go_compound_durations(string text, double ms) => Assert.Equal(TimeSpan.FromMilliseconds(ms), Duration(text));
}
