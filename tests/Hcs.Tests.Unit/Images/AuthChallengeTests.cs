using Hcs.Images.Registry;

namespace Hcs.Tests.Unit.Images;

/// <summary>WWW-Authenticate parsing (RFC 7235) as registries send it.</summary>
public sealed class AuthChallengeTests
{
    [Fact]
    public void Docker_hub_bearer_challenge()
    {
        var c = Assert.Single(AuthChallenge.Parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\""));
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.docker.io/token", c["realm"]);
        Assert.Equal("registry.docker.io", c["service"]);
        Assert.Equal("repository:library/busybox:pull", c["scope"]);
    }

    [Fact]
    public void Basic_challenge_and_case_insensitive_names()
    {
        var c = Assert.Single(AuthChallenge.Parse("basic Realm=\"Registry Realm\""));
        Assert.True(c.IsBasic);
        Assert.Equal("Registry Realm", c["realm"]);
    }

    [Fact]
    public void Several_challenges_in_one_header()
    {
        var all = AuthChallenge.Parse("Basic realm=\"a, b\", Bearer realm=\"https://t/token\", service=s , error=\"insufficient_scope\"");
        Assert.Equal(2, all.Count);
        Assert.Equal("a, b", all[0]["realm"]);
        Assert.True(all[1].IsBearer);
        Assert.Equal("https://t/token", all[1]["realm"]);
        Assert.Equal("s", all[1]["service"]);
        Assert.Equal("insufficient_scope", all[1]["error"]);
    }

    [Fact]
    public void Scope_with_several_actions_and_escaped_quotes()
    {
        var c = Assert.Single(AuthChallenge.Parse("Bearer realm=\"https://r/t\",scope=\"repository:a/b:pull,push\",x=\"say \\\"hi\\\"\""));
        Assert.Equal("repository:a/b:pull,push", c["scope"]);
        Assert.Equal("say \"hi\"", c["x"]);
    }

    [Fact]
    public void Scheme_without_parameters_then_another()
    {
        var all = AuthChallenge.Parse("Negotiate, Basic realm=x");
        Assert.Equal(["Negotiate", "Basic"], all.Select(c => c.Scheme));
        Assert.Equal("x", all[1]["realm"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\"quoted\"")]
    public void Nothing_usable_is_no_challenge(string header) => Assert.Empty(AuthChallenge.Parse(header));

    [Fact]
    public void Unterminated_quote_ends_the_value()
    {
        var c = Assert.Single(AuthChallenge.Parse("Bearer realm=\"https://r/t"));
        Assert.Equal("https://r/t", c["realm"]);
    }
}

/// <summary>Which registries are spoken to over plain HTTP, and Docker Hub's endpoint.</summary>
public sealed class RegistryEndpointTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "hcs-endpoints-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private RegistryClient Client(params string[] insecure) =>
        new(new Hcs.Images.Images.ImageStore(_root), new RegistryOptions { InsecureRegistries = insecure });

    [Theory]
    [InlineData("docker.io", "https://registry-1.docker.io/")]
    [InlineData("ghcr.io", "https://ghcr.io/")]
    [InlineData("localhost:5000", "http://localhost:5000/")]
    [InlineData("localhost", "http://localhost/")]
    [InlineData("127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [InlineData("127.0.0.2", "http://127.0.0.2/")]
    [InlineData("[::1]:5000", "http://[::1]:5000/")]
    [InlineData("10.0.0.1:5000", "https://10.0.0.1:5000/")]
    [InlineData("registry.lan:5000", "http://registry.lan:5000/")]
    [InlineData("other.lan", "http://other.lan/")]
    public void Https_unless_loopback_or_configured_insecure(string domain, string endpoint)
    {
        using var client = Client("registry.lan:5000", "other.lan");
        Assert.Equal(endpoint, client.Endpoint(domain).ToString());
    }
}
