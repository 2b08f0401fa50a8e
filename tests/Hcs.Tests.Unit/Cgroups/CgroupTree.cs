using Hcs.Linux.Cgroups;

namespace Hcs.Tests.Unit.Cgroups;

/// <summary>
/// A host described by a mountinfo and a /proc/self/cgroup file, whose cgroupfs is ordinary
/// files under a temp directory (the driver's root prefix). Interface files must be created by
/// the test, as the kernel would: writes never create files, so a missing file fails like on a
/// real host.
/// </summary>
internal sealed class CgroupTree : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("hcs-cgtest-").FullName;

    /// <summary>This host's layout: v1 controllers plus a cgroup2 holding only hugetlb.</summary>
    public static readonly string[] HybridMountInfo =
    [
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
        "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
        "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
        "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices",
        "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer",
        "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio",
        "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    ];

    public static readonly string[] HybridSelfCgroup =
    [
        "9:name=systemd:/", "8:pids:/", "7:blkio:/", "6:freezer:/", "5:devices:/",
        "4:memory:/process_api/db93", "3:cpuset:/", "2:cpuacct:/", "1:cpu:/", "0::/",
    ];

    /// <summary>A classic systemd "legacy" v1 host: co-mounted cpu,cpuacct and net_cls,net_prio.</summary>
    public static readonly string[] V1MountInfo =
    [
        "25 20 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755",
        "26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd",
        "29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct",
        "30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory",
        "31 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset,clone_children",
        "32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids",
        "33 25 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices",
        "34 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer",
        "35 25 0:32 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,blkio",
        "36 25 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,net_cls,net_prio",
    ];

    public static readonly string[] V1SelfCgroup =
    [
        "9:net_cls,net_prio:/", "8:blkio:/user.slice", "7:freezer:/", "6:devices:/user.slice",
        "5:pids:/user.slice/user-1000.slice", "4:cpuset:/", "3:memory:/user.slice/user-1000.slice",
        "2:cpu,cpuacct:/user.slice", "1:name=systemd:/user.slice/user-1000.slice/session-2.scope",
    ];

    /// <summary>A pure cgroup v2 host (the common case).</summary>
    public static readonly string[] V2MountInfo =
    [
        "22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
    ];

    public static readonly string[] V2SelfCgroup = ["0::/user.slice/user-1000.slice/session-3.scope"];

    public const string V2Controllers = "cpuset cpu io memory hugetlb pids rdma misc";

    public string Path(string relative) => System.IO.Path.Join(Root, relative);

    /// <summary>Creates a file (and its directories) with the given content.</summary>
    public string File(string relative, string content = "")
    {
        string p = Path(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        System.IO.File.WriteAllText(p, content);
        return p;
    }

    public string Read(string relative) => System.IO.File.ReadAllText(Path(relative));

    public void Dir(string relative) => Directory.CreateDirectory(Path(relative));

    public void Files(string dir, params string[] names)
    {
        foreach (string n in names) File(dir + "/" + n);
    }

    public CgroupDriver Driver(string[] mountInfo, string[] selfCgroup)
    {
        File("proc/mountinfo", string.Join('\n', mountInfo) + "\n");
        File("proc/cgroup", string.Join('\n', selfCgroup) + "\n");
        return new CgroupDriver(Path("proc/mountinfo"), Path("proc/cgroup"), Root);
    }

    /// <summary>Records every successful write as (path relative to the tree, value), in order.</summary>
    public List<(string File, string Value)> Record(ICgroup cg)
    {
        var writes = new List<(string, string)>();
        void Observe(string path, string value) => writes.Add((System.IO.Path.GetRelativePath(Root, path), value));
        switch (cg)
        {
            case CgroupV1 v1: v1.WriteObserver = Observe; break;
            case CgroupV2 v2: v2.WriteObserver = Observe; break;
            case CgroupHybrid h:
                h.V1.WriteObserver = Observe;
                h.V2.WriteObserver = Observe;
                break;
        }
        return writes;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
