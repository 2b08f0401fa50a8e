using Hcs.Images.Images;

namespace Hcs.Tests.Unit.Images;

/// <summary>ImageReference: docker's normalisation and the reference grammar's errors.</summary>
public sealed class ImageReferenceTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("busybox", "docker.io", "library/busybox", "latest", null, "docker.io/library/busybox:latest")]
    [InlineData("busybox:1.36", "docker.io", "library/busybox", "1.36", null, "docker.io/library/busybox:1.36")]
    [InlineData("user/app", "docker.io", "user/app", "latest", null, "docker.io/user/app:latest")]
    [InlineData("docker.io/busybox", "docker.io", "library/busybox", "latest", null, "docker.io/library/busybox:latest")]
    [InlineData("index.docker.io/library/busybox:x", "docker.io", "library/busybox", "x", null, "docker.io/library/busybox:x")]
    [InlineData("host:5000/a/b:tag", "host:5000", "a/b", "tag", null, "host:5000/a/b:tag")]
    [InlineData("localhost/a", "localhost", "a", "latest", null, "localhost/a:latest")]
    [InlineData("localhost:5000/a", "localhost:5000", "a", "latest", null, "localhost:5000/a:latest")]
    [InlineData("127.0.0.1:5000/repo/x:v1", "127.0.0.1:5000", "repo/x", "v1", null, "127.0.0.1:5000/repo/x:v1")]
    [InlineData("ghcr.io/o/r/deep/path:v-1.2_3", "ghcr.io", "o/r/deep/path", "v-1.2_3", null, "ghcr.io/o/r/deep/path:v-1.2_3")]
    [InlineData("[::1]:5000/a:b", "[::1]:5000", "a", "b", null, "[::1]:5000/a:b")]
    [InlineData("a__b-c--d/e_f.g", "docker.io", "a__b-c--d/e_f.g", "latest", null, "docker.io/a__b-c--d/e_f.g:latest")]
    [InlineData("Registry/x", "Registry", "x", "latest", null, "Registry/x:latest")]
    public void Normalises_as_docker_does(string text, string domain, string path, string? tag, string? digest, string canonical)
    {
        var r = ImageReference.Parse(text);
        Assert.Equal(domain, r.Domain);
        Assert.Equal(path, r.Path);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest);
        Assert.Equal(canonical, r.ToString());
    }

    [Fact]
    public void A_digest_reference_gets_no_tag()
    {
        var r = ImageReference.Parse("busybox@sha256:" + Hex);
        Assert.Null(r.Tag);
        Assert.Equal("sha256:" + Hex, r.Digest);
        Assert.Equal("sha256:" + Hex, r.Reference);
        Assert.Equal("docker.io/library/busybox@sha256:" + Hex, r.ToString());
    }

    [Fact]
    public void Tag_and_digest_are_both_kept_and_the_digest_is_what_is_fetched()
    {
        var r = ImageReference.Parse("host:5000/a:v1@sha256:" + Hex);
        Assert.Equal("v1", r.Tag);
        Assert.Equal("sha256:" + Hex, r.Reference);
        Assert.Equal("host:5000/a:v1@sha256:" + Hex, r.ToString());
    }

    [Theory]
    [InlineData("busybox", "busybox:latest")]
    [InlineData("docker.io/library/busybox:1", "busybox:1")]
    [InlineData("user/app:2", "user/app:2")]
    [InlineData("host:5000/a:b", "host:5000/a:b")]
    public void Familiar_form_drops_the_defaults(string text, string familiar) =>
        Assert.Equal(familiar, ImageReference.Parse(text).Familiar);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Busybox", "must be lowercase")]
    [InlineData("docker.io/Library/x", "must be lowercase")]
    [InlineData("busybox:", "tag after ':' is empty")]
    [InlineData("busybox:-x", "must not start with '.' or '-'")]
    [InlineData("busybox:a/b", "port \"a\" is not a number")]
    [InlineData("a//b", "empty component")]
    [InlineData("a/", "empty component")]
    [InlineData("-a", "may only have lowercase letters")]
    [InlineData("a..b", "may only have lowercase letters")]
    [InlineData("a b", "printable ASCII")]
    [InlineData("busybox@sha256:abc", "64 hex digits, not 3")]
    [InlineData("busybox@sha512:abc", "algorithm \"sha512\" is not supported")]
    [InlineData("busybox@nohex", "not algorithm:hex")]
    [InlineData("host:port/a", "port \"port\" is not a number")]
    [InlineData("host:99999/a", "is not a number")]
    [InlineData("-bad.host/a", "is not a host name")]
    [InlineData("[zz]:5000/a", "is not an IPv6 address")]
    [InlineData(":tag", "repository name is missing")]
    public void Errors_say_what_is_wrong(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ImageReference.Parse(text));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith($"invalid reference \"{text}\"", e.Message);
    }

    [Fact]
    public void A_tag_is_at_most_128_characters()
    {
        Assert.Equal(new string('a', 128), ImageReference.Parse("x:" + new string('a', 128)).Tag);
        Assert.Contains("longer than 128", Assert.Throws<FormatException>(() => ImageReference.Parse("x:" + new string('a', 129))).Message);
    }

    [Fact]
    public void A_name_is_at_most_255_characters()
    {
        var path = string.Join('/', Enumerable.Repeat(new string('a', 50), 5)); // 254 + domain
        Assert.Contains("longer than 255", Assert.Throws<FormatException>(() => ImageReference.Parse("r.io/" + path)).Message);
    }

    [Fact]
    public void WithTag_and_WithDigest_keep_the_repository()
    {
        var r = ImageReference.Parse("host:5000/a@sha256:" + Hex);
        Assert.Equal("host:5000/a:v2", r.WithTag("v2").ToString());
        Assert.Equal("host:5000/a@sha256:" + Hex, ImageReference.Parse("host:5000/a:v1").WithDigest("sha256:" + Hex).ToString());
    }
}
