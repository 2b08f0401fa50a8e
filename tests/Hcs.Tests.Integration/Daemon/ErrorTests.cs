using System.Diagnostics;
using System.Text.Json.Nodes;
using Hcs.Schema.Hcs;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>The error table of 0003: status, Error name, Path (and Errors) as sent on the wire.</summary>
public sealed class ErrorTests
{
    [RootFact]
    public async Task Errors_CarryTheirStatusNameAndPath()
    {
        await using var d = await Hcsd.StartAsync();

        // 404: unknown system, on a read and on an action
        (await d.GetAsync("v2/compute-systems/no-such-system")).ExpectError(404, "HCS_E_SYSTEM_NOT_FOUND");
        (await d.PostAsync("v2/compute-systems/no-such-system/start")).ExpectError(404, "HCS_E_SYSTEM_NOT_FOUND");
        (await d.DeleteAsync("v2/compute-systems/no-such-system")).ExpectError(404, "HCS_E_SYSTEM_NOT_FOUND");

        // 404: unknown route
        (await d.GetAsync("v2/no-such-route")).ExpectError(404, "HCS_E_NOT_FOUND");
        (await d.GetAsync("v3/compute-systems")).ExpectError(404, "HCS_E_NOT_FOUND");

        var id = DaemonApi.NewId("err");
        (await d.CreateSystemAsync(id, Hcsd.ContainerDocument())).Expect(201);

        // 409: the id is taken (the second document is valid: only the id is at fault)
        (await d.CreateSystemAsync(id, Hcsd.ContainerDocument())).ExpectError(409, "HCS_E_SYSTEM_ALREADY_EXISTS", "$.Id");

        // 408: wait on a system that does not exit; answered when the timeout is up, not later
        var sw = Stopwatch.StartNew();
        (await d.PostAsync($"v2/compute-systems/{id}/wait?timeoutMs=50")).ExpectError(408, "HCS_E_OPERATION_TIMEOUT");
        Assert.True(sw.ElapsedMilliseconds < 5000, $"wait timeoutMs=50 answered after {sw.ElapsedMilliseconds} ms");

        (await d.PostAsync($"v2/compute-systems/{id}/start")).Expect(200);
        // 409: start twice
        (await d.PostAsync($"v2/compute-systems/{id}/start")).ExpectError(409, "HCS_E_INVALID_STATE");
        // 409: delete while running, without force; the system is untouched
        (await d.DeleteAsync($"v2/compute-systems/{id}")).ExpectError(409, "HCS_E_INVALID_STATE");
        Assert.Equal("Running", await d.StateOfAsync(id));
        sw.Restart();
        (await d.PostAsync($"v2/compute-systems/{id}/wait?timeoutMs=50")).ExpectError(408, "HCS_E_OPERATION_TIMEOUT");
        Assert.True(sw.ElapsedMilliseconds < 5000, $"wait timeoutMs=50 answered after {sw.ElapsedMilliseconds} ms");
        // 404: a process the system does not have
        (await d.GetAsync($"v2/compute-systems/{id}/processes/999999")).ExpectError(404, "HCS_E_PROCESS_INFO_NOT_AVAILABLE");

        // 400: an unknown field, named by its path
        var unknown = CreateBody(DaemonApi.NewId("bad"), container => container["Bogus"] = true);
        var error = (await d.PostAsync("v2/compute-systems", unknown)).ExpectError(400, "HCS_E_INVALID_JSON");
        Assert.Contains("$.Document.Container.Bogus", Paths(error));

        // 400: several mistakes at once, each listed with its path
        var several = CreateBody(DaemonApi.NewId("bad"), container =>
        {
            container["Bogus"] = 1;
            container["Memory"] = new JsonObject { ["SizeInMB"] = "lots" };
            container["GuestOs"] = new JsonObject { ["HostName"] = 42 };
        });
        error = (await d.PostAsync("v2/compute-systems", several)).ExpectError(400, "HCS_E_INVALID_JSON");
        var paths = Paths(error);
        foreach (var expected in new[] { "$.Document.Container.Bogus", "$.Document.Container.Memory.SizeInMB", "$.Document.Container.GuestOs.HostName" })
            Assert.True(paths.Contains(expected), $"{expected} not among the errors: {error.ToJsonString()}");

        // 501: a capability this host lacks
        var vm = CreateBody(DaemonApi.NewId("vm"), container => container["IsolationType"] = "Hypervisor");
        (await d.PostAsync("v2/compute-systems", vm)).ExpectError(501, "HCS_E_SERVICE_NOT_AVAILABLE");

        // none of the refused creates left anything: only the running system exists
        Assert.Equal([id], await d.ListIdsAsync());
        (await d.DeleteAsync($"v2/compute-systems/{id}?force=true")).Expect(204);
        HostTraces.AssertNone(d, id);
        Assert.Empty(HostTraces.All(d));
    }

    /// <summary>A create request for a valid container document, changed by edit.</summary>
    private static string CreateBody(string id, Action<JsonObject> edit)
    {
        var doc = JsonNode.Parse(HcsWriter.ToUtf8(w => HcsWriter.Write(w, Hcsd.ContainerDocument())))!.AsObject();
        edit(doc["Container"]!.AsObject());
        return new JsonObject { ["Id"] = id, ["Document"] = doc }.ToJsonString();
    }

    /// <summary>Every path an error names: Path and each Errors[].Path.</summary>
    private static List<string> Paths(JsonNode error)
    {
        var paths = new List<string>();
        if (error["Path"]?.GetValue<string>() is { } p) paths.Add(p);
        if (error["Errors"] is JsonArray list)
            paths.AddRange(list.Select(e => e!["Path"]!.GetValue<string>()));
        return paths;
    }
}
