using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Hcs.Linux.Native;

namespace Hcs.Tests.Unit.Native;

/// <summary>
/// The C# mirrors of native/include/hcs_spawn.h against the C library itself (hcs_sizeof, from
/// libhcsspawn.so next to this assembly) and, where a C compiler is installed, against offsetof()
/// of every field, so a reordered or retyped field cannot hide behind an unchanged size.
/// </summary>
public sealed unsafe class SpawnAbiTests
{
    // hcs_sizeof(which): 0 plan, 1 mount step, 2 ns join, 3 rlimit, 4 hook, 5 error, 6 msg, 7 waiting
    public static TheoryData<int, string> Structs => new()
    {
        { 0, nameof(SpawnAbi.Plan) },
        { 1, nameof(SpawnAbi.MountStep) },
        { 2, nameof(SpawnAbi.NsJoin) },
        { 3, nameof(SpawnAbi.Rlimit) },
        { 4, nameof(SpawnAbi.Hook) },
        { 5, nameof(SpawnAbi.Error) },
        { 6, nameof(SpawnAbi.Msg) },
        { 7, nameof(SpawnAbi.Waiting) },
    };

    private static Type Mirror(string name) => typeof(SpawnAbi).GetNestedType(name)!;

    private static int ManagedSize(Type t) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;

    [Fact]
    public void Abi_version_of_the_library_is_the_managed_one() => Assert.Equal(SpawnAbi.Version, SpawnAbi.AbiVersion());

    [Theory]
    [MemberData(nameof(Structs))]
    public void Managed_struct_has_the_C_size(int which, string name)
    {
        var t = Mirror(name);
        uint native = SpawnAbi.SizeOf(which);
        Assert.True(native > 0, $"hcs_sizeof({which}) returned 0");
        Assert.Equal((int)native, ManagedSize(t));
        Assert.Equal((int)native, Marshal.SizeOf(t));
    }

    [Fact]
    public void Sizes_by_hand()
    {
        Assert.Equal(SpawnAbi.SizeOf(0), (uint)sizeof(SpawnAbi.Plan));
        Assert.Equal(SpawnAbi.SizeOf(1), (uint)sizeof(SpawnAbi.MountStep));
        Assert.Equal(8u, (uint)sizeof(SpawnAbi.NsJoin));
        Assert.Equal(24u, (uint)sizeof(SpawnAbi.Rlimit));
        Assert.Equal(32u, (uint)sizeof(SpawnAbi.Hook));
        Assert.Equal(12u + 64 + 512, (uint)sizeof(SpawnAbi.Error));
        Assert.Equal(8u + 12 + 64 + 512, (uint)sizeof(SpawnAbi.Msg));
        Assert.Equal(24u, (uint)sizeof(SpawnAbi.Waiting));
        Assert.Equal(0u, SpawnAbi.SizeOf(8)); // unknown selector
    }

    /// <summary>Structs holding 64-bit members end on an 8-byte boundary (arrays of them stay
    /// aligned); the two made of 32-bit fields and chars only need 4.</summary>
    [Theory]
    [InlineData(0, 8)]
    [InlineData(1, 8)]
    [InlineData(2, 8)]
    [InlineData(3, 8)]
    [InlineData(4, 8)]
    [InlineData(5, 4)]
    [InlineData(6, 4)]
    [InlineData(7, 8)]
    public void C_struct_sizes_are_multiples_of_their_alignment(int which, int alignment) =>
        Assert.Equal(0u, SpawnAbi.SizeOf(which) % (uint)alignment);

    [Fact]
    public void Enum_values_match_the_header()
    {
        Assert.Equal(new uint[] { 1, 2, 3, 4, 5, 6 }, new[] { SpawnAbi.StepMount, SpawnAbi.StepBind, SpawnAbi.StepMknod, SpawnAbi.StepSymlink, SpawnAbi.StepMkdir, SpawnAbi.StepSetattr });
        Assert.Equal(new uint[] { 1, 2, 3, 4, 5, 6, 7, 8 }, new[] { SpawnAbi.MsgPid, SpawnAbi.MsgSetup, SpawnAbi.MsgGo, SpawnAbi.MsgHooks, SpawnAbi.MsgSeccompFd, SpawnAbi.MsgReady, SpawnAbi.MsgError, SpawnAbi.MsgCgroupMade });
        Assert.Equal(0x800u, (uint)SpawnAbi.PlanFlags.ConsoleMount);
        Assert.Equal(0x100u, (uint)SpawnAbi.PlanFlags.SetupRootfs);
        // the engine's step kinds are the ABI's
        Assert.Equal(SpawnAbi.StepSetattr, (uint)Hcs.Linux.Containers.MountStepKind.SetAttr);
        Assert.Equal(SpawnAbi.StepMknod, (uint)Hcs.Linux.Containers.MountStepKind.Mknod);
    }

    /// <summary>A plan hcs_spawn accepts up to clone(), which then fails at once: CLONE_NEWNS
    /// with CLONE_FS is EINVAL, so nothing is ever started by these tests.</summary>
    private static SpawnAbi.Plan* PlanThatCannotClone(NativeArena a)
    {
        const ulong CLONE_FS = 0x200, CLONE_NEWNS = 0x20000;
        var plan = (SpawnAbi.Plan*)a.Alloc(sizeof(SpawnAbi.Plan));
        plan->Abi = SpawnAbi.Version;
        plan->CloneFlags = CLONE_NEWNS | CLONE_FS;
        plan->Argv = a.StrArray(["true"]);
        plan->SyncFd = plan->StartFd = plan->ConsoleFd = -1;
        for (int i = 0; i < 3; i++) plan->StdioFds[i] = -1;
        plan->ExecFd = -1;
        return plan;
    }

    [Fact]
    public void Spawn_with_inherited_stdio_gets_as_far_as_clone()
    {
        using var a = new NativeArena();
        int pid;
        SpawnAbi.Error e;
        Assert.Equal(-1, SpawnAbi.Spawn(PlanThatCannotClone(a), -1, &pid, &e));
        Assert.Equal("clone", e.StepText);
        Assert.Equal(22, e.Err);
    }

    /// <summary>ABI 3: stdio fds are dup'ed onto 0-2 in order, so none may be 0-2 itself. The
    /// library reading the slot proves the field sits where the C struct has it.</summary>
    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 0)]
    public void Spawn_refuses_stdio_fds_0_to_2(int slot, int fd)
    {
        using var a = new NativeArena();
        var plan = PlanThatCannotClone(a);
        plan->StdioFds[slot] = fd;
        int pid;
        SpawnAbi.Error e;
        Assert.Equal(-1, SpawnAbi.Spawn(plan, -1, &pid, &e));
        Assert.Equal("check plan", e.StepText);
        Assert.Equal("stdio fds must be above 2", e.DetailText);
        Assert.Equal(22, e.Err);
    }

    [Fact]
    public void Abi_3_fields_sit_between_preserve_fds_and_the_console_size()
    {
        var t = typeof(SpawnAbi.Plan);
        int preserve = (int)Marshal.OffsetOf(t, nameof(SpawnAbi.Plan.PreserveFds));
        Assert.Equal(preserve + 4, (int)Marshal.OffsetOf(t, nameof(SpawnAbi.Plan.StdioFds)));
        Assert.Equal(preserve + 16, (int)Marshal.OffsetOf(t, nameof(SpawnAbi.Plan.ExecFd)));
        Assert.Equal(preserve + 20, (int)Marshal.OffsetOf(t, nameof(SpawnAbi.Plan.ConsoleRows)));
        Assert.True(SpawnAbi.Version >= 3); // ABI 4 added functions and struct hcs_waiting, not plan fields
    }

    [Fact]
    public void Error_text_accessors_read_NUL_terminated_utf8()
    {
        var e = new SpawnAbi.Error { Err = 2 };
        var step = "mount"u8;
        var detail = "/dev/é"u8;
        for (int i = 0; i < step.Length; i++) e.Step[i] = step[i];
        for (int i = 0; i < detail.Length; i++) e.Detail[i] = detail[i];
        Assert.Equal("mount", e.StepText);
        Assert.Equal("/dev/é", e.DetailText);
        Assert.Equal("", new SpawnAbi.Error().StepText);
    }

    // ---- field offsets against offsetof() -----------------------------------------------------

    private static readonly Dictionary<string, string> CStructs = new()
    {
        [nameof(SpawnAbi.Plan)] = "hcs_spawn_plan",
        [nameof(SpawnAbi.MountStep)] = "hcs_mount_step",
        [nameof(SpawnAbi.NsJoin)] = "hcs_ns_join",
        [nameof(SpawnAbi.Rlimit)] = "hcs_rlimit",
        [nameof(SpawnAbi.Hook)] = "hcs_hook",
        [nameof(SpawnAbi.Error)] = "hcs_error",
        [nameof(SpawnAbi.Msg)] = "hcs_msg",
    };

    /// <summary>C names are the snake_case of the C# ones, with these exceptions.</summary>
    private static readonly Dictionary<string, string> CFieldNames = new() { ["FsType"] = "fstype" };

    private static string CName(string field)
    {
        if (CFieldNames.TryGetValue(field, out var n)) return n;
        var sb = new StringBuilder();
        for (int i = 0; i < field.Length; i++)
        {
            if (char.IsUpper(field[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(field[i]));
        }
        return sb.ToString();
    }

    [CCompilerFact]
    public void Every_field_is_at_its_C_offset()
    {
        var header = CCompilerFactAttribute.Header!;
        var expected = new List<string>();
        var c = new StringBuilder();
        c.Append("#include <stdio.h>\n#include <stddef.h>\n#include \"hcs_spawn.h\"\nint main(void) {\n");
        foreach (var (mirror, cStruct) in CStructs)
        {
            var fields = Mirror(mirror).GetFields(BindingFlags.Public | BindingFlags.Instance);
            Assert.NotEmpty(fields);
            foreach (var f in fields)
            {
                var cField = CName(f.Name);
                c.Append($"    printf(\"{mirror}.{f.Name} %zu %zu\\n\", offsetof(struct {cStruct}, {cField}), sizeof(((struct {cStruct} *)0)->{cField}));\n");
                int size = f.FieldType.IsPointer ? IntPtr.Size
                    : f.GetCustomAttribute<FixedBufferAttribute>() is { } fb ? fb.Length * Marshal.SizeOf(fb.ElementType)
                    : f.FieldType.IsEnum ? Marshal.SizeOf(Enum.GetUnderlyingType(f.FieldType))
                    : Marshal.SizeOf(f.FieldType);
                expected.Add($"{mirror}.{f.Name} {Marshal.OffsetOf(Mirror(mirror), f.Name)} {size}");
            }
        }
        c.Append("    return 0;\n}\n");

        var dir = Directory.CreateTempSubdirectory("hcs-abi-");
        try
        {
            var src = Path.Combine(dir.FullName, "offsets.c");
            var exe = Path.Combine(dir.FullName, "offsets");
            File.WriteAllText(src, c.ToString());
            var (rc, output) = Run(CCompilerFactAttribute.Compiler!, "-std=gnu11", "-I", Path.GetDirectoryName(header)!, "-o", exe, src);
            Assert.True(rc == 0, "a C# field has no C counterpart (or the header changed):\n" + output);
            (rc, output) = Run(exe);
            Assert.Equal(0, rc);
            Assert.Equal(expected, output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static (int, string) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}

/// <summary>Needs a C compiler and the repository's native/include/hcs_spawn.h; skipped, with
/// the reason, where either is missing.</summary>
public sealed class CCompilerFactAttribute : FactAttribute
{
    public static readonly string? Compiler = new[] { "/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang" }.FirstOrDefault(File.Exists);
    public static readonly string? Header = FindHeader();

    private static string? FindHeader()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var h = Path.Combine(dir.FullName, "native", "include", "hcs_spawn.h");
            if (File.Exists(h)) return h;
        }
        return null;
    }

    public CCompilerFactAttribute()
    {
        if (Compiler is null) Skip = "no C compiler (cc, gcc or clang) to compute offsetof()";
        else if (Header is null) Skip = "native/include/hcs_spawn.h not found above " + AppContext.BaseDirectory;
    }
}
