using System.Runtime.InteropServices;
using Hcs.Client;
using Hcs.Schema.Hcs;

namespace Hcs.Cli;

/// <summary>
/// The local end of a container process's stdio, as `docker run`/`docker exec` give it:
/// the process's output copied to ours, our stdin to it (with -i), the local terminal in raw
/// mode with its size followed (with -t), and SIGINT/SIGTERM forwarded to the process (without
/// a terminal; with one, Ctrl-C is a byte the container's terminal turns into its SIGINT).
/// </summary>
internal sealed class AttachedSession : IDisposable
{
    private readonly ComputeProcess _process;
    private readonly List<PosixSignalRegistration> _signals = [];
    private Terminal.RawMode? _raw;

    private AttachedSession(ComputeProcess process) => _process = process;

    /// <summary>Sets up the local side (raw mode, signal forwarding), then copies until the
    /// process exits; its exit code.</summary>
    public static async Task<int> RunAsync(ComputeProcess process, bool interactive, bool tty, Func<Task<int>>? exitCodeFallback = null)
    {
        using var session = new AttachedSession(process);
        session.Setup(interactive, tty);
        return await session.PumpAsync(interactive, exitCodeFallback);
    }

    private void Setup(bool interactive, bool tty)
    {
        if (tty && interactive && Terminal.IsTerminal(0)) _raw = Terminal.MakeRaw(0);
        // the size at start went with the document (ConsoleSize); changes follow
        if (tty) _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => Resize()));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Forward(c, 2)));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Forward(c, 15)));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => Forward(c, 1)));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGQUIT, c => Forward(c, 3)));
    }

    private void Forward(PosixSignalContext context, int signal)
    {
        context.Cancel = true; // we live on until the container's process has exited
        _ = IgnoreFailure(_process.SignalAsync(signal));
    }

    private void Resize()
    {
        if ((Terminal.Size(1) ?? Terminal.Size(0)) is { } size)
            _ = IgnoreFailure(_process.ResizeConsoleAsync(size.Rows, size.Columns));
    }

    private static async Task IgnoreFailure(Task t)
    {
        // the process may have exited meanwhile: nothing to signal or resize any more
        try { await t; } catch (Exception) { }
    }

    private async Task<int> PumpAsync(bool interactive, Func<Task<int>>? exitCodeFallback)
    {
        var outputs = new List<Task>();
        if (_process.StandardOutput is { } stdout) outputs.Add(CopyOutAsync(stdout, Output.StdoutStream));
        if (_process.StandardError is { } stderr) outputs.Add(CopyOutAsync(stderr, Output.StderrStream));
        if (interactive && _process.StandardInput is { } stdin)
        {
            // a thread of its own: reading our stdin blocks, and nothing can interrupt it; when the
            // process exits first, the process exit ends that thread with the rest
            var t = new Thread(() => CopyIn(stdin)) { IsBackground = true, Name = "stdin" };
            t.Start();
        }
        // The attach connection carries the exit code after the last output: when the copies end,
        // it is known without another request. Only a connection cut short needs one.
        await Task.WhenAll(outputs);
        if (_process.ExitCode is { } code) return code;
        try
        {
            return await _process.WaitForExitAsync();
        }
        catch (Exception) when (exitCodeFallback is not null)
        {
            return await exitCodeFallback();
        }
    }

    /// <summary>Copies until the output ends. Our side closing (`hcs run ... | head -1`) does
    /// not stop the reading: the process must not block on a full pipe, so the rest is dropped.
    /// A connection cut short ends the copy; the exit code then comes by another way.</summary>
    private static async Task CopyOutAsync(Stream from, Stream to)
    {
        var buffer = new byte[16 * 1024];
        bool writable = true;
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer)) > 0)
            {
                if (!writable) continue;
                try
                {
                    to.Write(buffer, 0, n);
                    to.Flush();
                }
                catch (IOException)
                {
                    writable = false;
                }
            }
        }
        catch (HcsException)
        {
        }
    }

    private void CopyIn(Stream to)
    {
        using var from = Console.OpenStandardInput();
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = from.Read(buffer, 0, buffer.Length)) > 0)
            {
                to.Write(buffer, 0, n);
                to.Flush();
            }
            _process.CloseStandardInputAsync().GetAwaiter().GetResult(); // our stdin ended: so does the process's
        }
        catch (Exception)
        {
            // the process exited, or the connection closed: nothing left to feed
        }
    }

    public void Dispose()
    {
        foreach (var s in _signals) s.Dispose();
        _raw?.Dispose();
    }
}
