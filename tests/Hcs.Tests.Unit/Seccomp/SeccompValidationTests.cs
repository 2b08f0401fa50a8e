using Hcs.Linux.Seccomp;
using Hcs.Schema;
using static Hcs.Tests.Unit.Seccomp.Profiles;
using OciSeccomp = Hcs.Schema.Oci.Seccomp;

namespace Hcs.Tests.Unit.Seccomp;

/// <summary>Every problem in a seccomp section is a <see cref="DocumentException"/> error with its
/// exact JSON path, and one compile reports all of them.</summary>
public class SeccompValidationTests
{
    private static DocumentError Single(OciSeccomp profile, string jsonPath = "$.linux.seccomp")
    {
        var e = Assert.Throws<DocumentException>(() => SeccompCompiler.Compile(profile, jsonPath));
        return Assert.Single(e.Errors);
    }

    private static OciSeccomp Valid() => Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"));

    [Fact]
    public void Unknown_syscall_names_its_rule_and_name()
    {
        var profile = Make("SCMP_ACT_ERRNO",
            Rule("SCMP_ACT_ALLOW", "read"),
            Rule("SCMP_ACT_ALLOW", "write"),
            Rule("SCMP_ACT_ALLOW", "close"),
            Rule("SCMP_ACT_ALLOW", "openat", "fooo"));

        var error = Single(profile);

        Assert.Equal("$.linux.seccomp.syscalls[3].names[1]", error.Path);
        Assert.Equal("unknown syscall \"fooo\"", error.Message);
        Assert.Equal("$.linux.seccomp.syscalls[3].names[1]: unknown syscall \"fooo\"", error.ToString());
    }

    [Fact]
    public void Unknown_syscall_is_reported_even_in_a_rule_that_repeats_the_default_action()
    {
        var error = Single(Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ERRNO", "raed")));
        Assert.Equal("$.linux.seccomp.syscalls[0].names[0]", error.Path);
    }

    [Fact]
    public void Unknown_default_action()
    {
        var error = Single(Make("SCMP_ACT_FOO", Rule("SCMP_ACT_ALLOW", "read")));
        Assert.Equal("$.linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"", error.ToString());
    }

    [Fact]
    public void Missing_default_action()
    {
        var error = Single(new OciSeccomp());
        Assert.Equal("$.linux.seccomp.defaultAction: required", error.ToString());
    }

    [Fact]
    public void Unknown_rule_action()
    {
        var error = Single(Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "read"), Rule("allow", "write")));
        Assert.Equal("$.linux.seccomp.syscalls[1].action: unknown action \"allow\"", error.ToString());
    }

    [Fact]
    public void Unknown_operator()
    {
        var error = Single(Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "socket").With(Arg(0, "SCMP_CMP_EQUAL", 1))));
        Assert.Equal("$.linux.seccomp.syscalls[0].args[0].op", error.Path);
        Assert.StartsWith("unknown operator", error.Message);
    }

    [Fact]
    public void Argument_index_above_5()
    {
        var error = Single(Make("SCMP_ACT_ERRNO",
            Rule("SCMP_ACT_ALLOW", "socket").With(Arg(0, "SCMP_CMP_EQ", 1), Arg(6, "SCMP_CMP_EQ", 1))));
        Assert.Equal("$.linux.seccomp.syscalls[0].args[1].index", error.Path);
    }

    [Fact]
    public void Unknown_architecture()
    {
        var profile = Valid();
        profile.Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"];
        var error = Single(profile);
        Assert.Equal("$.linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"", error.ToString());
    }

    [Fact]
    public void Unknown_flag()
    {
        var profile = Valid();
        profile.Flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_NEW_LISTENER"];
        var error = Single(profile);
        Assert.Equal("$.linux.seccomp.flags[1]: unknown flag \"SECCOMP_FILTER_FLAG_NEW_LISTENER\"", error.ToString());
    }

    [Fact]
    public void Wait_killable_recv_needs_a_notify_action()
    {
        var profile = Valid();
        profile.Flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];
        Assert.Equal("$.linux.seccomp.flags[0]", Single(profile).Path);
    }

    [Fact]
    public void Notify_needs_a_listener_path()
    {
        var error = Single(Make("SCMP_ACT_ALLOW", Rule("SCMP_ACT_NOTIFY", "mkdir")));
        Assert.Equal("$.linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY", error.ToString());
    }

    [Fact]
    public void Notify_cannot_be_the_default_action()
    {
        var profile = Make("SCMP_ACT_NOTIFY", Rule("SCMP_ACT_ALLOW", "read"));
        profile.ListenerPath = "/run/agent.sock";
        Assert.Equal("$.linux.seccomp.defaultAction", Single(profile).Path);
    }

    [Fact]
    public void Notify_cannot_take_sendmsg_which_hands_over_the_listener()
    {
        var profile = Make("SCMP_ACT_ALLOW", Rule("SCMP_ACT_NOTIFY", "mkdir", "sendmsg"));
        profile.ListenerPath = "/run/agent.sock";
        Assert.Equal("$.linux.seccomp.syscalls[0].names[1]", Single(profile).Path);
    }

    [Fact]
    public void Errno_ret_on_an_action_without_data()
    {
        var profile = Make("SCMP_ACT_ERRNO", new Hcs.Schema.Oci.SyscallRule { Action = "SCMP_ACT_ALLOW", Names = ["read"], ErrnoRet = 1 });
        Assert.Equal("$.linux.seccomp.syscalls[0].errnoRet", Single(profile).Path);
    }

    [Fact]
    public void Default_errno_ret_on_a_default_action_without_data()
    {
        var profile = Make("SCMP_ACT_KILL_PROCESS", Rule("SCMP_ACT_ALLOW", "read"));
        profile.DefaultErrnoRet = 1;
        Assert.Equal("$.linux.seccomp.defaultErrnoRet", Single(profile).Path);
    }

    [Fact]
    public void Errno_above_max_errno()
    {
        var profile = Make("SCMP_ACT_ALLOW", new Hcs.Schema.Oci.SyscallRule { Action = "SCMP_ACT_ERRNO", Names = ["mkdir"], ErrnoRet = 4096 });
        Assert.Equal("$.linux.seccomp.syscalls[0].errnoRet", Single(profile).Path);
    }

    [Fact]
    public void A_rule_without_names()
    {
        Assert.Equal("$.linux.seccomp.syscalls[0].names", Single(Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW"))).Path);
    }

    [Fact]
    public void Errors_are_located_under_the_given_path()
    {
        var error = Single(Make("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", "fooo")), "$.Container.Seccomp");
        Assert.Equal("$.Container.Seccomp.syscalls[0].names[0]", error.Path);
    }

    [Fact]
    public void All_errors_are_reported_at_once()
    {
        var profile = new OciSeccomp
        {
            DefaultAction = "SCMP_ACT_FOO",
            Architectures = ["SCMP_ARCH_X86_64", "sparc"],
            Flags = ["SECCOMP_FILTER_FLAG_BOGUS"],
            Syscalls =
            [
                Rule("SCMP_ACT_ALLOW", "read", "fooo"),
                Rule("SCMP_ACT_NOTIFY", "mkdir").With(Arg(7, "SCMP_CMP_EQ", 1), Arg(0, "EQ", 1)),
                new() { Action = "SCMP_ACT_LOG", Names = ["barr"], ErrnoRet = 5 },
            ],
        };

        var e = Assert.Throws<DocumentException>(() => SeccompCompiler.Compile(profile));

        Assert.Equal(
        [
            "$.linux.seccomp.defaultAction",
            "$.linux.seccomp.architectures[1]",
            "$.linux.seccomp.syscalls[0].names[1]",
            "$.linux.seccomp.syscalls[1].args[0].index",
            "$.linux.seccomp.syscalls[1].args[1].op",
            "$.linux.seccomp.syscalls[2].errnoRet",
            "$.linux.seccomp.syscalls[2].names[0]",
            "$.linux.seccomp.flags[0]",
            "$.linux.seccomp.listenerPath",
        ], e.Errors.Select(x => x.Path));
        Assert.Contains("9 errors", e.Message);
    }
}
