using System.Net;
using Hcs.Images.Images;
using Hcs.Images.Registry;

namespace Hcs.Tests.Unit.Images;

/// <summary>Where a malicious or misconfigured registry can make us send its credentials.</summary>
public sealed class RegistryCredentialLeakTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "hcs-credleak-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    /// <summary>Answers every request to the registry with a Bearer challenge naming
    /// <paramref name="realm"/>, records every request, and answers the realm with 401.</summary>
    private sealed class FakeRegistry(string realm) : HttpMessageHandler
    {
        public readonly List<(Uri Uri, string? Authorization)> Requests = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            lock (Requests) Requests.Add((request.RequestUri!, request.Headers.Authorization?.ToString()));
            var response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            if (request.RequestUri!.Host == "registry.example")
                response.Headers.TryAddWithoutValidation("WWW-Authenticate", $"Bearer realm=\"{realm}\",service=\"registry.example\"");
            return Task.FromResult(response);
        }
    }

    private RegistryClient Client(FakeRegistry fake) => new(new ImageStore(_root), new RegistryOptions
    {
        Handler = fake,
        Attempts = 1,
        Credentials = new Dictionary<string, RegistryCredential> { ["registry.example"] = new("alice", "s3cret") },
    });

    [Fact]
    public async Task Credentials_of_an_https_registry_are_not_sent_to_an_http_realm()
    {
        var fake = new FakeRegistry("http://auth.example/token");
        using var client = Client(fake);
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync("registry.example/app:1", unpack: false));
        Assert.Equal(ImageError.Unauthorized, e.Kind);
        Assert.Contains("plain http", e.Message);
        Assert.DoesNotContain(fake.Requests, r => r.Uri.Scheme == "http");
        Assert.DoesNotContain(fake.Requests, r => r.Authorization is not null && r.Authorization.StartsWith("Basic", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Credentials_go_to_an_https_realm()
    {
        var fake = new FakeRegistry("https://auth.example/token");
        using var client = Client(fake);
        await Assert.ThrowsAsync<RegistryException>(() => client.PullAsync("registry.example/app:1", unpack: false));
        Assert.Contains(fake.Requests, r => r.Uri.Host == "auth.example" && r.Uri.Scheme == "https" && r.Authorization!.StartsWith("Basic", StringComparison.Ordinal));
    }
}
