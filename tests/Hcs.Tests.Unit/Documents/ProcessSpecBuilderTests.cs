using Hcs.Linux.Documents;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Oci;

namespace Hcs.Tests.Unit.Documents;

/// <summary>ProcessParameters → the OCI process of an exec: inherited from the init where the
/// parameters are silent, never more privileged than the init.</summary>
public sealed class ProcessSpecBuilderTests
{
    private const string Passwd = """
        root:x:0:0:root:/root:/bin/sh
        # a comment
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        alice:x:1000:1000:Alice:/home/alice:/bin/sh
        bob:x:1001:100::/home/bob:/bin/sh
        """;

    private const string Group = """
        root:x:0:
        users:x:100:alice,bob
        staff:x:50:alice,bob
        alice:x:1000:
        docker:x:999:bob,alice
        """;

    private static string? Files(string path) => path switch
    {
        "/etc/passwd" => Passwd,
        "/etc/group" => Group,
        _ => null,
    };

    private static string? NoFiles(string path) => null;

    /// <summary>An init as `docker run` makes it, but with noNewPrivileges, an rlimit, a
    /// label and an oom adjustment, so inheritance and ceilings are visible.</summary>
    private static Spec Container()
    {
        var spec = DefaultSpec.Create("c1");
        var p = spec.Process!;
        p.Env = ["PATH=/bin", "HOME=/root", "LANG=C"];
        p.Cwd = "/srv";
        p.User = new User { Uid = 5, Gid = 6, Umask = 0x12, AdditionalGids = [7] };
        p.NoNewPrivileges = true;
        p.SelinuxLabel = "system_u:system_r:container_t:s0";
        p.OomScoreAdj = 100;
        p.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 1024, Hard = 524288 }];
        return spec;
    }

    private static Process Build(ProcessParameters p, Func<string, string?>? files = null) =>
        ProcessSpecBuilder.Build(p, Container(), files ?? Files);

    private static IReadOnlyList<DocumentError> Invalid(ProcessParameters p, Func<string, string?>? files = null, string path = "$") =>
        Assert.Throws<DocumentException>(() => ProcessSpecBuilder.Build(p, Container(), files ?? Files, path)).Errors;

    private static ProcessParameters Args(params string[] args) => new() { CommandArgs = [.. args] };

    [Fact]
    public void What_the_parameters_leave_out_is_the_inits()
    {
        var init = Container().Process!;
        var p = Build(Args("/bin/ls", "-l"));

        Assert.Equal(["/bin/ls", "-l"], p.Args);
        Assert.Equal(init.Env, p.Env);
        Assert.Equal("/srv", p.Cwd);
        Assert.Equal((5u, 6u, 0x12u), (p.User!.Uid, p.User.Gid, p.User.Umask!.Value));
        Assert.Equal([7u], p.User.AdditionalGids);
        Assert.Equal(init.Capabilities!.Effective, p.Capabilities!.Effective);
        Assert.Equal(init.Capabilities.Bounding, p.Capabilities.Bounding);
        Assert.True(p.NoNewPrivileges);
        Assert.Equal(("RLIMIT_NOFILE", 1024UL, 524288UL), (p.Rlimits![0].Type, p.Rlimits[0].Soft, p.Rlimits[0].Hard));
        Assert.Equal(init.SelinuxLabel, p.SelinuxLabel);
        Assert.Equal(100, p.OomScoreAdj);
        Assert.False(p.Terminal);
        Assert.Null(p.ConsoleSize);
    }

    [Fact]
    public void Without_anything_in_the_init_the_cwd_is_the_root()
    {
        var container = Container();
        container.Process!.Cwd = null;
        Assert.Equal("/", ProcessSpecBuilder.Build(Args("/bin/true"), container, Files).Cwd);
    }

    [Fact]
    public void Neither_the_parameters_nor_the_container_spec_change()
    {
        var container = Container();
        var parameters = new ProcessParameters
        {
            CommandArgs = ["/bin/env"],
            Environment = new() { ["LANG"] = "de_DE.UTF-8", ["NEW"] = "1" },
            User = "alice",
            OciProcess = new Process { Env = ["A=1"], Capabilities = new Capabilities { Effective = ["CAP_KILL"] } },
        };
        var before = OciWriter.ToUtf8(container);
        var p = ProcessSpecBuilder.Build(parameters, container, Files);
        p.Env!.Add("MORE=1");
        p.Rlimits!.Clear();

        Assert.Equal(before, OciWriter.ToUtf8(container));
        Assert.Equal(["A=1"], parameters.OciProcess.Env);
        Assert.Equal(2, parameters.Environment.Count);
    }

    // ---- the program ------------------------------------------------------------------------

    [Fact]
    public void CommandLine_is_split_into_args()
    {
        var p = Build(new ProcessParameters { CommandLine = "sh -c 'echo \"$HOME\" > /tmp/x'" });
        Assert.Equal(["sh", "-c", "echo \"$HOME\" > /tmp/x"], p.Args);
    }

    [Fact]
    public void CommandArgs_and_CommandLine_are_exclusive()
    {
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["ls"], CommandLine = "ls" }));
        Assert.Equal("$.CommandLine", e.Path);
        Assert.Contains("exclusive", e.Message);
    }

    [Fact]
    public void A_program_is_required()
    {
        Assert.Equal("$.CommandArgs", Assert.Single(Invalid(new ProcessParameters())).Path);
        Assert.Equal("$.CommandArgs", Assert.Single(Invalid(new ProcessParameters { CommandArgs = [] })).Path);
        Assert.Equal("$.CommandArgs[0]", Assert.Single(Invalid(Args("", "x"))).Path);
        Assert.Equal("$.CommandArgs[1]", Assert.Single(Invalid(Args("ls", "a\0b"))).Path);
        Assert.Equal("$.CommandLine", Assert.Single(Invalid(new ProcessParameters { CommandLine = "   " })).Path);
        Assert.Equal("$.CommandLine", Assert.Single(Invalid(new ProcessParameters { CommandLine = "'' x" })).Path);
        Assert.Equal("$.CommandLine", Assert.Single(Invalid(new ProcessParameters { CommandLine = "echo 'open" })).Path);
    }

    [Fact]
    public void The_oci_process_args_serve_when_the_parameters_name_no_program()
    {
        var p = Build(new ProcessParameters { OciProcess = new Process { Args = ["/bin/top", "-b"] } });
        Assert.Equal(["/bin/top", "-b"], p.Args);

        p = Build(new ProcessParameters { CommandArgs = ["/bin/ps"], OciProcess = new Process { Args = ["/bin/top"] } });
        Assert.Equal(["/bin/ps"], p.Args); // the HCS field wins
    }

    [Fact]
    public void ApplicationName_must_be_the_program()
    {
        Build(new ProcessParameters { ApplicationName = "/bin/ls", CommandArgs = ["/bin/ls"] });
        var e = Assert.Single(Invalid(new ProcessParameters { ApplicationName = "/bin/cat", CommandArgs = ["/bin/ls"] }));
        Assert.Equal("$.ApplicationName", e.Path);
    }

    [Fact]
    public void A_restricted_token_is_a_windows_thing()
    {
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["ls"], RestrictedToken = true }));
        Assert.Equal("$.RestrictedToken", e.Path);
    }

    [Fact]
    public void The_error_paths_start_where_the_caller_says()
    {
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["ls"], WorkingDirectory = "tmp" }, path: "$.Process"));
        Assert.Equal("$.Process.WorkingDirectory", e.Path);
    }

    // ---- cwd and environment ------------------------------------------------------------------

    [Fact]
    public void WorkingDirectory_must_be_absolute()
    {
        Assert.Equal("/tmp", Build(new ProcessParameters { CommandArgs = ["ls"], WorkingDirectory = "/tmp" }).Cwd);
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["ls"], WorkingDirectory = "tmp" }));
        Assert.Equal("$.WorkingDirectory", e.Path);
        Assert.Contains("absolute", e.Message);
    }

    [Fact]
    public void Environment_is_merged_over_the_inits()
    {
        var p = Build(new ProcessParameters { CommandArgs = ["env"], Environment = new() { ["HOME"] = "/home/x", ["EMPTY"] = "", ["NEW"] = "a=b" } });
        Assert.Equal(["PATH=/bin", "HOME=/home/x", "LANG=C", "EMPTY=", "NEW=a=b"], p.Env);
    }

    [Fact]
    public void The_oci_process_env_replaces_the_inits_and_Environment_still_wins()
    {
        var p = Build(new ProcessParameters
        {
            CommandArgs = ["env"], Environment = new() { ["A"] = "hcs" }, OciProcess = new Process { Env = ["A=oci", "B=oci"] },
        });
        Assert.Equal(["A=hcs", "B=oci"], p.Env);
    }

    [Fact]
    public void Environment_names_are_checked()
    {
        var errors = Invalid(new ProcessParameters { CommandArgs = ["env"], Environment = new() { ["A=B"] = "1", [""] = "2", ["OK"] = "x\0y" } });
        Assert.Equal(["$.Environment[\"A=B\"]", "$.Environment[\"\"]", "$.Environment.OK"], errors.Select(e => e.Path));
    }

    // ---- user ------------------------------------------------------------------------------

    [Theory]
    [InlineData("0", 0u, 0u, new uint[0])]
    [InlineData("1000", 1000u, 1000u, new uint[] { 100, 50, 999 })]
    [InlineData("4242", 4242u, 0u, new uint[0])]          // no entry: gid 0, as docker
    [InlineData("4242:4343", 4242u, 4343u, new uint[0])]
    [InlineData("alice", 1000u, 1000u, new uint[] { 100, 50, 999 })]
    [InlineData("bob", 1001u, 100u, new uint[] { 50, 999 })] // the primary group is not repeated
    [InlineData("alice:staff", 1000u, 50u, new uint[0])]   // a given group: no supplementary lookup
    [InlineData("alice:7", 1000u, 7u, new uint[0])]
    [InlineData("1001:docker", 1001u, 999u, new uint[0])]
    public void User_is_resolved_in_the_container(string user, uint uid, uint gid, uint[] additional)
    {
        var p = Build(new ProcessParameters { CommandArgs = ["id"], User = user });
        Assert.Equal((uid, gid), (p.User!.Uid, p.User.Gid));
        Assert.Equal(additional, p.User.AdditionalGids!);
        Assert.Equal(0x12u, p.User.Umask); // the init's umask stays
    }

    [Theory]
    [InlineData("mallory", "no user \"mallory\"")]
    [InlineData("alice:wheel", "no group \"wheel\"")]
    [InlineData("99999999999", "out of range")]
    [InlineData(":100", "not a user")]
    [InlineData("alice:", "not a user")]
    public void An_unknown_user_or_group_is_an_error_at_User(string user, string text)
    {
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["id"], User = user }));
        Assert.Equal("$.User", e.Path);
        Assert.Contains(text, e.Message);
    }

    [Fact]
    public void Names_need_the_containers_files_and_numbers_do_not()
    {
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["id"], User = "alice" }, NoFiles));
        Assert.Contains("no /etc/passwd", e.Message);
        var p = Build(new ProcessParameters { CommandArgs = ["id"], User = "1000:1000" }, NoFiles);
        Assert.Equal((1000u, 1000u), (p.User!.Uid, p.User.Gid));
    }

    // ---- console -----------------------------------------------------------------------------

    [Fact]
    public void EmulateConsole_is_a_terminal_of_ConsoleSize_height_by_width()
    {
        var p = Build(new ProcessParameters { CommandArgs = ["sh"], EmulateConsole = true, ConsoleSize = [24, 80] });
        Assert.True(p.Terminal);
        Assert.Equal((24u, 80u), (p.ConsoleSize!.Height, p.ConsoleSize.Width));
    }

    [Fact]
    public void ConsoleSize_needs_a_console_and_two_numbers()
    {
        Assert.Equal("$.ConsoleSize", Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["sh"], ConsoleSize = [24, 80] })).Path);
        Assert.Equal("$.ConsoleSize", Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["sh"], EmulateConsole = true, ConsoleSize = [24] })).Path);
    }

    // ---- OciProcess and the init's ceiling ------------------------------------------------------

    [Fact]
    public void Oci_capabilities_within_the_inits_are_kept()
    {
        var p = Build(new ProcessParameters
        {
            CommandArgs = ["ls"],
            OciProcess = new Process { Capabilities = new Capabilities { Bounding = ["CAP_KILL"], Effective = ["CAP_KILL"], Permitted = ["CAP_KILL"] } },
        });
        Assert.Equal(["CAP_KILL"], p.Capabilities!.Effective);
        Assert.Null(p.Capabilities.Ambient);
    }

    [Fact]
    public void Oci_capabilities_beyond_the_inits_are_refused()
    {
        var errors = Invalid(new ProcessParameters
        {
            CommandArgs = ["ls"],
            OciProcess = new Process { Capabilities = new Capabilities { Effective = ["CAP_KILL", "CAP_SYS_ADMIN"], Ambient = ["CAP_SYS_PTRACE"] } },
        });
        Assert.Equal(["$.OciProcess.capabilities.effective[1]", "$.OciProcess.capabilities.ambient[0]"], errors.Select(e => e.Path));
        Assert.Contains("CAP_SYS_ADMIN", errors[0].Message);
    }

    [Fact]
    public void An_init_without_a_capability_list_bounds_nothing()
    {
        var container = Container();
        container.Process!.Capabilities = null; // it kept every capability
        var p = ProcessSpecBuilder.Build(new ProcessParameters
        {
            CommandArgs = ["ls"], OciProcess = new Process { Capabilities = new Capabilities { Effective = ["CAP_SYS_ADMIN"] } },
        }, container, Files);
        Assert.Equal(["CAP_SYS_ADMIN"], p.Capabilities!.Effective);
    }

    [Fact]
    public void NoNewPrivileges_cannot_be_turned_off()
    {
        var p = Build(new ProcessParameters { CommandArgs = ["ls"], OciProcess = new Process { NoNewPrivileges = false } });
        Assert.True(p.NoNewPrivileges);

        var container = Container();
        container.Process!.NoNewPrivileges = false;
        p = ProcessSpecBuilder.Build(new ProcessParameters { CommandArgs = ["ls"], OciProcess = new Process { NoNewPrivileges = true } }, container, Files);
        Assert.True(p.NoNewPrivileges); // but it can be turned on
    }

    [Fact]
    public void Rlimits_may_not_exceed_the_inits_hard_limits()
    {
        var p = Build(new ProcessParameters
        {
            CommandArgs = ["ls"], OciProcess = new Process { Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 64, Hard = 128 }, new Rlimit { Type = "RLIMIT_CORE", Soft = 0, Hard = 0 }] },
        });
        Assert.Equal(2, p.Rlimits!.Count);

        var e = Assert.Single(Invalid(new ProcessParameters
        {
            CommandArgs = ["ls"], OciProcess = new Process { Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 1024, Hard = 1 << 20 }] },
        }));
        Assert.Equal("$.OciProcess.rlimits[0].hard", e.Path);
    }

    [Fact]
    public void Confinement_is_the_inits()
    {
        var same = Build(new ProcessParameters { CommandArgs = ["ls"], OciProcess = new Process { SelinuxLabel = "system_u:system_r:container_t:s0" } });
        Assert.Equal("system_u:system_r:container_t:s0", same.SelinuxLabel);

        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["ls"], OciProcess = new Process { SelinuxLabel = "unconfined_u:unconfined_r:unconfined_t:s0" } }));
        Assert.Equal("$.OciProcess.selinuxLabel", e.Path);
    }

    [Fact]
    public void OomScoreAdj_may_rise_but_not_fall_below_the_inits()
    {
        Assert.Equal(500, Build(new ProcessParameters { CommandArgs = ["ls"], OciProcess = new Process { OomScoreAdj = 500 } }).OomScoreAdj);
        var e = Assert.Single(Invalid(new ProcessParameters { CommandArgs = ["ls"], OciProcess = new Process { OomScoreAdj = -1000 } }));
        Assert.Equal("$.OciProcess.oomScoreAdj", e.Path);
    }

    [Fact]
    public void The_oci_process_is_validated_where_it_is()
    {
        var errors = Invalid(new ProcessParameters
        {
            CommandArgs = ["ls"],
            OciProcess = new Process
            {
                Cwd = "relative", Rlimits = [new Rlimit { Type = "RLIMIT_NOPE" }], CommandLine = "ls",
                Capabilities = new Capabilities { Bounding = ["CAP_NOTHING"] },
            },
        });
        Assert.Equal(
        [
            "$.OciProcess.cwd", "$.OciProcess.rlimits[0].type", "$.OciProcess.capabilities.bounding[0]",
            "$.OciProcess.commandLine",
        ], errors.Select(e => e.Path));
    }

    [Fact]
    public void The_oci_user_and_cwd_serve_when_the_parameters_are_silent()
    {
        var p = Build(new ProcessParameters { CommandArgs = ["id"], OciProcess = new Process { User = new User { Uid = 33, Gid = 33 }, Cwd = "/var/www" } });
        Assert.Equal((33u, 33u, "/var/www"), (p.User!.Uid, p.User.Gid, p.Cwd));

        p = Build(new ProcessParameters { CommandArgs = ["id"], User = "alice", WorkingDirectory = "/home/alice", OciProcess = new Process { User = new User { Uid = 33 }, Cwd = "/var/www" } });
        Assert.Equal((1000u, "/home/alice"), (p.User!.Uid, p.Cwd));
    }
}
