using System.Text.Json.Nodes;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>Who may use the API socket: its mode, and the SO_PEERCRED check behind it, driven
/// by a real unprivileged client (curl under setpriv).</summary>
public sealed class SocketSecurityTests(ITestOutputHelper output)
{
    private const int Nobody = 65534;

    [RootFact]
    public async Task Socket_IsRootOnly_AndAnotherUserIsRefusedEvenWhenTheModeLetsThemIn()
    {
        if (Missing() is { } why) { output.WriteLine("skipped: " + why); return; }
        await using var d = await Hcsd.StartAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(d.SocketPath));
        Assert.Equal("0 0", Tools.Run("/usr/bin/stat", ["-c", "%u %g", d.SocketPath]).Stdout.Trim());

        // as root: served
        Assert.Equal(200, Curl(d.SocketPath, 0, 0, []).Status);
        // nobody cannot even connect through mode 0600 (with the directories open to all)
        OpenPath(d);
        var denied = Curl(d.SocketPath, Nobody, Nobody, []);
        Assert.True(denied.Status == 0, $"nobody connected to a 0600 socket: {denied}");

        // loosen the mode: the daemon itself still refuses
        File.SetUnixFileMode(d.SocketPath, (UnixFileMode)0x1b6); // 0666
        var refused = Curl(d.SocketPath, Nobody, Nobody, []);
        Assert.True(refused.Status == 403, $"expected 403 for uid {Nobody}: {refused}");
        Assert.Equal("HCS_E_ACCESS_DENIED", JsonNode.Parse(refused.Body)!["Error"]!.GetValue<string>());
        // refused for every route, not just one
        refused = Curl(d.SocketPath, Nobody, Nobody, [], "v2/compute-systems");
        Assert.True(refused.Status == 403, $"expected 403 for uid {Nobody}: {refused}");
    }

    [RootFact]
    public async Task GroupOption_OpensTheSocketToThatGroup()
    {
        if (Missing() is { } why) { output.WriteLine("skipped: " + why); return; }
        var group = "hcst" + Guid.NewGuid().ToString("N")[..8];
        var add = Tools.Run("/usr/sbin/groupadd", [group]);
        Assert.True(add.ExitCode == 0, $"groupadd {group}: {add}");
        try
        {
            var gid = int.Parse(Tools.Run("/usr/bin/getent", ["group", group]).Stdout.Split(':')[2]);
            await using var d = await Hcsd.StartAsync("--group", group);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
                         File.GetUnixFileMode(d.SocketPath));
            Assert.Equal($"0 {gid}", Tools.Run("/usr/bin/stat", ["-c", "%u %g", d.SocketPath]).Stdout.Trim());
            OpenPath(d);

            // a member by its primary group, and one by a supplementary group: served
            var primary = Curl(d.SocketPath, Nobody, gid, []);
            Assert.True(primary.Status == 200, $"uid {Nobody} gid {gid}: {primary}");
            Assert.NotNull(JsonNode.Parse(primary.Body)!["Version"]);
            var supplementary = Curl(d.SocketPath, Nobody, Nobody, [gid], "v2/compute-systems");
            Assert.True(supplementary.Status == 200, $"uid {Nobody} groups {gid}: {supplementary}");
            // not a member: the mode keeps it out
            var outsider = Curl(d.SocketPath, Nobody, Nobody, []);
            Assert.True(outsider.Status == 0, $"a non-member connected: {outsider}");
            // not a member, with the mode loosened: the daemon refuses
            File.SetUnixFileMode(d.SocketPath, (UnixFileMode)0x1b6); // 0666
            outsider = Curl(d.SocketPath, Nobody, Nobody, []);
            Assert.True(outsider.Status == 403, $"a non-member was not refused: {outsider}");
        }
        finally
        {
            Tools.Run("/usr/sbin/groupdel", [group]);
        }
    }

    private static string? Missing()
    {
        foreach (var tool in new[] { "/usr/bin/setpriv", "/usr/bin/curl", "/usr/sbin/groupadd", "/usr/sbin/groupdel", "/usr/bin/getent" })
            if (!File.Exists(tool)) return $"{tool} is missing";
        return null;
    }

    /// <summary>Lets anyone reach the socket's directory (the socket's own mode still decides).</summary>
    private static void OpenPath(Hcsd d)
    {
        foreach (var dir in new[] { Path.GetDirectoryName(d.Dir)!, d.Dir })
            File.SetUnixFileMode(dir, File.GetUnixFileMode(dir) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
    }

    private sealed record CurlResult(int Status, string Body, string Detail)
    {
        public override string ToString() => $"HTTP {Status} {Body} ({Detail})";
    }

    /// <summary>curl as the given user: status 0 when it could not connect at all.</summary>
    private static CurlResult Curl(string socket, int uid, int gid, int[] groups, string path = "v2/service")
    {
        var args = new List<string> { $"--reuid={uid}", $"--regid={gid}" };
        args.Add(groups.Length == 0 ? "--clear-groups" : "--groups=" + string.Join(',', groups));
        args.AddRange(["/usr/bin/curl", "-sS", "--max-time", "10", "--unix-socket", socket, "-w", "\n%{http_code}", "http://hcs/" + path]);
        var r = Tools.Run("/usr/bin/setpriv", args);
        var text = r.Stdout.TrimEnd('\n');
        var cut = text.LastIndexOf('\n');
        var status = int.TryParse(cut < 0 ? text : text[(cut + 1)..], out var s) ? s : -1;
        var body = cut < 0 ? "" : text[..cut];
        return new CurlResult(status, body, $"curl exit {r.ExitCode}: {r.Stderr.Trim()}");
    }
}
