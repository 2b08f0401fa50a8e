using System.Text.Json.Nodes;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>POST .../modify on a running system: the change is seen where it matters (the
/// cgroup, the container's mount namespace), and bad settings are refused at $.Settings.</summary>
public sealed class ModifyTests
{
    [RootFact]
    public async Task MemoryUpdate_ChangesTheLimitInTheInitsCgroup()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("mem");
        var doc = Hcsd.ContainerDocument();
        doc.Container!.Memory = new Hcs.Schema.Hcs.ContainerMemory { SizeInMB = 64 };
        await d.CreateAndStartAsync(id, doc);
        var init = (await d.GetAsync($"v2/compute-systems/{id}")).Expect(200)!["InitProcessId"]!.GetValue<int>();
        var limitFile = MemoryLimitFile(init);
        Assert.Equal(64L << 20, ReadLimit(limitFile));

        var modified = (await d.PostAsync($"v2/compute-systems/{id}/modify",
            """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":96}""")).Expect(200)!;
        Assert.Equal("Running", modified["State"]!.GetValue<string>());
        Assert.Equal(96L << 20, ReadLimit(limitFile));

        // refused, each at its path under $.Settings; the limit stays
        var bad = await d.PostAsync($"v2/compute-systems/{id}/modify",
            """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":"lots"}""");
        AssertSettingsError(bad, "$.Settings");
        bad = await d.PostAsync($"v2/compute-systems/{id}/modify",
            """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":1}""");
        AssertSettingsError(bad, "$.Settings");
        bad = await d.PostAsync($"v2/compute-systems/{id}/modify",
            """{"ResourcePath":"Container/Processor","RequestType":"Update","Settings":{"Weight":0}}""");
        AssertSettingsError(bad, "$.Settings.Weight");
        Assert.Equal(96L << 20, ReadLimit(limitFile));

        (await d.DeleteAsync($"v2/compute-systems/{id}?force=true")).Expect(204);
        HostTraces.AssertNone(d, id);
    }

    [RootFact]
    public async Task MappedDirectory_AddMakesItVisible_RemoveMakesItGo()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("map");
        await d.CreateAndStartAsync(id, Hcsd.ContainerDocument());
        var host = Hcsd.NewScratch();
        File.WriteAllText(Path.Combine(host, "note"), "from the host\n");

        var add = new JsonObject
        {
            ["ResourcePath"] = "Container/MappedDirectories", ["RequestType"] = "Add",
            ["Settings"] = new JsonObject { ["HostPath"] = host, ["ContainerPath"] = "/mnt/shared" },
        };
        (await d.PostAsync($"v2/compute-systems/{id}/modify", add.ToJsonString())).Expect(200);
        var read = await d.RunAsync(id, "cat", "/mnt/shared/note");
        Assert.True(read.ExitCode == 0 && read.Stdout == "from the host\n", $"cat: {read}");
        // writable both ways: the container's write shows on the host
        var write = await d.RunAsync(id, "sh", "-c", "echo from inside > /mnt/shared/reply");
        Assert.Equal(0, write.ExitCode);
        Assert.Equal("from inside\n", File.ReadAllText(Path.Combine(host, "reply")));

        // the same path twice, and a host path that does not exist: refused at $.Settings
        AssertSettingsError(await d.PostAsync($"v2/compute-systems/{id}/modify", add.ToJsonString()), "$.Settings.ContainerPath");
        var missing = new JsonObject
        {
            ["ResourcePath"] = "Container/MappedDirectories", ["RequestType"] = "Add",
            ["Settings"] = new JsonObject { ["HostPath"] = host + "/no-such-dir", ["ContainerPath"] = "/mnt/other" },
        };
        AssertSettingsError(await d.PostAsync($"v2/compute-systems/{id}/modify", missing.ToJsonString()), "$.Settings.HostPath");
        var unknownField = new JsonObject
        {
            ["ResourcePath"] = "Container/MappedDirectories", ["RequestType"] = "Add",
            ["Settings"] = new JsonObject { ["HostPath"] = host, ["ContainerPath"] = "/mnt/x", ["Bogus"] = 1 },
        };
        AssertSettingsError(await d.PostAsync($"v2/compute-systems/{id}/modify", unknownField.ToJsonString()), "$.Settings.Bogus");

        var remove = """{"ResourcePath":"Container/MappedDirectories","RequestType":"Remove","Settings":{"ContainerPath":"/mnt/shared"}}""";
        (await d.PostAsync($"v2/compute-systems/{id}/modify", remove)).Expect(200);
        var gone = await d.RunAsync(id, "cat", "/mnt/shared/note");
        Assert.True(gone.ExitCode != 0 && gone.Stdout == "", $"still visible after Remove: {gone}");
        // removing it again: it is not mapped any more
        AssertSettingsError(await d.PostAsync($"v2/compute-systems/{id}/modify", remove), "$.Settings.ContainerPath");
        Assert.True(File.Exists(Path.Combine(host, "note")), "Remove touched the host directory");

        (await d.DeleteAsync($"v2/compute-systems/{id}?force=true")).Expect(204);
        HostTraces.AssertNone(d, id);
    }

    private static void AssertSettingsError(ApiResponse r, string path)
    {
        var error = r.ExpectError(400, "HCS_E_INVALID_JSON");
        var paths = new List<string>();
        if (error["Path"]?.GetValue<string>() is { } p) paths.Add(p);
        if (error["Errors"] is JsonArray list) paths.AddRange(list.Select(e => e!["Path"]!.GetValue<string>()));
        Assert.True(paths.Contains(path), $"expected an error at {path}: {r}");
    }

    /// <summary>The memory limit file of the init's cgroup: memory.limit_in_bytes under the v1
    /// memory controller, else memory.max under cgroup2.</summary>
    private static string MemoryLimitFile(int pid)
    {
        var lines = File.ReadAllLines($"/proc/{pid}/cgroup");
        // mount point and super options of each cgroup hierarchy
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' '))
            .Select(f => (Point: f[4], Type: f[Array.IndexOf(f, "-") + 1], Options: f[^1].Split(','))).ToList();
        foreach (var line in lines)
        {
            var f = line.Split(':', 3);
            if (f[1].Split(',').Contains("memory"))
                return Path.Combine(mounts.First(m => m.Type == "cgroup" && m.Options.Contains("memory")).Point + f[2], "memory.limit_in_bytes");
        }
        var unified = lines.Single(l => l.StartsWith("0::")).Split(':', 3)[2];
        return Path.Combine(mounts.First(m => m.Type == "cgroup2").Point + unified, "memory.max");
    }

    private static long ReadLimit(string file) => long.Parse(File.ReadAllText(file).Trim());
}
