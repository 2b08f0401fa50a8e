using System.Text.Json.Nodes;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>GET /v2/events: a streaming NDJSON response of notifications, in order.</summary>
public sealed class EventTests
{
    [RootFact]
    public async Task Events_ReportCreatedStartedExited_InOrder_WithIdTimeAndExitStatus()
    {
        await using var d = await Hcsd.StartAsync();
        var id = DaemonApi.NewId("ev");
        var other = DaemonApi.NewId("other");
        using var http = Hcsd.UnixHttp(d.SocketPath);
        http.Timeout = Timeout.InfiniteTimeSpan;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"v2/events?Ids={id}"),
                                                  HttpCompletionOption.ResponseHeadersRead, stop.Token);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token));

        var before = DateTime.UtcNow.AddSeconds(-1);
        // a system the subscription does not ask about: none of its events may arrive
        (await d.CreateSystemAsync(other, Hcsd.ContainerDocument())).Expect(201);
        // a short-lived init: its exit can race the end of start
        await d.CreateAndStartAsync(id, Hcsd.ContainerDocument("sh", "-c", "exit 4"));

        var seen = new List<JsonNode>();
        while (seen.Count < 3)
        {
            var line = await reader.ReadLineAsync(stop.Token)
                ?? throw new Xunit.Sdk.XunitException("the event stream ended; seen: " + string.Join(" ", seen.Select(n => n.ToJsonString())));
            if (line.Length == 0) continue;
            seen.Add(JsonNode.Parse(line)!);
        }
        var all = string.Join("\n", seen.Select(n => n.ToJsonString()));
        Assert.True(seen.Select(n => n["Type"]?.GetValue<string>()).SequenceEqual(["SystemCreated", "SystemStarted", "SystemExited"]),
                    "expected SystemCreated, SystemStarted, SystemExited:\n" + all);
        DateTime previous = before;
        foreach (var n in seen)
        {
            Assert.True(n["Id"]?.GetValue<string>() == id, "an event for another system:\n" + all);
            var time = n["Time"]!.GetValue<DateTime>().ToUniversalTime();
            Assert.True(time >= previous && time <= DateTime.UtcNow.AddSeconds(1), $"Time {time:O} out of order or range:\n" + all);
            previous = time;
        }
        var status = seen[2]["SystemExitStatus"] ?? throw new Xunit.Sdk.XunitException("SystemExited without SystemExitStatus:\n" + all);
        Assert.Equal(4, status["ExitCode"]!.GetValue<int>());
        Assert.Equal("GracefulExit", status["ExitType"]!.GetValue<string>());

        // deleting is reported too
        (await d.DeleteAsync($"v2/compute-systems/{id}")).Expect(204);
        var deleted = JsonNode.Parse(await reader.ReadLineAsync(stop.Token) ?? "null");
        Assert.True(deleted?["Type"]?.GetValue<string>() == "SystemDeleted" && deleted["Id"]?.GetValue<string>() == id, $"after delete: {deleted}");
        (await d.DeleteAsync($"v2/compute-systems/{other}")).Expect(204);
    }
}
