using System.Runtime.InteropServices;
using Hcs.Linux.Seccomp;
using static Hcs.Tests.Unit.Seccomp.BpfInterpreter;
using static Hcs.Tests.Unit.Seccomp.Profiles;

namespace Hcs.Tests.Unit.Seccomp;

/// <summary>What the compiled program does, checked by running it in <see cref="BpfInterpreter"/>
/// over synthetic seccomp_data, the way the kernel would for a syscall.</summary>
public partial class SeccompCompilerTests
{
    private static readonly Hcs.Schema.Oci.Seccomp Small = Make("SCMP_ACT_ERRNO",
        Rule("SCMP_ACT_ALLOW", "read", "write", "exit_group"),
        Rule("SCMP_ACT_ALLOW", "personality").With(Arg(0, "SCMP_CMP_EQ", 8)));

    [Fact]
    public void A_small_profile_compiles_to_whole_instructions_that_start_by_loading_the_arch()
    {
        var program = SeccompCompiler.Compile(Small);

        Assert.NotEmpty(program.Filter);
        Assert.Equal(0, program.Filter.Length % 8);
        Assert.Equal(program.Filter.Length / 8, program.InstructionCount);
        // BPF_LD | BPF_W | BPF_ABS, k = offsetof(struct seccomp_data, arch)
        var first = At(program.Filter, 0);
        Assert.Equal(0x20, first.Code);
        Assert.Equal(4u, first.K);
        Assert.Equal(0u, program.Flags);
        Assert.False(program.UsesNotify);
    }

    [X64Fact]
    public void Allowed_syscalls_are_allowed_and_the_rest_get_EPERM()
    {
        var filter = SeccompCompiler.Compile(Small).Filter;

        Assert.Equal(RetAllow, Run(filter, Read));
        Assert.Equal(RetAllow, Run(filter, Write));
        Assert.Equal(RetErrno | 1, Run(filter, Mkdir));
        Assert.Equal(RetErrno | 1, Run(filter, 1000)); // beyond every table
    }

    [X64Fact]
    public void An_argument_condition_matches_only_its_value()
    {
        var filter = SeccompCompiler.Compile(Small).Filter;

        Assert.Equal(RetAllow, Run(filter, Personality, args: 8));
        Assert.Equal(RetErrno | 1, Run(filter, Personality, args: 9));
        Assert.Equal(RetErrno | 1, Run(filter, Personality, args: 8UL | 1UL << 32)); // all 64 bits compared
    }

    [X64Fact]
    public void Another_architecture_is_killed_unless_listed()
    {
        Assert.Equal(RetKillThread, Run(SeccompCompiler.Compile(Small).Filter, Read, AuditArchAarch64));

        var both = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"));
        both.Architectures = ["SCMP_ARCH_AARCH64"];
        var filter = SeccompCompiler.Compile(both).Filter;
        Assert.Equal(RetAllow, Run(filter, 63, AuditArchAarch64));       // read on arm64
        Assert.Equal(RetErrno | 1, Run(filter, 0, AuditArchAarch64));    // io_setup on arm64
        Assert.Equal(RetAllow, Run(filter, Read));                       // the native arch stays
    }

    [X64Fact]
    public void Conditions_on_different_arguments_are_ANDed()
    {
        var filter = SeccompCompiler.Compile(Make("SCMP_ACT_ERRNO",
            Rule("SCMP_ACT_ALLOW", "socket").With(Arg(0, "SCMP_CMP_EQ", 1), Arg(2, "SCMP_CMP_LE", 5)))).Filter;

        Assert.Equal(RetAllow, Run(filter, Socket, args: [1, 0, 5]));
        Assert.Equal(RetErrno | 1, Run(filter, Socket, args: [1, 0, 6]));
        Assert.Equal(RetErrno | 1, Run(filter, Socket, args: [2, 0, 0]));
    }

    [X64Fact]
    public void Conditions_on_the_same_argument_become_one_rule_each()
    {
        var filter = SeccompCompiler.Compile(Make("SCMP_ACT_ERRNO",
            Rule("SCMP_ACT_ALLOW", "socket").With(Arg(0, "SCMP_CMP_EQ", 1), Arg(0, "SCMP_CMP_EQ", 2)))).Filter;

        Assert.Equal(RetAllow, Run(filter, Socket, args: 1));
        Assert.Equal(RetAllow, Run(filter, Socket, args: 2));
        Assert.Equal(RetErrno | 1, Run(filter, Socket, args: 3));
    }

    [X64Fact]
    public void Every_operator_compares_as_documented()
    {
        var filter = SeccompCompiler.Compile(Make("SCMP_ACT_ALLOW",
            Rule("SCMP_ACT_ERRNO", "getuid").With(Arg(0, "SCMP_CMP_NE", 5)),
            Rule("SCMP_ACT_ERRNO", "getgid").With(Arg(0, "SCMP_CMP_LT", 5)),
            Rule("SCMP_ACT_ERRNO", "geteuid").With(Arg(0, "SCMP_CMP_LE", 5)),
            Rule("SCMP_ACT_ERRNO", "getegid").With(Arg(1, "SCMP_CMP_GE", 5)),
            Rule("SCMP_ACT_ERRNO", "getppid").With(Arg(5, "SCMP_CMP_GT", 5)),
            Rule("SCMP_ACT_ERRNO", "uname").With(Arg(3, "SCMP_CMP_MASKED_EQ", 0xff, 0x12)))).Filter;

        static ulong[] At(int index, ulong value) { var a = new ulong[6]; a[index] = value; return a; }
        Assert.Equal(RetErrno | 1, Run(filter, Getuid, args: At(0, 4)));
        Assert.Equal(RetAllow, Run(filter, Getuid, args: At(0, 5)));
        Assert.Equal(RetErrno | 1, Run(filter, Getgid, args: At(0, 4)));
        Assert.Equal(RetAllow, Run(filter, Getgid, args: At(0, 5)));
        Assert.Equal(RetErrno | 1, Run(filter, Geteuid, args: At(0, 5)));
        Assert.Equal(RetAllow, Run(filter, Geteuid, args: At(0, 6)));
        Assert.Equal(RetErrno | 1, Run(filter, Getegid, args: At(1, 5)));
        Assert.Equal(RetAllow, Run(filter, Getegid, args: At(1, 4)));
        Assert.Equal(RetErrno | 1, Run(filter, Getppid, args: At(5, 6)));
        Assert.Equal(RetAllow, Run(filter, Getppid, args: At(5, 5)));
        Assert.Equal(RetErrno | 1, Run(filter, Uname, args: At(3, 0x7712)));  // value is the mask,
        Assert.Equal(RetAllow, Run(filter, Uname, args: At(3, 0x7713)));      // valueTwo what remains
    }

    [X64Fact]
    public void Every_action_returns_its_value()
    {
        var profile = Make("SCMP_ACT_ALLOW",
            Rule("SCMP_ACT_KILL", "getuid"),
            Rule("SCMP_ACT_KILL_THREAD", "getgid"),
            Rule("SCMP_ACT_KILL_PROCESS", "geteuid"),
            Rule("SCMP_ACT_TRAP", "getegid"),
            Rule("SCMP_ACT_ERRNO", "getppid"),
            new() { Action = "SCMP_ACT_ERRNO", Names = ["uname"], ErrnoRet = 13 },
            new() { Action = "SCMP_ACT_TRACE", Names = ["mkdir"], ErrnoRet = 7 },
            Rule("SCMP_ACT_TRACE", "chroot"),
            Rule("SCMP_ACT_LOG", "gettid"),
            Rule("SCMP_ACT_NOTIFY", "kexec_load"));
        profile.ListenerPath = "/run/agent.sock";
        var filter = SeccompCompiler.Compile(profile).Filter;

        Assert.Equal(RetKillThread, Run(filter, Getuid));
        Assert.Equal(RetKillThread, Run(filter, Getgid));
        Assert.Equal(RetKillProcess, Run(filter, Geteuid));
        Assert.Equal(RetTrap, Run(filter, Getegid));
        Assert.Equal(RetErrno | 1, Run(filter, Getppid));   // EPERM by default
        Assert.Equal(RetErrno | 13, Run(filter, Uname));
        Assert.Equal(RetTrace | 7, Run(filter, Mkdir));
        Assert.Equal(RetTrace | 1, Run(filter, Chroot));    // EPERM by default, as runc
        Assert.Equal(RetLog, Run(filter, Gettid));
        Assert.Equal(RetNotify, Run(filter, KexecLoad));
        Assert.Equal(RetAllow, Run(filter, Read));
    }

    [X64Fact]
    public void Default_errno_ret_sets_the_default_action_errno()
    {
        var profile = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ERRNO", "mkdir"), Rule("SCMP_ACT_ALLOW", "read"));
        profile.DefaultErrnoRet = 38; // ENOSYS
        var filter = SeccompCompiler.Compile(profile).Filter;

        // ERRNO(EPERM) differs from the default ERRNO(ENOSYS): the rule is not "the same action".
        Assert.Equal(RetErrno | 1, Run(filter, Mkdir));
        Assert.Equal(RetErrno | 38, Run(filter, Getpid));
        Assert.Equal(RetAllow, Run(filter, Read));
    }

    [X64Fact]
    public void A_rule_with_the_default_action_is_skipped()
    {
        var filter = SeccompCompiler.Compile(Make("SCMP_ACT_ALLOW",
            Rule("SCMP_ACT_ALLOW", "read"),
            Rule("SCMP_ACT_ERRNO", "mkdir"))).Filter;

        Assert.Equal(RetAllow, Run(filter, Read));
        Assert.Equal(RetErrno | 1, Run(filter, Mkdir));
    }

    [Fact]
    public void Notify_adds_new_listener_and_drops_tsync()
    {
        var profile = Make("SCMP_ACT_ALLOW", Rule("SCMP_ACT_NOTIFY", "mkdir"));
        profile.ListenerPath = "/run/agent.sock";
        profile.Flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

        var program = SeccompCompiler.Compile(profile);

        Assert.True(program.UsesNotify);
        Assert.Equal(SeccompNames.FlagNewListener | SeccompNames.FlagWaitKillableRecv, program.Flags);
    }

    [Fact]
    public void Flags_map_to_seccomp_filter_flags()
    {
        var profile = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"));
        profile.Flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];

        Assert.Equal(1u | 2u | 4u, SeccompCompiler.Compile(profile).Flags);
    }

    [Fact]
    public void A_profile_without_rules_compiles()
    {
        var filter = SeccompCompiler.Compile(new() { DefaultAction = "SCMP_ACT_ALLOW" }).Filter;
        Assert.True(filter.Length >= 8);
    }

    [Fact]
    public void Syscalls_newer_than_libseccomp_are_skipped()
    {
        // Known or not to this libseccomp build, these are real syscalls: the profile compiles.
        var profile = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", [.. SeccompNames.NewerSyscalls, "read"]));
        Assert.NotEmpty(SeccompCompiler.Compile(profile).Filter);
    }

    [Fact]
    public void Every_architecture_appears_in_the_filter_with_libseccomps_token()
    {
        foreach (var (name, token) in SeccompNames.Architectures)
        {
            // The table agrees with libseccomp's own name resolution ...
            var libseccompName = name["SCMP_ARCH_".Length..].ToLowerInvariant();
            Assert.Equal(token, seccomp_arch_resolve_name(libseccompName));

            // ... and the compiled program checks for exactly that value. (x32 has none of its
            // own: its syscalls report x86_64 with bit 30 set in the number; see below.)
            // An arch of the other byte order cannot share a filter with the native one and is left out.
            var profile = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"));
            profile.Architectures = [name];
            var filter = SeccompCompiler.Compile(profile).Filter;
            bool sameByteOrder = (token & LittleEndianArch) == (seccomp_arch_native() & LittleEndianArch);
            if (name == "SCMP_ARCH_X32" || !sameByteOrder)
                continue;
            Assert.Contains(Instructions(filter), i => i.Code == 0x15 && i.K == token); // BPF_JMP|BPF_JEQ|BPF_K
        }
    }

    [X64Fact]
    public void X32_syscalls_are_filtered_only_when_x32_is_listed()
    {
        const int X32Read = 0x4000_0000 | Read; // __X32_SYSCALL_BIT
        var without = SeccompCompiler.Compile(Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"))).Filter;
        var profile = Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"));
        profile.Architectures = ["SCMP_ARCH_X32"];
        var with = SeccompCompiler.Compile(profile).Filter;

        Assert.NotEqual(RetAllow, Run(without, X32Read));
        Assert.Equal(RetAllow, Run(with, X32Read));
        Assert.Equal(RetErrno | 1, Run(with, 0x4000_0000 | Mkdir));
    }

    private const uint LittleEndianArch = 0x4000_0000; // __AUDIT_ARCH_LE

    [LibraryImport("libseccomp.so.2", StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint seccomp_arch_resolve_name(string name);

    [LibraryImport("libseccomp.so.2")]
    private static partial uint seccomp_arch_native();
}
