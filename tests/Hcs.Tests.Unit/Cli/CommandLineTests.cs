using Hcs.Runhcs;

namespace Hcs.Tests.Unit.Cli;

/// <summary>runhcs's hand-written runc grammar (CommandLineParser), driven with runhcs's own
/// global flags and command table, the way Program.Main drives it.</summary>
public sealed class CommandLineTests
{
    private static CommandSpec Command(string name) =>
        Program.Commands.Single(c => c.Name == name || (c.Aliases?.Contains(name) ?? false));

    /// <summary>Program.Main's two passes: global flags up to the command, then its flags.</summary>
    private static Invocation Parse(params string[] args)
    {
        var inv = new Invocation();
        int i = CommandLineParser.ParseFlags(args, 0, Program.GlobalFlags, inv, global: true, stopAtFirstArg: false);
        if (i >= args.Length) return inv;
        var command = Command(args[i]);
        inv.Command = command;
        CommandLineParser.ParseFlags(args, i + 1, command.Flags, inv, global: false, command.StopAtFirstArg);
        return inv;
    }

    private static string Error(params string[] args) => Assert.Throws<UsageError>(() => Parse(args)).Message;

    [Fact]
    public void Global_flags_then_command_flags_then_arguments()
    {
        var inv = Parse("--root", "/run/x", "--debug", "--log", "/tmp/log", "create", "--bundle", "/b", "--pid-file", "/p", "ctr1");
        Assert.Equal("create", inv.Command!.Name);
        Assert.Equal("/run/x", inv.Globals.String("root"));
        Assert.True(inv.Globals.Bool("debug"));
        Assert.Equal("/tmp/log", inv.Globals.String("log"));
        Assert.Equal("/b", inv.String("bundle"));
        Assert.Equal("/p", inv.String("pid-file"));
        Assert.Equal(["ctr1"], inv.Args);
        Assert.Equal("ctr1", inv.Arg(0));
    }

    [Fact]
    public void Global_pass_stops_at_the_command_name()
    {
        var inv = new Invocation();
        string[] args = ["--root", "/r", "-debug", "state", "--root", "x"];
        Assert.Equal(3, CommandLineParser.ParseFlags(args, 0, Program.GlobalFlags, inv, global: true, stopAtFirstArg: false));
        Assert.Empty(inv.Args);
        inv = new Invocation();
        Assert.Equal(1, CommandLineParser.ParseFlags(["--debug"], 0, Program.GlobalFlags, inv, global: true, stopAtFirstArg: false));
    }

    [Fact]
    public void One_and_two_dash_forms_are_the_same_flag()
    {
        var a = Parse("-root", "/r", "-systemd-cgroup", "create", "-bundle", "/b", "-no-pivot", "c");
        var b = Parse("--root", "/r", "--systemd-cgroup", "create", "--bundle", "/b", "--no-pivot", "c");
        foreach (var inv in new[] { a, b })
        {
            Assert.Equal("/r", inv.Globals.String("root"));
            Assert.True(inv.Globals.Bool("systemd-cgroup"));
            Assert.Equal("/b", inv.String("bundle"));
            Assert.True(inv.Bool("no-pivot"));
            Assert.Equal(["c"], inv.Args);
        }
    }

    [Fact]
    public void Values_inline_after_an_equals_sign()
    {
        var inv = Parse("--root=/r", "-log-format=json", "exec", "--env=A=B=C", "-e=D=1", "--cwd=", "ctr", "true");
        Assert.Equal("/r", inv.Globals.String("root"));
        Assert.Equal("json", inv.Globals.String("log-format"));
        Assert.Equal(["A=B=C", "D=1"], inv.List("env"));
        Assert.Equal("", inv.String("cwd"));
    }

    [Theory]
    [InlineData("--detach=false", false)]
    [InlineData("--detach=true", true)]
    [InlineData("--detach", true)]
    [InlineData("-d", true)]
    [InlineData("-d=false", false)]
    [InlineData("--detach=0", false)]
    [InlineData("--detach=1", true)]
    [InlineData("--detach=t", true)]
    [InlineData("--detach=TRUE", true)]
    [InlineData("--detach=True", true)]
    [InlineData("--detach=f", false)]
    public void Booleans_take_no_separate_value_but_accept_an_inline_one(string flag, bool expected)
    {
        var inv = Parse("run", flag, "ctr");
        Assert.Equal(expected, inv.Bool("detach"));
        Assert.Equal(["ctr"], inv.Args);
    }

    [Fact]
    public void A_boolean_does_not_swallow_the_next_argument()
    {
        var inv = Parse("run", "-d", "false");
        Assert.True(inv.Bool("detach"));
        Assert.Equal(["false"], inv.Args);
    }

    [Fact]
    public void Later_occurrences_override_earlier_ones()
    {
        var inv = Parse("--debug", "--debug=false", "create", "--bundle", "/a", "-b", "/b", "ctr");
        Assert.False(inv.Globals.Bool("debug"));
        Assert.Equal("/b", inv.String("bundle"));
    }

    [Fact]
    public void Short_aliases()
    {
        var inv = Parse("run", "-d", "-b", "/b", "--keep", "ctr");
        Assert.True(inv.Bool("detach"));
        Assert.Equal("/b", inv.String("bundle"));
        Assert.True(inv.Bool("keep"));
        inv = Parse("delete", "-f", "ctr");
        Assert.True(inv.Bool("force"));
        inv = Parse("ls", "-q", "-f", "json");
        Assert.Equal("list", inv.Command!.Name);
        Assert.True(inv.Bool("quiet"));
        Assert.Equal("json", inv.String("format"));
        inv = Parse("exec", "-t", "-u", "1000:1000", "-g", "10", "-g", "11", "-c", "CAP_KILL", "-p", "/p.json", "ctr");
        Assert.True(inv.Bool("tty"));
        Assert.Equal("1000:1000", inv.String("user"));
        Assert.Equal(["10", "11"], inv.List("additional-gids"));
        Assert.Equal(["CAP_KILL"], inv.List("cap"));
        Assert.Equal("/p.json", inv.String("process"));
    }

    [Fact]
    public void Flags_may_follow_positional_arguments()
    {
        var inv = Parse("delete", "ctr", "--force");
        Assert.True(inv.Bool("force"));
        Assert.Equal(["ctr"], inv.Args);
        inv = Parse("kill", "ctr", "KILL", "-a");
        Assert.True(inv.Bool("all"));
        Assert.Equal(["ctr", "KILL"], inv.Args);
        inv = Parse("create", "ctr", "--bundle", "/b", "--no-new-keyring");
        Assert.Equal("/b", inv.String("bundle"));
        Assert.True(inv.Bool("no-new-keyring"));
        Assert.Equal(["ctr"], inv.Args);
    }

    [Fact]
    public void Exec_ends_flag_parsing_at_the_container_id()
    {
        var inv = Parse("exec", "-t", "--cwd", "/w", "ctr", "ls", "-la", "--color=auto", "-t", "--help");
        Assert.True(inv.Bool("tty"));
        Assert.Equal("/w", inv.String("cwd"));
        Assert.False(inv.Has("help"));
        Assert.Equal(["ctr", "ls", "-la", "--color=auto", "-t", "--help"], inv.Args);
    }

    [Fact]
    public void Exec_command_with_its_own_dash_arguments()
    {
        var inv = Parse("exec", "ctr", "sh", "-c", "echo -n hi");
        Assert.Equal(["ctr", "sh", "-c", "echo -n hi"], inv.Args);
        Assert.False(inv.Bool("tty"));
    }

    [Fact]
    public void Double_dash_ends_flag_parsing()
    {
        var inv = Parse("exec", "--env", "A=1", "--", "ctr", "ls", "-l");
        Assert.Equal(["A=1"], inv.List("env"));
        Assert.Equal(["ctr", "ls", "-l"], inv.Args);

        inv = Parse("delete", "--", "-odd-id");
        Assert.Equal(["-odd-id"], inv.Args);
        Assert.False(inv.Bool("force"));

        inv = Parse("kill", "ctr", "--", "--all");
        Assert.Equal(["ctr", "--all"], inv.Args);
        Assert.False(inv.Bool("all"));
    }

    [Fact]
    public void After_the_exec_id_a_double_dash_belongs_to_the_command_as_in_runc()
    {
        // runc (Go flag, SkipArgReorder) hands "--" to the process too
        var inv = Parse("exec", "ctr", "--", "ls");
        Assert.Equal(["ctr", "--", "ls"], inv.Args);
    }

    [Fact]
    public void Ps_passes_its_trailing_options_to_ps()
    {
        var inv = Parse("ps", "--format", "table", "ctr", "-ef", "--forest");
        Assert.Equal("table", inv.String("format"));
        Assert.Equal(["ctr", "-ef", "--forest"], inv.Args);
        inv = Parse("ps", "ctr");
        Assert.Equal("table", inv.String("format")); // the default
    }

    [Fact]
    public void A_lone_dash_is_an_argument()
    {
        var inv = Parse("update", "-r", "-", "ctr");
        Assert.Equal("-", inv.String("resources"));
        Assert.Equal(["ctr"], inv.Args);
        inv = Parse("delete", "-");
        Assert.Equal(["-"], inv.Args);
    }

    [Fact]
    public void A_value_may_start_with_a_dash()
    {
        var inv = Parse("exec", "--cwd", "-dir", "ctr", "x");
        Assert.Equal("-dir", inv.String("cwd"));
        Assert.Equal(["ctr", "x"], inv.Args);
    }

    [Theory]
    [InlineData(new[] { "create", "--bogus", "ctr" }, "flag provided but not defined: -bogus")]
    [InlineData(new[] { "create", "-x", "ctr" }, "flag provided but not defined: -x")]
    [InlineData(new[] { "create", "--bogus=1", "ctr" }, "flag provided but not defined: -bogus")]
    [InlineData(new[] { "create", "ctr", "--bogus" }, "flag provided but not defined: -bogus")]
    [InlineData(new[] { "--nope", "list" }, "flag provided but not defined: -nope")]
    [InlineData(new[] { "list", "--root", "/x" }, "flag provided but not defined: -root")]
    [InlineData(new[] { "kill", "ctr", "-9" }, "flag provided but not defined: -9")]
    [InlineData(new[] { "exec", "--tty=", "-Z", "ctr" }, "flag provided but not defined: -Z")]
    public void Unknown_flags_are_named_as_go_names_them(string[] args, string message) =>
        Assert.Equal(message, Error(args));

    [Theory]
    [InlineData(new[] { "create", "ctr", "--bundle" }, "flag needs an argument: -bundle")]
    [InlineData(new[] { "create", "ctr", "-b" }, "flag needs an argument: -b")]
    [InlineData(new[] { "--root" }, "flag needs an argument: -root")]
    [InlineData(new[] { "exec", "--cwd" }, "flag needs an argument: -cwd")]
    public void A_missing_value_is_an_error(string[] args, string message) =>
        Assert.Equal(message, Error(args));

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("-help")]
    [InlineData("--h")]
    public void Help_is_recognised_everywhere(string flag)
    {
        Assert.True(Parse(flag).Globals.Bool("help"));
        var inv = Parse("create", flag);
        Assert.True(inv.Bool("help"));
        Assert.Equal("create", inv.Command!.Name);
        Assert.True(Parse("delete", "ctr", flag).Bool("help"));
    }

    [Fact]
    public void Defaults_apply_when_a_flag_is_not_given()
    {
        var inv = Parse("create", "ctr");
        Assert.Equal("/run/runhcs", inv.Globals.String("root"));
        Assert.Equal("text", inv.Globals.String("log-format"));
        Assert.Equal(".", inv.String("bundle"));
        Assert.Null(inv.Globals.String("log"));
        Assert.Null(inv.String("pid-file"));
        Assert.False(inv.Globals.Bool("debug"));
        Assert.False(inv.Has("bundle"));
        Assert.Equal(0, inv.Int("preserve-fds"));
        Assert.Empty(inv.List("env"));
        Assert.Null(inv.String("no-such-flag"));
    }

    [Fact]
    public void Integer_flags()
    {
        Assert.Equal(3, Parse("create", "--preserve-fds", "3", "ctr").Int("preserve-fds"));
        Assert.Equal(2, Parse("exec", "--preserve-fds=2", "ctr", "x").Int("preserve-fds"));
        var e = Assert.Throws<UsageError>(() => Parse("create", "--preserve-fds", "abc", "ctr").Int("preserve-fds"));
        Assert.Equal("invalid value \"abc\" for flag --preserve-fds: not an integer", e.Message);
    }

    [Fact]
    public void Update_numbers_are_checked_when_read()
    {
        var inv = Parse("update", "--cpu-quota", "-1", "--cpu-period", "100000", "--pids-limit", "x", "--blkio-weight", "-5", "ctr");
        Assert.Equal(-1L, inv.Long("cpu-quota"));
        Assert.Equal(100000ul, inv.ULong("cpu-period"));
        Assert.Null(inv.Long("cpu-rt-runtime"));
        Assert.Null(inv.ULong("cpu-share"));
        Assert.Equal("invalid value \"x\" for flag --pids-limit: not an integer", Assert.Throws<UsageError>(() => inv.Long("pids-limit")).Message);
        Assert.Equal("invalid value \"-5\" for flag --blkio-weight: not a non-negative integer", Assert.Throws<UsageError>(() => inv.ULong("blkio-weight")).Message);
    }

    [Fact]
    public void Arity_of_the_commands_is_runcs()
    {
        Assert.Equal((1, 1), (Command("create").MinArgs, Command("create").MaxArgs));
        Assert.Equal((1, 2), (Command("kill").MinArgs, Command("kill").MaxArgs));
        Assert.Equal((0, 0), (Command("list").MinArgs, Command("list").MaxArgs));
        Assert.Equal(1, Command("exec").MinArgs);
        Assert.True(Command("exec").StopAtFirstArg);
        Assert.True(Command("ps").StopAtFirstArg);
        Assert.False(Command("run").StopAtFirstArg);
        foreach (var name in new[] { "create", "start", "run", "state", "kill", "delete", "list", "exec", "ps", "pause", "resume", "update", "events", "spec", "features" })
            Assert.Equal(name, Command(name).Name);
    }

    [Fact]
    public void Command_help_lists_flags_with_aliases_and_defaults_but_not_hidden_ones()
    {
        var help = CommandLineParser.Help("runhcs", Command("exec"));
        Assert.StartsWith("NAME:\n   runhcs exec - execute new process inside the container\n\nUSAGE:\n   runhcs exec [command options] <container-id>", help);
        Assert.Contains("--env, -e value", help);
        Assert.Contains("--tty, -t ", help);
        Assert.DoesNotContain("--tty, -t value", help);
        Assert.DoesNotContain("process-label", help);
        Assert.DoesNotContain("ignore-paused", help);
        var create = CommandLineParser.Help("runhcs", Command("create"));
        Assert.Contains("--bundle, -b value", create);
        Assert.Contains("(default: \".\")", create);
        Assert.DoesNotContain("OPTIONS", CommandLineParser.Help("runhcs", Command("start")));
    }

    [Fact]
    public void Global_help_lists_commands_and_global_flags()
    {
        var help = CommandLineParser.Help("runhcs", Program.Description, Program.GlobalFlags, Program.Commands);
        Assert.Contains("   create      create a container\n", help);
        Assert.Contains("--root value", help);
        Assert.Contains("(default: \"/run/runhcs\")", help);
        Assert.DoesNotContain("--criu", help);
        Assert.Contains("--help, -h", help);
    }

    // runc keeps a command's flags apart from the global ones (context.Bool vs GlobalBool).
    // BUG: Invocation keeps one value list per name, so the hidden global --rootless (a string,
    // "true"/"false"/"auto", which containerd and podman may pass) is read by `spec` as its own
    // boolean --rootless: `runhcs --rootless=true spec` writes a rootless config.
    [Fact]
    public void A_global_flag_does_not_set_the_command_flag_of_the_same_name()
    {
        var inv = Parse("--rootless=true", "spec");
        Assert.Equal("spec", inv.Command!.Name);
        Assert.False(inv.Bool("rootless"));
    }

    [Fact]
    public void The_command_flag_of_a_shared_name_is_still_read()
    {
        var inv = Parse("spec", "--rootless", "-b", "/tmp/x");
        Assert.True(inv.Bool("rootless"));
        Assert.Equal("/tmp/x", inv.String("bundle"));
    }
}
