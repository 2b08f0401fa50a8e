using System.Diagnostics;
using System.Text;

namespace Hcs.Tests.Integration.Support;

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";

    public CommandResult EnsureOk() => ExitCode == 0 ? this : throw new InvalidOperationException("command failed: " + this);
}

/// <summary>Running programs from tests, with a timeout so a hang fails the test instead of the run.</summary>
public static class Tools
{
    public static CommandResult Run(string file, IEnumerable<string> args, string? stdin = null, int timeoutMs = 60_000,
                                    IDictionary<string, string>? env = null, string? workingDirectory = null,
                                    bool keepStdinOpen = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        // Read both streams as tasks: a detached container (run -d, create) inherits them and
        // may keep them open long after the command exited, so EOF is not waited for forever.
        // On threads of their own: a pool thread can come later than the grace below while the
        // suite starts (hundreds of tests blocking pool threads), and the output was lost (CI).
        var stdout = ReadOnThreadOfItsOwn(p.StandardOutput);
        var stderr = ReadOnThreadOfItsOwn(p.StandardError);
        try
        {
            if (stdin is not null) p.StandardInput.Write(stdin);
            // (script(1) ends its session at EOF on stdin: keepStdinOpen holds it open until exit)
            if (!keepStdinOpen) p.StandardInput.Close();
            if (!p.WaitForExit(timeoutMs))
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeoutMs} ms");
            }
            Task.WaitAll([stdout, stderr], 1000);
            return new CommandResult(p.ExitCode, Done(stdout), Done(stderr));
        }
        finally
        {
            // Disposing the Process leaves streams it handed out open (they are the caller's once
            // read): without this their pipes wait for the finalizer, hundreds at a time over a run
            p.StandardOutput.Dispose();
            p.StandardError.Dispose();
            p.StandardInput.Dispose();
        }
    }

    /// <summary>Runs a command whose children outlive it (run -d, create): their stdio must not
    /// be our pipes, so the command writes to files, read back when it exits.</summary>
    public static CommandResult RunDetached(string file, IEnumerable<string> args, int timeoutMs = 60_000)
    {
        var tmp = Path.Combine(Path.GetTempPath(), "hcs-it-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var quoted = string.Join(' ', args.Prepend(file).Select(a => "'" + a.Replace("'", "'\\''") + "'"));
            var r = Run("/bin/sh", ["-c", $"exec {quoted} >{tmp}.out 2>{tmp}.err </dev/null"], timeoutMs: timeoutMs);
            return new CommandResult(r.ExitCode, File.ReadAllText(tmp + ".out"), File.ReadAllText(tmp + ".err"));
        }
        finally
        {
            File.Delete(tmp + ".out");
            File.Delete(tmp + ".err");
        }
    }

    private static string Done(Task<string> t) => t.IsCompletedSuccessfully ? t.Result : "";

    private static Task<string> ReadOnThreadOfItsOwn(StreamReader r) =>
        Task.Factory.StartNew(r.ReadToEnd, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static CommandResult Sh(string script, int timeoutMs = 60_000) => Run("/bin/sh", ["-c", script], timeoutMs: timeoutMs);

    /// <summary>Polls until a condition holds (for state that settles asynchronously, e.g. a
    /// process reaped by someone else); fails with the message after the timeout.</summary>
    public static void WaitUntil(Func<bool> condition, string what, int timeoutMs = 10_000)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) throw new TimeoutException($"timed out waiting for {what}");
            Thread.Sleep(20);
        }
    }

    public static bool Exists(string program) =>
        File.Exists(program) || (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, program)));
}
