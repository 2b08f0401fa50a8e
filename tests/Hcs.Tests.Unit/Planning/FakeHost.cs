using Hcs.Linux.Containers;
using Hcs.Linux.Rootfs;

namespace Hcs.Tests.Unit.Planning;

/// <summary>A host view made of dictionaries; records every path the planner asked about.</summary>
internal sealed class FakeHost : IHostView, IMountTable
{
    public Dictionary<string, HostPathKind> Paths { get; } = new(StringComparer.Ordinal)
    {
        ["/proc/kcore"] = HostPathKind.File,
    };
    public CgroupMountView CgroupView { get; set; } = V2;
    public List<string> Asked { get; } = [];
    public List<string> MountPoints { get; } = ["/"];
    public int CgroupCalls { get; private set; }

    public static readonly CgroupMountView V2 = new([], "/sys/fs/cgroup/hcs/ctr");

    public static readonly CgroupMountView V1 = new(
    [
        new CgroupHierarchyMount("cpu,cpuacct", "cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/hcs/ctr"),
        new CgroupHierarchyMount("memory", "memory", "/sys/fs/cgroup/memory/hcs/ctr"),
        new CgroupHierarchyMount("net_cls,net_prio", "net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio/hcs/ctr"),
    ], null);

    public static readonly CgroupMountView Hybrid = new(
    [
        new CgroupHierarchyMount("memory", "memory", "/sys/fs/cgroup/memory/hcs/ctr"),
    ], "/sys/fs/cgroup/unified/hcs/ctr");

    public FakeHost With(string path, HostPathKind kind)
    {
        Paths[path] = kind;
        return this;
    }

    public HostPathKind Kind(string path)
    {
        Asked.Add(path);
        return Paths.TryGetValue(path, out var k) ? k : HostPathKind.Missing;
    }

    public CgroupMountView Cgroups()
    {
        CgroupCalls++;
        return CgroupView;
    }

    public string? MountPointOf(string path) =>
        MountPoints.Where(m => path == m || path.StartsWith(m.TrimEnd('/') + "/", StringComparison.Ordinal))
                   .OrderByDescending(m => m.Length).FirstOrDefault();
}
