using System.Text.Json;
using Hcs.Linux.Seccomp;
using static Hcs.Tests.Unit.Seccomp.BpfInterpreter;
using static Hcs.Tests.Unit.Seccomp.Profiles;
using OciSeccomp = Hcs.Schema.Oci.Seccomp;

namespace Hcs.Tests.Unit.Seccomp;

/// <summary>
/// podman's default profile (containers-common) must compile, or podman containers would not
/// start. The file is in containers/common's format (archMap, includes/excludes by arch and
/// capability); podman turns it into an OCI section before calling the runtime, and
/// <see cref="ToOci"/> does the same for an x86_64 container with podman's default capabilities.
/// </summary>
public class PodmanProfileTests
{
    private const string PodmanProfile = "/usr/share/containers/seccomp.json";
    private const string Hint = "install podman or containers-common";

    private static readonly string[] PodmanDefaultCaps =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
    ];

    [FactWhenFile(PodmanProfile, Hint)]
    public void Every_name_in_podmans_profile_compiles()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(PodmanProfile));
        var names = doc.RootElement.GetProperty("syscalls").EnumerateArray()
            .SelectMany(r => r.GetProperty("names").EnumerateArray().Select(n => n.GetString()!))
            .Distinct().ToArray();
        Assert.True(names.Length > 300);

        // One rule with every name: an unknown one would be an error naming it.
        var profile = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", names));
        profile.Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
        Assert.NotEmpty(SeccompCompiler.Compile(profile).Filter);
    }

    [FactWhenFile(PodmanProfile, Hint)]
    public void Podmans_profile_compiles_and_behaves()
    {
        var profile = ToOci(File.ReadAllBytes(PodmanProfile), "amd64", "SCMP_ARCH_X86_64", PodmanDefaultCaps);

        var program = SeccompCompiler.Compile(profile);

        Assert.Equal(0u, program.Flags);
        Assert.InRange(program.InstructionCount, 100, 4096);
        if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
            return;
        var filter = program.Filter;
        Assert.Equal(RetAllow, Run(filter, Read));
        Assert.Equal(RetAllow, Run(filter, Mkdir));
        Assert.Equal(RetAllow, Run(filter, Chroot));                           // CAP_SYS_CHROOT is in the set
        Assert.Equal(RetErrno | 1, Run(filter, KexecLoad));                    // explicitly EPERM
        Assert.Equal(RetErrno | 38, Run(filter, 1000));                        // everything else ENOSYS
        Assert.Equal(RetAllow, Run(filter, Personality, args: 0xffffffff));    // personality(0xffffffff) queries
        Assert.Equal(RetErrno | 38, Run(filter, Personality, args: 1));
        Assert.Equal(RetAllow, Run(filter, Socket, args: [2, 1, 0]));          // AF_INET
        Assert.Equal(RetErrno | 22, Run(filter, Socket, args: [16, 3, 9]));    // AF_NETLINK audit: EINVAL
        Assert.Equal(RetAllow, Run(filter, Socket, args: [16, 3, 0]));         // other netlink
    }

    /// <summary>containers/common's format → the OCI section podman passes to the runtime.</summary>
    private static OciSeccomp ToOci(byte[] json, string goArch, string nativeArch, string[] caps)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var section = new OciSeccomp
        {
            DefaultAction = root.GetProperty("defaultAction").GetString()!,
            DefaultErrnoRet = root.TryGetProperty("defaultErrnoRet", out var d) ? d.GetUInt32() : null,
            Architectures = [],
            Syscalls = [],
        };
        foreach (var entry in root.GetProperty("archMap").EnumerateArray())
        {
            if (entry.GetProperty("architecture").GetString() != nativeArch) continue;
            section.Architectures.Add(nativeArch);
            section.Architectures.AddRange(entry.GetProperty("subArchitectures").EnumerateArray().Select(a => a.GetString()!));
        }
        foreach (var rule in root.GetProperty("syscalls").EnumerateArray())
        {
            if (!Applies(rule, "includes", goArch, caps, wanted: true) || !Applies(rule, "excludes", goArch, caps, wanted: false))
                continue;
            var oci = new Hcs.Schema.Oci.SyscallRule
            {
                Names = [.. rule.GetProperty("names").EnumerateArray().Select(n => n.GetString()!)],
                Action = rule.GetProperty("action").GetString()!,
                ErrnoRet = rule.TryGetProperty("errnoRet", out var e) ? e.GetUInt32() : null,
            };
            if (rule.TryGetProperty("args", out var args) && args.ValueKind == JsonValueKind.Array && args.GetArrayLength() > 0)
                oci.Args = [.. args.EnumerateArray().Select(a => Arg(
                    a.GetProperty("index").GetUInt32(), a.GetProperty("op").GetString()!,
                    a.GetProperty("value").GetUInt64(), a.GetProperty("valueTwo").GetUInt64()))];
            section.Syscalls.Add(oci);
        }
        return section;
    }

    /// <summary>includes: every listed arch/cap condition must hold; excludes: none may.</summary>
    private static bool Applies(JsonElement rule, string property, string goArch, string[] caps, bool wanted)
    {
        if (!rule.TryGetProperty(property, out var filter) || filter.ValueKind != JsonValueKind.Object) return true;
        if (filter.TryGetProperty("arches", out var arches) && arches.GetArrayLength() > 0)
        {
            bool has = arches.EnumerateArray().Any(a => a.GetString() == goArch);
            if (has != wanted) return false;
        }
        if (filter.TryGetProperty("caps", out var needed) && needed.GetArrayLength() > 0)
        {
            bool has = wanted
                ? needed.EnumerateArray().All(c => caps.Contains(c.GetString()))
                : needed.EnumerateArray().Any(c => caps.Contains(c.GetString()));
            if (has != wanted) return false;
        }
        return true;
    }
}
