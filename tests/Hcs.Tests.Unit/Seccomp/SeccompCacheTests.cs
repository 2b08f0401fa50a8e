using System.Runtime.Versioning;
using System.Security.Cryptography;
using Hcs.Linux.Seccomp;
using static Hcs.Tests.Unit.Seccomp.Profiles;

namespace Hcs.Tests.Unit.Seccomp;

[SupportedOSPlatform("linux")]
public sealed class SeccompCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hcs-seccomp-cache-" + Guid.NewGuid().ToString("n"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static Hcs.Schema.Oci.Seccomp Profile(params string[] allowed) =>
        Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", allowed));

    [Fact]
    public void A_hit_returns_the_same_bytes_from_one_private_file()
    {
        var first = SeccompCompiler.Compile(Profile("read", "write"), cacheDirectory: _dir);
        var second = SeccompCompiler.Compile(Profile("read", "write"), cacheDirectory: _dir);

        Assert.Equal(first.Filter, second.Filter);
        Assert.Equal(first.Flags, second.Flags);
        var file = Assert.Single(Directory.GetFileSystemEntries(_dir)); // no temp files left behind
        Assert.EndsWith(".bpf", file);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(SeccompCompiler.Compile(Profile("read", "write")).Filter, second.Filter);
    }

    [Fact]
    public void A_hit_does_not_compile()
    {
        SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir);
        var file = Assert.Single(Directory.GetFiles(_dir));

        // Replace the entry with a valid file holding a program libseccomp would never emit
        // ("ret ALLOW"): getting it back proves the compiler, and so libseccomp, was not used.
        byte[] allowAll = [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f];
        File.WriteAllBytes(file, [.. "HCSBPF1\n"u8, .. SHA256.HashData(allowAll), .. allowAll]);

        Assert.Equal(allowAll, SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir).Filter);
    }

    [Fact]
    public void A_damaged_entry_is_recompiled_and_replaced()
    {
        var good = SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir).Filter;
        var file = Assert.Single(Directory.GetFiles(_dir));
        var bytes = File.ReadAllBytes(file);
        bytes[^1] ^= 0xff;
        File.WriteAllBytes(file, bytes);

        Assert.Equal(good, SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir).Filter);
        Assert.Equal(good, SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir).Filter);
        Assert.NotEqual(bytes, File.ReadAllBytes(file));
    }

    [Fact]
    public void Different_sections_get_different_entries()
    {
        var a = SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir);
        var b = SeccompCompiler.Compile(Profile("write"), cacheDirectory: _dir);

        Assert.NotEqual(a.Filter, b.Filter);
        Assert.Equal(2, Directory.GetFiles(_dir).Length);
    }

    [Fact]
    public void An_invalid_section_is_never_served_from_the_cache()
    {
        var bad = Profile("fooo");
        Assert.Throws<Hcs.Schema.DocumentException>(() => SeccompCompiler.Compile(bad, cacheDirectory: _dir));
        Assert.Throws<Hcs.Schema.DocumentException>(() => SeccompCompiler.Compile(bad, cacheDirectory: _dir));
        Assert.False(Directory.Exists(_dir) && Directory.GetFiles(_dir).Length > 0);
    }

    [Fact]
    public void An_unwritable_cache_does_not_fail_the_compile()
    {
        File.WriteAllText(_dir, "not a directory");
        try
        {
            Assert.NotEmpty(SeccompCompiler.Compile(Profile("read"), cacheDirectory: _dir).Filter);
        }
        finally
        {
            File.Delete(_dir);
        }
    }
}
