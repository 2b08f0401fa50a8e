using System.Reflection;
using Hcs.Linux.Containers;
using Hcs.Linux.Rootfs;
using Hcs.Linux.Spec;
using Hcs.Runhcs;
using Hcs.Schema;
using Hcs.Schema.Oci;
using Hcs.Tests.Unit.Planning;
using Hcs.Tests.Unit.Schema;

namespace Hcs.Tests.Unit.Cli;

/// <summary>The config `runhcs spec` writes is one runhcs itself accepts, plans, and reads back.</summary>
public sealed class SpecDefaultTests
{
    private static readonly Type SpecCommands = typeof(Program).Assembly.GetType("Hcs.Runhcs.SpecCommands", throwOnError: true)!;

    private static Spec Default() =>
        (Spec)SpecCommands.GetMethod("Default", BindingFlags.Public | BindingFlags.Static)!.Invoke(null, null)!;

    private static Spec Rootless()
    {
        var spec = Default();
        SpecCommands.GetMethod("MakeRootless", BindingFlags.NonPublic | BindingFlags.Static)!
            .Invoke(null, BindingFlags.DoNotWrapExceptions, null, [spec], null);
        return spec;
    }

    private static readonly ContainerPlanner.CreateInputs Inputs = new("c", "/b", "/b/rootfs", false, false, 0, true);

    [Fact]
    public void Default_spec_validates()
    {
        var errors = new DocumentErrors();
        SpecValidator.Validate(Default(), errors);
        Assert.Empty(errors.All);
    }

    [Fact]
    public void Default_spec_plans_on_v1_and_v2_hosts()
    {
        foreach (var view in new[] { FakeHost.V2, FakeHost.V1 })
        {
            var r = ContainerPlanner.PlanCreate(Default(), Inputs, new FakeHost { CgroupView = view });
            Assert.True(r.SetupRootfs);
            Assert.True(r.RootReadonly);
            Assert.Equal("runhcs", r.Hostname);
            Assert.Contains(r.Steps, s => s.Target == "/dev/null" && s.Kind == MountStepKind.Mknod);
            Assert.Contains(r.Steps, s => s.Kind == MountStepKind.Bind && s.Source == "/sys/fs/cgroup/hcs/ctr" ||
                                          s.Kind == MountStepKind.Bind && s.Source == "/sys/fs/cgroup/memory/hcs/ctr");
            Assert.Equal(ContainerPlanner.Mask(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]), r.Capabilities!.Value.Bounding);
            Assert.Equal([(7, 1024ul, 1024ul)], r.Rlimits);
        }
    }

    [Fact]
    public void Default_spec_round_trips()
    {
        var spec = Default();
        var read = OciReader.ReadSpec(OciWriter.ToUtf8(spec, indented: true), "config.json");
        FullSpec.AssertDeepEqual(spec, read);
    }

    [Fact]
    public void Rootless_spec_validates_and_plans_binds_instead_of_device_nodes()
    {
        var spec = Rootless();
        var errors = new DocumentErrors();
        SpecValidator.Validate(spec, errors);
        Assert.Empty(errors.All);
        Assert.Contains(spec.Linux!.Namespaces!, n => n.Type == "user");
        Assert.DoesNotContain(spec.Linux.Namespaces!, n => n.Type == "network");
        Assert.Equal(Hcs.Linux.Native.Libc.GetEuid(), Assert.Single(spec.Linux.UidMappings!).HostId);
        Assert.DoesNotContain(spec.Mounts!, m => m.Options?.Contains("gid=5") ?? false);

        var host = new FakeHost().With("/sys", HostPathKind.Directory);
        var r = ContainerPlanner.PlanCreate(spec, Inputs, host);
        Assert.DoesNotContain(r.Steps, s => s.Kind == MountStepKind.Mknod);
        Assert.Contains(r.Steps, s => s.Kind == MountStepKind.Bind && s.Target == "/sys" && s.Recursive);
        Assert.NotNull(r.UidMap);
    }

    [RuncFact]
    public void Default_spec_has_runcs_mounts_and_paths()
    {
        var dir = Directory.CreateTempSubdirectory("hcs-runc-spec-");
        try
        {
            using (var p = System.Diagnostics.Process.Start(RuncFactAttribute.Runc, ["spec", "--bundle", dir.FullName]))
                p.WaitForExit();
            var runc = OciReader.ReadSpec(File.ReadAllBytes(Path.Combine(dir.FullName, "config.json")), "runc");
            var ours = Default();
            Assert.Equal(runc.Mounts!.Select(m => (m.Destination, m.Type)), ours.Mounts!.Select(m => (m.Destination, m.Type)));
            Assert.Equal(runc.Linux!.ReadonlyPaths!, ours.Linux!.ReadonlyPaths!);
            Assert.Equal(runc.Process!.Args!, ours.Process!.Args!);
            Assert.Equal(runc.Process.Capabilities!.Bounding!, ours.Process.Capabilities!.Bounding!);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
