using System.Runtime.InteropServices;
using Hcs.Schema.Oci;
using OciSeccomp = Hcs.Schema.Oci.Seccomp;

namespace Hcs.Tests.Unit.Seccomp;

/// <summary>Short builders for profiles, and the x86_64 syscall numbers the tests probe.</summary>
internal static class Profiles
{
    public static OciSeccomp Make(string defaultAction, params SyscallRule[] rules) =>
        new() { DefaultAction = defaultAction, Syscalls = [.. rules] };

    public static SyscallRule Rule(string action, params string[] names) => new() { Action = action, Names = [.. names] };

    public static SyscallRule With(this SyscallRule rule, params SyscallArg[] args)
    {
        rule.Args = [.. args];
        return rule;
    }

    public static SyscallArg Arg(uint index, string op, ulong value, ulong valueTwo = 0) =>
        new() { Index = index, Op = op, Value = value, ValueTwo = valueTwo };

    // x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl)
    public const int Read = 0, Write = 1, Socket = 41, Sendmsg = 46, Getpid = 39, Uname = 63, Mkdir = 83,
        Getuid = 102, Getgid = 104, Geteuid = 107, Getegid = 108, Getppid = 110, Personality = 135,
        Chroot = 161, Gettid = 186, KexecLoad = 246;
}

/// <summary>A fact about x86_64 syscall numbers: skipped, with the reason, elsewhere.</summary>
public sealed class X64FactAttribute : FactAttribute
{
    public X64FactAttribute()
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            Skip = "probes x86_64 syscall numbers; this host is " + RuntimeInformation.ProcessArchitecture;
    }
}

/// <summary>A fact that needs a file from the host; skipped, with the reason, when it is missing.</summary>
public sealed class FactWhenFileAttribute : FactAttribute
{
    public FactWhenFileAttribute(string path, string installHint)
    {
        if (!File.Exists(path))
            Skip = $"{path} is missing ({installHint})";
    }
}
