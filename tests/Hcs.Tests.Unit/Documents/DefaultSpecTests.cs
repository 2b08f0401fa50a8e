using Hcs.Linux.Containers;
using Hcs.Linux.Documents;
using Hcs.Linux.Rootfs;
using Hcs.Linux.Seccomp;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Tests.Unit.Planning;
using Hcs.Tests.Unit.Seccomp;
using static Hcs.Tests.Unit.Seccomp.BpfInterpreter;

namespace Hcs.Tests.Unit.Documents;

/// <summary>The spec of a document without OciSpecification (docs/design/0005-default-container.md):
/// valid, plannable, docker's defaults, and a seccomp profile that denies what it says.</summary>
public sealed class DefaultSpecTests
{
    private static Hcs.Schema.Oci.Spec Spec()
    {
        var spec = DefaultSpec.Create("0123456789abcdef");
        spec.Root!.Path = "/run/hcs/c/rootfs";
        return spec;
    }

    [Fact]
    public void It_passes_the_validator()
    {
        var errors = new DocumentErrors();
        SpecValidator.Validate(Spec(), errors);
        Assert.Empty(errors.All);
    }

    [Fact]
    public void It_plans_on_v1_and_v2_hosts()
    {
        var inputs = new ContainerPlanner.CreateInputs("c", "/b", "/run/hcs/c/rootfs", false, false, 0, false);
        foreach (var view in new[] { FakeHost.V2, FakeHost.V1 })
        {
            var r = ContainerPlanner.PlanCreate(Spec(), inputs, new FakeHost { CgroupView = view });
            Assert.False(r.RootReadonly);
            Assert.Equal("0123456789ab", r.Hostname);
            Assert.Equal(ContainerPlanner.Mask([.. DefaultSpec.Capabilities]), r.Capabilities!.Value.Bounding);
            Assert.Equal(r.Capabilities.Value.Bounding, r.Capabilities.Value.Effective);
            Assert.Equal(0UL, r.Capabilities.Value.Ambient);
            Assert.False(r.NoNewPrivileges);
            Assert.Contains(r.Steps, s => s.Target == "/dev/null" && s.Kind == MountStepKind.Mknod);
            Assert.Contains("/proc/kcore", r.MaskedPaths);
            Assert.Contains("/proc/sys", r.ReadonlyPaths);
        }
    }

    [Fact]
    public void The_namespaces_mounts_and_process_are_dockers()
    {
        var spec = Spec();
        Assert.Equal(["pid", "ipc", "uts", "mount", "network", "cgroup"], spec.Linux!.Namespaces!.Select(n => n.Type));
        Assert.All(spec.Linux.Namespaces!, n => Assert.Null(n.Path));
        Assert.Equal(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"], spec.Mounts!.Select(m => m.Destination));
        Assert.Contains("ro", spec.Mounts![5].Options!);
        Assert.Contains("ro", spec.Mounts[6].Options!);
        Assert.Equal(14, DefaultSpec.Capabilities.Distinct().Count());
        Assert.All(DefaultSpec.Capabilities, c => Assert.True(LinuxNames.Capabilities.ContainsKey(c), c));
        Assert.DoesNotContain("CAP_SYS_ADMIN", DefaultSpec.Capabilities);
        Assert.DoesNotContain("CAP_NET_ADMIN", DefaultSpec.Capabilities);
        Assert.Equal([DefaultSpec.PathVariable], spec.Process!.Env);
        Assert.Equal((0u, 0u), (spec.Process.User!.Uid, spec.Process.User.Gid));
    }

    [Fact]
    public void The_seccomp_profile_compiles_with_every_name_known()
    {
        var program = SeccompCompiler.Compile(DefaultSpec.Seccomp());
        Assert.NotEmpty(program.Filter);
        Assert.False(program.UsesNotify);
        Assert.Equal(DefaultSpec.DeniedSyscalls.Count, DefaultSpec.DeniedSyscalls.Distinct().Count());
    }

    // x86_64 and i386 numbers (arch/x86/entry/syscalls/syscall_{64,32}.tbl)
    private const int Getpid = 39, Clone = 56, Mount = 165, KexecLoad = 246, Unshare = 272, Setns = 308,
        IoUringSetup = 425, Clone3 = 435, OpenByHandleAt = 304, Bpf = 321, Keyctl = 250, Uname = 63;
    private const int I386Getpid = 20, I386KexecLoad = 283, I386Mount = 21;
    private const uint AuditArchI386 = 0x4000_0003;
    private const ulong CloneNewUser = 0x1000_0000, CloneNewNs = 0x0002_0000, Sigchld = 17, CloneVm = 0x100;

    [X64Fact]
    public void Denied_syscalls_get_EPERM_and_the_rest_are_allowed()
    {
        var filter = SeccompCompiler.Compile(DefaultSpec.Seccomp()).Filter;
        foreach (var nr in new[] { KexecLoad, Mount, Unshare, Setns, IoUringSetup, OpenByHandleAt, Bpf, Keyctl })
            Assert.Equal(RetErrno | 1, Run(filter, nr));
        foreach (var nr in new[] { Getpid, Uname, 1000 })
            Assert.Equal(RetAllow, Run(filter, nr));
    }

    [X64Fact]
    public void Clone_may_not_make_a_user_namespace_and_clone3_falls_back_to_clone()
    {
        var filter = SeccompCompiler.Compile(DefaultSpec.Seccomp()).Filter;
        Assert.Equal(RetAllow, Run(filter, Clone, args: Sigchld));
        Assert.Equal(RetAllow, Run(filter, Clone, args: CloneVm | Sigchld));
        Assert.Equal(RetAllow, Run(filter, Clone, args: CloneNewNs | Sigchld)); // the kernel wants CAP_SYS_ADMIN for that
        Assert.Equal(RetErrno | 1, Run(filter, Clone, args: CloneNewUser | Sigchld));
        Assert.Equal(RetErrno | 1, Run(filter, Clone, args: CloneNewUser | CloneNewNs));
        Assert.Equal(RetErrno | DefaultSpec.Enosys, Run(filter, Clone3));
    }

    [X64Fact]
    public void Every_syscall_is_decided_in_a_few_steps()
    {
        // As a list, each allowed syscall walked every denied one (about 100 steps) and the
        // kernel's replay of the filter for every syscall number made loading it 0.3 ms.
        var filter = SeccompCompiler.Compile(DefaultSpec.Seccomp()).Filter;
        foreach (var arch in new[] { AuditArchX86_64, AuditArchI386 })
            for (int nr = 0; nr < 460; nr++)
            {
                Run(filter, nr, arch, out int steps);
                Assert.True(steps <= 20, $"syscall {nr} of arch 0x{arch:x} took {steps} steps");
            }
    }

    [X64Fact]
    public void Thirty_two_bit_syscalls_go_through_the_same_rules()
    {
        var filter = SeccompCompiler.Compile(DefaultSpec.Seccomp()).Filter;
        Assert.Equal(RetErrno | 1, Run(filter, I386KexecLoad, AuditArchI386));
        Assert.Equal(RetErrno | 1, Run(filter, I386Mount, AuditArchI386));
        Assert.Equal(RetAllow, Run(filter, I386Getpid, AuditArchI386));
        Assert.Equal(RetKillThread, Run(filter, Getpid, AuditArchAarch64)); // an architecture the profile does not list
    }
}
