using Hcs.Linux.Containers;
using Hcs.Linux.Native;

namespace Hcs.Tests.Unit.Native;

/// <summary>Which plans a child made ahead of time can carry (docs/design/0007-spawn-pool.md):
/// everything a waiting child would have to do before or at its clone goes the ordinary way.</summary>
public sealed class SpawnPoolFitTests
{
    private static SpawnRequest Default() => new()
    {
        CloneFlags = Libc.CLONE_NEWNS | Libc.CLONE_NEWPID | Libc.CLONE_NEWNET | Libc.CLONE_NEWIPC | Libc.CLONE_NEWUTS | Libc.CLONE_NEWCGROUP,
        Args = ["/bin/true"],
    };

    [Fact]
    public void The_default_container_fits() => Assert.True(SpawnPool.Fits(Default()));

    [Fact]
    public void A_container_sharing_host_namespaces_fits() =>
        Assert.True(SpawnPool.Fits(new SpawnRequest { CloneFlags = Libc.CLONE_NEWNS, Args = ["/bin/true"] }));

    public static TheoryData<string> Misfits => ["join", "userns", "timens", "preserve", "hook", "idmap", "exec"];

    [Theory]
    [MemberData(nameof(Misfits))]
    public void Plans_that_need_work_before_the_clone_do_not_fit(string what)
    {
        var r = Default();
        switch (what)
        {
            case "join": r.Joins.Add(new NamespaceJoin("network", "/proc/1/ns/net")); break;
            case "userns": r.CloneFlags |= Libc.CLONE_NEWUSER; break;
            case "timens": r.TimeOffsets = "monotonic 10 0"; break;
            case "preserve": r.PreserveFds = 2; break;
            case "hook": r.StartContainerHooks.Add(new Hcs.Schema.Oci.Hook { Path = "/bin/true" }); break;
            case "idmap": r.Steps.Add(new MountStep { Kind = MountStepKind.Bind, Target = "/data", Source = "/srv", IdMap = ("0 1000 1", "0 1000 1") }); break;
            case "exec": r.IsExec = true; break;
        }
        Assert.False(SpawnPool.Fits(r));
    }
}
