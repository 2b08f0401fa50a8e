using System.Text;
using Hcs.Client;
using Hcs.Tests.Integration.Support;
using Doc = Hcs.Schema.Hcs;

namespace Hcs.Tests.Integration.Client;

/// <summary>Small helpers for the Hcs.Client tests: every wait is bounded, so a hang fails the
/// test with a message instead of stalling the run.</summary>
internal static class ClientTestSupport
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public static CancellationToken Deadline() => new CancellationTokenSource(Patience).Token;

    /// <summary>Reads a stream to its end (bounded by <see cref="Patience"/>).</summary>
    public static async Task<string> ReadToEndAsync(Stream stream)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
        return await reader.ReadToEndAsync(Deadline());
    }

    /// <summary>Reads until <paramref name="expected"/> has arrived; returns everything read.</summary>
    public static async Task<string> ReadUntilAsync(Stream stream, string expected)
    {
        var ct = Deadline();
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            int n = await stream.ReadAsync(buffer, ct);
            if (n == 0) throw new EndOfStreamException($"the stream ended before \"{expected}\" came; it said: {text}");
            text.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }
        return text.ToString();
    }

    /// <summary>Creates and starts a system whose init is hcs's pause process (it runs until terminated).</summary>
    public static async Task<ComputeSystem> StartIdleAsync(HostComputeService hcs, string prefix)
    {
        var system = await hcs.CreateComputeSystemAsync(NewId(prefix), Hcsd.ContainerDocument(), Deadline());
        await system.StartAsync(Deadline());
        return system;
    }

    /// <summary>Stops (if needed) and deletes a system at the end of a test, whatever state it is in.</summary>
    public static async Task RemoveAsync(ComputeSystem system)
    {
        try
        {
            await system.DeleteAsync(force: true, Deadline());
        }
        catch (Doc.HcsException e) when (e.Error.Name == Doc.HcsError.SystemNotFound.Name) { }
        await system.DisposeAsync();
    }

    public static Doc.ProcessParameters Command(params string[] args) => new()
    {
        CommandArgs = [.. args],
        Environment = new() { ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin" },
    };
}
