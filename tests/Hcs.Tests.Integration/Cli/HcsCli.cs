using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Cli;

/// <summary>
/// Drives the installed `hcs` binary (the NativeAOT build people run) against one test's hcsd:
/// `hcs --socket SOCKET ...`, with scratch directories under the daemon's test directory so they
/// go when it does.
/// </summary>
internal sealed class HcsCli(Hcsd daemon)
{
    public static string Binary =>
        Environment.GetEnvironmentVariable("HCS_CLI") is { Length: > 0 } p ? p : "/usr/local/bin/hcs";

    public string ScratchRoot { get; } = Path.Combine(daemon.Dir, "cli-scratch");

    /// <summary>The busybox root every test container runs on: a copy of hcsd's busybox layer of
    /// the CLI tests' own, since `--rootfs DIR` lets a container write in DIR (as podman's does)
    /// and the layer is shared with the overlay tests.</summary>
    public static string Rootfs => CliRootfs.Value;

    private static readonly Lazy<string> CliRootfs = new(() =>
    {
        var dir = Path.Combine("/tmp/hcs-it", $"cli-rootfs-{Environment.ProcessId}");
        if (!Directory.Exists(dir))
        {
            var tmp = dir + ".tmp";
            Tools.Sh($"rm -rf {tmp} && mkdir -p /tmp/hcs-it && cp -a {Hcsd.BusyboxLayer} {tmp} && mv {tmp} {dir}").EnsureOk();
        }
        return dir;
    });

    public static void RequireBinary()
    {
        if (!File.Exists(Binary))
            throw new InvalidOperationException($"{Binary} is missing: run scripts/build.sh (it installs hcs) or set HCS_CLI");
    }

    public CommandResult Run(params string[] args) => RunWithInput(null, args);

    public CommandResult RunWithInput(string? stdin, params string[] args)
    {
        RequireBinary();
        return Tools.Run(Binary, ["--socket", daemon.SocketPath, .. args], stdin,
                         env: new Dictionary<string, string> { ["HCS_SCRATCH_ROOT"] = ScratchRoot });
    }

    /// <summary>Like Run, but hcs must exit 0.</summary>
    public CommandResult Ok(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, $"hcs {string.Join(' ', args)} failed:\n{r}\n--- hcsd log\n{daemon.Log}");
        return r;
    }

    /// <summary>The ids `hcs ps -q` (with -a: of every state) prints.</summary>
    public string[] Ids(bool all = true) =>
        Ok(all ? ["ps", "-a", "-q"] : ["ps", "-q"]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The State of a container as `hcs inspect` reports it.</summary>
    public string State(string id)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(Ok("inspect", id).Stdout);
        return doc.RootElement[0].GetProperty("State").GetString()!;
    }

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 11)];
}
