using System.Text.Json;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>linux.seccomp (config-linux.md "Seccomp"): the profile is compiled by libseccomp in
/// the runtime and loaded by the child just before execve; what the container's programs can
/// and cannot call is the proof.</summary>
public sealed class SeccompTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    private const string Eperm = "Operation not permitted";

    private static Seccomp AllowAllBut(string action, uint? errnoRet, params string[] names) => new()
    {
        DefaultAction = "SCMP_ACT_ALLOW",
        Syscalls = [new SyscallRule { Names = [.. names], Action = action, ErrnoRet = errnoRet }],
    };

    [RootFact]
    public void Errno_rule_denies_only_the_named_syscalls()
    {
        using var b = new TestBundle("sh", "-c", "mkdir /tmp/d; echo mkdir=$?; touch /tmp/f && echo touch-ok; grep -E '^(Seccomp|Seccomp_filters):' /proc/self/status")
            .With(s => s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_ERRNO", 1, "mkdir", "mkdirat"));
        var r = _rt.RunFg(b);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("mkdir=1", lines[0]);
        Assert.Equal("touch-ok", lines[1]);
        Assert.Equal("Seccomp:\t2", lines[2]); // SECCOMP_MODE_FILTER
        Assert.Contains(Eperm, r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(b.Rootfs, "tmp/d")));
    }

    [RootFact]
    public void Errno_rule_returns_the_errno_asked_for()
    {
        using var b = new TestBundle("mkdir", "/tmp/d")
            .With(s => s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_ERRNO", 28 /* ENOSPC */, "mkdir", "mkdirat"));
        var r = _rt.RunFg(b);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("No space left on device", r.Stderr);
    }

    [RootFact]
    public void Errno_rule_without_errnoRet_returns_EPERM()
    {
        using var b = new TestBundle("mkdir", "/tmp/d")
            .With(s => s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_ERRNO", null, "mkdir", "mkdirat"));
        var r = _rt.RunFg(b);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(Eperm, r.Stderr);
    }

    [RootFact]
    public void Argument_condition_only_denies_the_matching_call()
    {
        // personality(PER_LINUX32 = 8) is refused; personality(PER_LINUX = 0) is not
        using var b = new TestBundle("sh", "-c", "linux64 echo linux64-ok; linux32 echo linux32-ran; echo rc=$?")
            .With(s => s.Linux!.Seccomp = new Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW",
                Syscalls = [new SyscallRule { Names = ["personality"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1, Args = [new SyscallArg { Index = 0, Value = 8, Op = "SCMP_CMP_EQ" }] }],
            });
        var r = _rt.RunFg(b);
        Assert.Equal("linux64-ok\nrc=1\n", r.Stdout);
        Assert.Contains(Eperm, r.Stderr);
    }

    [RootFact]
    public void Masked_argument_condition_denies_only_user_namespaces()
    {
        // unshare(flags) with CLONE_NEWUSER (0x10000000) set is refused; a UTS-only unshare is not
        using var b = new TestBundle("sh", "-c", "unshare -u echo uts-ok; unshare -U echo userns-ran; echo rc=$?")
            .With(s =>
            {
                s.AddCaps("CAP_SYS_ADMIN");
                s.Linux!.Seccomp = new Seccomp
                {
                    DefaultAction = "SCMP_ACT_ALLOW",
                    Syscalls =
                    [
                        new SyscallRule
                        {
                            Names = ["unshare"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1,
                            Args = [new SyscallArg { Index = 0, Value = 0x10000000, ValueTwo = 0x10000000, Op = "SCMP_CMP_MASKED_EQ" }],
                        },
                    ],
                };
            });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.Equal("uts-ok\nrc=1\n", r.Stdout);
        Assert.Contains(Eperm, r.Stderr);
    }

    [RootFact]
    public void Kill_action_kills_the_process_with_SIGSYS()
    {
        foreach (var action in new[] { "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP" })
        {
            using var b = new TestBundle("mkdir", "/tmp/d").With(s => s.Linux!.Seccomp = AllowAllBut(action, null, "mkdir", "mkdirat"));
            var r = _rt.RunFg(b);
            Assert.True(r.ExitCode == 128 + 31, $"{action}: expected 159 (SIGSYS), got {r}");
            Assert.False(Directory.Exists(Path.Combine(b.Rootfs, "tmp/d")));
        }
    }

    [RootFact]
    public void Log_action_allows_the_call()
    {
        using var b = new TestBundle("sh", "-c", "mkdir /tmp/d && echo made").With(s => s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_LOG", null, "mkdir", "mkdirat"));
        Assert.Equal("made\n", _rt.RunOk(b));
    }

    [RootFact]
    public void Default_errno_with_an_allow_list_refuses_everything_else()
    {
        const string profile = "/usr/share/containers/seccomp.json";
        if (!File.Exists(profile)) { output.WriteLine($"SKIP: no {profile} (containers-common) to take an allow-list from"); return; }
        // every name podman's profile allows without conditions: enough for busybox, not sethostname
        using var doc = JsonDocument.Parse(File.ReadAllBytes(profile));
        var allowed = doc.RootElement.GetProperty("syscalls").EnumerateArray()
            .Where(r => r.GetProperty("action").GetString() == "SCMP_ACT_ALLOW"
                        && (!r.TryGetProperty("args", out var a) || a.ValueKind != JsonValueKind.Array || a.GetArrayLength() == 0)
                        && IsEmptyObject(r, "excludes") && ForAmd64WithoutConditions(r))
            .SelectMany(r => r.GetProperty("names").EnumerateArray().Select(n => n.GetString()!))
            .Distinct().ToList();
        Assert.DoesNotContain("sethostname", allowed);
        using var b = new TestBundle("sh", "-c", "echo hello; mkdir /tmp/d && echo mkdir-ok; hostname other; echo rc=$?; hostname")
            .With(s =>
            {
                s.AddCaps("CAP_SYS_ADMIN");
                s.Linux!.Seccomp = new Seccomp
                {
                    DefaultAction = "SCMP_ACT_ERRNO",
                    DefaultErrnoRet = 38, // ENOSYS
                    Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    Syscalls = [new SyscallRule { Names = allowed, Action = "SCMP_ACT_ALLOW" }],
                };
            });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.Equal("hello\nmkdir-ok\nrc=1\nbusybox\n", r.Stdout);
        Assert.Contains("Function not implemented", r.Stderr);
    }

    /// <summary>No includes, or only an arches include naming amd64 (arch_prctl, which a static
    /// busybox calls before main, is listed that way).</summary>
    private static bool ForAmd64WithoutConditions(JsonElement rule)
    {
        if (IsEmptyObject(rule, "includes")) return true;
        var inc = rule.GetProperty("includes");
        var props = inc.EnumerateObject().Select(p => p.Name).ToList();
        return props.SequenceEqual(["arches"]) && inc.GetProperty("arches").EnumerateArray().Any(a => a.GetString() == "amd64");
    }

    private static bool IsEmptyObject(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Object || !v.EnumerateObject().Any();

    [RootFact]
    public void Filter_loads_with_and_without_no_new_privileges()
    {
        foreach (var nnp in new[] { false, true })
        {
            using var b = new TestBundle("sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; mkdir /tmp/d; echo mkdir=$?")
                .With(s =>
                {
                    s.Process!.NoNewPrivileges = nnp;
                    s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_ERRNO", 1, "mkdir", "mkdirat");
                });
            var r = _rt.RunFg(b);
            Assert.True(r.ExitCode == 0, $"noNewPrivileges={nnp}: {r}");
            Assert.Equal($"NoNewPrivs:\t{(nnp ? 1 : 0)}\nSeccomp:\t2\nmkdir=1\n", r.Stdout);
        }
    }

    [RootFact]
    public void Filter_without_no_new_privileges_still_covers_a_non_root_user()
    {
        // without no_new_privs the filter must be loaded while the process still has CAP_SYS_ADMIN,
        // i.e. before it changes to the configured user
        using var b = new TestBundle("sh", "-c", "id -u; mkdir /tmp/d; echo mkdir=$?")
            .With(s =>
            {
                s.Process!.NoNewPrivileges = false;
                s.Process.User = new User { Uid = 1000, Gid = 1000 };
                s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_ERRNO", 1, "mkdir", "mkdirat");
            });
        Tools.Sh($"chmod 1777 {b.Rootfs}/tmp");
        var r = _rt.RunFg(b);
        Assert.Equal("1000\nmkdir=1\n", r.Stdout);
        Assert.Contains(Eperm, r.Stderr);
    }

    [RootFact]
    public void Unknown_syscall_name_is_refused_at_create_with_its_json_path()
    {
        using var b = new TestBundle().With(s => s.Linux!.Seccomp = new Seccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Syscalls =
            [
                new SyscallRule { Names = ["mkdir"], Action = "SCMP_ACT_ERRNO" },
                new SyscallRule { Names = ["getpid", "not_a_syscall"], Action = "SCMP_ACT_ERRNO" },
            ],
        });
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("$.linux.seccomp.syscalls[1].names[1]", r.Stderr);
        Assert.Contains("not_a_syscall", r.Stderr);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Unknown_action_and_operator_are_refused_with_their_json_paths()
    {
        using var badAction = new TestBundle().With(s => s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_EXPLODE", null, "mkdir"));
        var r = _rt.RunFg(badAction);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.linux.seccomp.syscalls[0].action", r.Stderr);

        using var badOp = new TestBundle().With(s => s.Linux!.Seccomp = new Seccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Syscalls = [new SyscallRule { Names = ["personality"], Action = "SCMP_ACT_ERRNO", Args = [new SyscallArg { Index = 0, Value = 1, Op = "SCMP_CMP_SOMETIMES" }] }],
        });
        r = _rt.RunFg(badOp);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.linux.seccomp.syscalls[0].args[0]", r.Stderr);

        using var badDefault = new TestBundle().With(s => s.Linux!.Seccomp = new Seccomp { DefaultAction = "ALLOW_EVERYTHING" });
        r = _rt.RunFg(badDefault);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.linux.seccomp.defaultAction", r.Stderr);
    }

    [RootFact]
    public void Exec_processes_get_the_containers_filter()
    {
        using var b = new TestBundle("sleep", "100").With(s => s.Linux!.Seccomp = AllowAllBut("SCMP_ACT_ERRNO", 1, "mkdir", "mkdirat"));
        var (id, _) = _rt.RunDetached(b);
        var r = _rt.Exec(id, "mkdir", "/tmp/from-exec");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(Eperm, r.Stderr);
        Assert.Equal("Seccomp:\t2\n", _rt.ExecOk(id, "grep", "^Seccomp:", "/proc/self/status").Stdout);
        // also with a process.json that does not mention seccomp at all
        var processJson = Path.Combine(b.Dir, "process.json");
        File.WriteAllText(processJson, """{"args":["mkdir","/tmp/from-process-json"],"cwd":"/","env":["PATH=/bin"]}""");
        r = _rt.Exec("--process", processJson, id);
        Assert.Equal(1, r.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(b.Rootfs, "tmp/from-exec")));
        Assert.False(Directory.Exists(Path.Combine(b.Rootfs, "tmp/from-process-json")));
    }

    [RootFact]
    public void Filter_flags_are_accepted()
    {
        using var b = new TestBundle("sh", "-c", "mkdir /tmp/d; echo mkdir=$?")
            .With(s =>
            {
                var sc = AllowAllBut("SCMP_ACT_ERRNO", 1, "mkdir", "mkdirat");
                sc.Flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];
                s.Linux!.Seccomp = sc;
            });
        Assert.Equal("mkdir=1\n", _rt.RunOk(b));
    }
}
