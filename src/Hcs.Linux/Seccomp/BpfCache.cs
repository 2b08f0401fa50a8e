using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;
using OciSpec = Hcs.Schema.Oci.Spec;

namespace Hcs.Linux.Seccomp;

/// <summary>
/// Compiled filters on disk, keyed by what determines the bytes: the seccomp section, the
/// libseccomp build that compiled it, the architecture and this compiler's own version.
/// </summary>
/// <remarks>
/// A lookup must not load libseccomp (that is most of what a hit saves), so the library is
/// identified by its file instead of by seccomp_version(): path, size and mtime of every
/// libseccomp.so.2 the loader could pick. That is stricter than the version number, which
/// matters: distributions patch new syscalls into 2.5.4 without changing the version.
/// A file is "HCSBPF1\n" + SHA-256 of the program + the program, written to a temporary
/// name and renamed, so a concurrent reader sees either nothing or a whole file; the
/// checksum turns a damaged file (a crash between write and rename on some filesystems)
/// into a miss. The directory must be writable only by the runtime: whoever can write it
/// decides the containers' filters.
/// </remarks>
internal static class BpfCache
{
    /// <summary>Bump when the compiler's output for the same input changes (rules skipped,
    /// attributes set, the list of tolerated unknown names), so old entries stop matching.</summary>
    private const string CompilerVersion = "hcs-seccomp/3";

    private static ReadOnlySpan<byte> Magic => "HCSBPF1\n"u8;
    private const int HeaderLength = 8 + SHA256.HashSizeInBytes;

    /// <summary>The key for a section, or null when libseccomp's file cannot be found without
    /// loading it; then nothing is cached, since a library change could not be noticed.</summary>
    public static string? Key(Hcs.Schema.Oci.Seccomp seccomp)
    {
        var library = LibraryFingerprint();
        if (library is null) return null;

        // OciWriter writes properties in a fixed order and leaves nulls out, so equal
        // sections give equal bytes.
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer)) OciWriter.Write(writer, seccomp);
        var json = buffer.WrittenSpan;

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(
            $"{CompilerVersion}\n{RuntimeInformation.ProcessArchitecture}\n{library}\n"));
        hash.AppendData(json);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static byte[]? TryRead(string directory, string key)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(Path.Combine(directory, key + ".bpf"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (file.Length <= HeaderLength || !file.AsSpan(0, 8).SequenceEqual(Magic)) return null;
        var program = file.AsSpan(HeaderLength);
        if (program.Length % 8 != 0) return null;
        Span<byte> sum = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(program, sum);
        if (!sum.SequenceEqual(file.AsSpan(8, SHA256.HashSizeInBytes))) return null;
        return program.ToArray();
    }

    /// <summary>Best effort: a cache that cannot be written (read-only, full) only costs the
    /// next start a compilation, so failures are swallowed rather than failing the container.</summary>
    public static void TryWrite(string directory, string key, byte[] program)
    {
        if (OperatingSystem.IsWindows()) return; // never true; tells the platform analyzer Unix modes apply
        string? temp = null;
        try
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            // Unique per writer, so two runtimes compiling the same profile never share a temp file;
            // the later rename wins, and both wrote the same bytes.
            temp = Path.Combine(directory, $".{key}.{Environment.ProcessId}.{Random.Shared.Next():x8}.tmp");
            var file = new byte[HeaderLength + program.Length];
            Magic.CopyTo(file);
            SHA256.HashData(program, file.AsSpan(8, SHA256.HashSizeInBytes));
            program.CopyTo(file, HeaderLength);
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                stream.Write(file);
            }
            File.Move(temp, Path.Combine(directory, key + ".bpf"), overwrite: true);
            temp = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        finally
        {
            if (temp is not null)
            {
                try { File.Delete(temp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
    }

    /// <summary>Identifies every libseccomp.so.2 in the places the dynamic loader searches by
    /// default (and LD_LIBRARY_PATH), by resolved path, size and modification time. Listing
    /// all of them, not guessing which one the loader picks, means any change to any of them
    /// changes the key.</summary>
    private static string? LibraryFingerprint()
    {
        // stat() of some ten paths on every container create otherwise; a library replaced
        // within the last second may still be taken for the old one (its filters only differ for
        // syscalls one of the two does not know)
        long now = Environment.TickCount64;
        if (_fingerprint is { } last && now - last.At < 1000) return last.Value;
        var value = ReadLibraryFingerprint();
        if (value is not null) _fingerprint = new Fingerprint(value, now); // one reference: no torn reads
        return value;
    }

    private sealed record Fingerprint(string Value, long At);
    private static Fingerprint? _fingerprint;

    private static string? ReadLibraryFingerprint()
    {
        var text = new StringBuilder();
        foreach (var dir in LibraryDirectories())
        {
            var path = Path.Combine(dir, "libseccomp.so.2");
            try
            {
                var info = new FileInfo(path);
                if (!info.Exists) continue;
                var target = info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo;
                if (target is null || !target.Exists) continue;
                text.Append(path).Append('=').Append(target.FullName).Append(':')
                    .Append(target.Length).Append(':').Append(target.LastWriteTimeUtc.Ticks).Append(';');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return text.Length == 0 ? null : text.ToString();
    }

    private static IEnumerable<string> LibraryDirectories()
    {
        if (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") is { Length: > 0 } extra)
            foreach (var dir in extra.Split(':', StringSplitOptions.RemoveEmptyEntries))
                yield return dir;
        var triplet = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x86_64-linux-gnu",
            Architecture.Arm64 => "aarch64-linux-gnu",
            Architecture.Arm => "arm-linux-gnueabihf",
            Architecture.X86 => "i386-linux-gnu",
            Architecture.S390x => "s390x-linux-gnu",
            Architecture.Ppc64le => "powerpc64le-linux-gnu",
            Architecture.RiscV64 => "riscv64-linux-gnu",
            _ => null,
        };
        if (triplet is not null)
        {
            yield return "/usr/local/lib/" + triplet;
            yield return "/lib/" + triplet;
            yield return "/usr/lib/" + triplet;
        }
        yield return "/usr/local/lib";
        yield return "/lib64";
        yield return "/usr/lib64";
        yield return "/lib";
        yield return "/usr/lib";
    }
}
