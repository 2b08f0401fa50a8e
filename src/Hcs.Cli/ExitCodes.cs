namespace Hcs.Cli;

/// <summary>docker's exit-code convention, which scripts rely on: the container's own code, or
/// one of these when it never ran.</summary>
internal static class ExitCodes
{
    /// <summary>hcs itself failed: a bad flag, the daemon refused or cannot be reached.</summary>
    public const int HcsFailed = 125;
    /// <summary>The command exists but cannot be invoked (not executable, a directory).</summary>
    public const int CannotInvoke = 126;
    /// <summary>The command does not exist.</summary>
    public const int NotFound = 127;

    /// <summary>The code for a daemon error that stopped a container's command from starting.
    /// The engine words exec failures the way runc does (native/src/process.c, `exec: "NAME":
    /// ...`), and podman and docker map those same phrases to 126 and 127.</summary>
    public static int ForStartFailure(string message)
    {
        var m = message.ToLowerInvariant();
        if (!m.Contains("exec")) return HcsFailed;
        if (m.Contains("executable file not found") || m.Contains("no such file or directory")) return NotFound;
        if (m.Contains("permission denied") || m.Contains("is a directory")) return CannotInvoke;
        return HcsFailed;
    }
}
