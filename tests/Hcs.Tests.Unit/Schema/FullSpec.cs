using System.Collections;
using System.Reflection;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;
using OciSeccomp = Hcs.Schema.Oci.Seccomp;

namespace Hcs.Tests.Unit.Schema;

/// <summary>
/// A <see cref="Spec"/> with every property of every OCI type set to a non-default value, and
/// every number distinct, so a reader that swaps two fields or drops one is caught by a round
/// trip. <see cref="AssertFullyPopulated"/> proves by reflection that nothing was left out: a
/// property added to RuntimeSpec.cs later fails the test until it is set here (and then the
/// round-trip tests fail until the reader and writer handle it).
/// </summary>
internal static class FullSpec
{
    public static Spec Build() => new()
    {
        OciVersion = "1.2.0",
        Process = BuildProcess(),
        Root = new Root { Path = "rootfs", Readonly = true },
        Hostname = "host-name",
        Domainname = "example.org",
        Mounts =
        [
            new Mount
            {
                Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind", "ro", "idmap"],
                UidMappings = [new IdMapping { ContainerId = 1, HostId = 100000, Size = 65536 }],
                GidMappings = [new IdMapping { ContainerId = 2, HostId = 200000, Size = 65535 }],
            },
            new Mount
            {
                Destination = "/tmp", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "size=1m"],
                UidMappings = [new IdMapping { ContainerId = 3, HostId = 3000, Size = 3 }],
                GidMappings = [new IdMapping { ContainerId = 4, HostId = 4000, Size = 4 }],
            },
        ],
        Hooks = new Hooks
        {
            Prestart = [Hook("/bin/prestart", 11)],
            CreateRuntime = [Hook("/bin/create-runtime", 12)],
            CreateContainer = [Hook("/bin/create-container", 13)],
            StartContainer = [Hook("/bin/start-container", 14)],
            Poststart = [Hook("/bin/poststart", 15)],
            Poststop = [Hook("/bin/poststop", 16), Hook("/bin/poststop2", 17)],
        },
        Annotations = new()
        {
            ["org.opencontainers.image.ref.name"] = "v1",
            ["com.example/quote"] = "a \"quoted\" \\ value, é, <tag> & + ✓",
        },
        Linux = new OciLinux
        {
            UidMappings = [new IdMapping { ContainerId = 6, HostId = 1000, Size = 1 }, new IdMapping { ContainerId = 1, HostId = 100000, Size = 65536 }],
            GidMappings = [new IdMapping { ContainerId = 5, HostId = 1005, Size = 7 }],
            Sysctl = new() { ["net.ipv4.ip_forward"] = "1", ["kernel.shmmax"] = "68719476736" },
            Resources = BuildResources(),
            CgroupsPath = "/hcs/ctr1",
            Namespaces =
            [
                new Namespace { Type = "pid", Path = "/proc/1/ns/pid" },
                new Namespace { Type = "network", Path = "/var/run/netns/ns1" },
            ],
            Devices =
            [
                new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, FileMode = 438, Uid = 21, Gid = 22 },
                new Device { Type = "b", Path = "/dev/sda", Major = 8, Minor = 1, FileMode = 432, Uid = 23, Gid = 24 },
            ],
            Seccomp = new OciSeccomp
            {
                DefaultAction = "SCMP_ACT_ERRNO",
                DefaultErrnoRet = 38,
                Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                Flags = ["SECCOMP_FILTER_FLAG_LOG"],
                ListenerPath = "/run/agent.sock",
                ListenerMetadata = "meta",
                Syscalls =
                [
                    new SyscallRule
                    {
                        Names = ["personality"], Action = "SCMP_ACT_ALLOW", ErrnoRet = 1,
                        Args = [new SyscallArg { Index = 1, Value = 0xffffffff, ValueTwo = 0xfffffffffffffff0, Op = "SCMP_CMP_MASKED_EQ" }],
                    },
                ],
            },
            RootfsPropagation = "rslave",
            MaskedPaths = ["/proc/kcore", "/proc/keys"],
            ReadonlyPaths = ["/proc/sys"],
            MountLabel = "system_u:object_r:container_file_t:s0",
            IntelRdt = new IntelRdt { ClosID = "clos1", L3CacheSchema = "L3:0=ff", MemBwSchema = "MB:0=70" },
            Personality = new Personality { Domain = "LINUX32", Flags = ["ADDR_NO_RANDOMIZE"] },
            TimeOffsets = new()
            {
                ["monotonic"] = new TimeOffset { Secs = -86400, Nanosecs = 31 },
                ["boottime"] = new TimeOffset { Secs = 86401, Nanosecs = 32 },
            },
        },
    };

    public static Process BuildProcess() => new()
    {
        Terminal = true,
        ConsoleSize = new Box { Height = 41, Width = 42 },
        User = new User { Uid = 43, Gid = 44, Umask = 18, AdditionalGids = [45, 46], Username = "nobody" },
        Args = ["/bin/sh", "-c", "echo \"hi\""],
        CommandLine = "sh -c hi",
        Env = ["PATH=/usr/bin:/bin", "TERM=xterm"],
        Cwd = "/work",
        Capabilities = new Capabilities
        {
            Bounding = ["CAP_CHOWN", "CAP_KILL"],
            Effective = ["CAP_KILL"],
            Inheritable = ["CAP_NET_RAW"],
            Permitted = ["CAP_KILL", "CAP_SYS_ADMIN"],
            Ambient = ["CAP_NET_BIND_SERVICE"],
        },
        Rlimits =
        [
            new Rlimit { Type = "RLIMIT_NOFILE", Hard = 4096, Soft = 1024 },
            new Rlimit { Type = "RLIMIT_CORE", Hard = ulong.MaxValue, Soft = 47 },
        ],
        NoNewPrivileges = true,
        ApparmorProfile = "docker-default",
        OomScoreAdj = -48,
        SelinuxLabel = "system_u:system_r:container_t:s0",
        IoPriority = new IoPriority { Class = "IOPRIO_CLASS_BE", Priority = 49 },
        Scheduler = new Scheduler
        {
            Policy = "SCHED_DEADLINE", Nice = -50, Priority = 51, Flags = ["SCHED_FLAG_RESET_ON_FORK"],
            Runtime = 52, Deadline = 53, Period = 54,
        },
        ExecCpuAffinity = new CpuAffinity { Initial = "0-1", Final = "2,3" },
    };

    public static Resources BuildResources() => new()
    {
        Devices =
        [
            new DeviceCgroup { Allow = true, Type = "c", Major = 136, Minor = 61, Access = "rwm" },
        ],
        Memory = new Memory
        {
            Limit = 1L << 30, Reservation = 1L << 29, Swap = 1L << 31, Kernel = -1, KernelTcp = 62,
            Swappiness = 63, DisableOomKiller = true, UseHierarchy = false, CheckBeforeUpdate = true,
        },
        Cpu = new Cpu
        {
            Shares = 1024, Quota = 50000, Burst = 64, Period = 100000, RealtimeRuntime = 950000,
            RealtimePeriod = 1000000, Cpus = "0-3", Mems = "0", Idle = 1,
        },
        Pids = new Pids { Limit = 65 },
        BlockIO = new BlockIo
        {
            Weight = 500, LeafWeight = 66,
            WeightDevice = [new WeightDevice { Major = 8, Minor = 67, Weight = 68, LeafWeight = 69 }],
            ThrottleReadBpsDevice = [new ThrottleDevice { Major = 8, Minor = 70, Rate = 71 }],
            ThrottleWriteBpsDevice = [new ThrottleDevice { Major = 8, Minor = 72, Rate = 73 }],
            ThrottleReadIopsDevice = [new ThrottleDevice { Major = 8, Minor = 74, Rate = 75 }],
            ThrottleWriteIopsDevice = [new ThrottleDevice { Major = 8, Minor = 76, Rate = 77 }],
        },
        HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 78 }],
        Network = new Network { ClassId = 79, Priorities = [new InterfacePriority { Name = "eth0", Priority = 80 }] },
        Rdma = new() { ["mlx5_1"] = new RdmaLimit { HcaHandles = 81, HcaObjects = 82 } },
        Unified = new() { ["memory.high"] = "max", ["io.weight"] = "default 100" },
    };

    private static Hook Hook(string path, int timeout) =>
        new() { Path = path, Args = [Path.GetFileName(path), "--flag"], Env = ["HOOK=" + timeout], Timeout = timeout };

    // ---- reflection ------------------------------------------------------------------------

    private static bool IsOciType(Type t) => t.Namespace == typeof(Spec).Namespace && t.IsClass;

    /// <summary>Every property reachable from <paramref name="root"/> is non-null and not its
    /// type's default; every list and map has at least one entry. Returns the types visited.</summary>
    public static HashSet<Type> AssertFullyPopulated(object root)
    {
        var problems = new List<string>();
        var visited = new HashSet<Type>();
        Walk(root, "$", problems, visited);
        Assert.True(problems.Count == 0, "left at their default:\n  " + string.Join("\n  ", problems));
        return visited;
    }

    private static void Walk(object value, string path, List<string> problems, HashSet<Type> visited)
    {
        var type = value.GetType();
        if (value is string s)
        {
            if (s.Length == 0) problems.Add(path + " (empty string)");
            return;
        }
        if (value is IDictionary map)
        {
            if (map.Count == 0) problems.Add(path + " (empty map)");
            foreach (DictionaryEntry e in map)
            {
                if (e.Value is null) problems.Add($"{path}[{e.Key}]");
                else Walk(e.Value, $"{path}[\"{e.Key}\"]", problems, visited);
            }
            return;
        }
        if (value is IList list)
        {
            if (list.Count == 0) problems.Add(path + " (empty list)");
            for (int i = 0; i < list.Count; i++)
            {
                if (list[i] is null) problems.Add($"{path}[{i}]");
                else Walk(list[i]!, $"{path}[{i}]", problems, visited);
            }
            return;
        }
        if (!IsOciType(type)) return; // a number or a bool: checked by the caller
        visited.Add(type);
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var v = p.GetValue(value);
            var at = $"{path}.{p.Name}";
            if (v is null) { problems.Add(at); continue; }
            var pt = p.PropertyType;
            if (pt.IsValueType && Nullable.GetUnderlyingType(pt) is null && v.Equals(Activator.CreateInstance(pt)))
            {
                problems.Add(at + " (default value)");
                continue;
            }
            Walk(v, at, problems, visited);
        }
    }

    /// <summary>Structural equality of two OCI object graphs, with the path of the first difference.</summary>
    public static void AssertDeepEqual(object? expected, object? actual, string path = "$")
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{path}: expected {expected ?? "null"}, got {actual ?? "null"}");
            return;
        }
        Assert.True(expected.GetType() == actual.GetType(), $"{path}: type {expected.GetType()} vs {actual.GetType()}");
        switch (expected)
        {
            case string:
                Assert.True(Equals(expected, actual), $"{path}: \"{expected}\" vs \"{actual}\"");
                return;
            case IDictionary em:
            {
                var am = (IDictionary)actual;
                Assert.True(em.Count == am.Count, $"{path}: {em.Count} entries vs {am.Count}");
                foreach (DictionaryEntry e in em)
                {
                    Assert.True(am.Contains(e.Key), $"{path}: key \"{e.Key}\" missing");
                    AssertDeepEqual(e.Value, am[e.Key], $"{path}[\"{e.Key}\"]");
                }
                return;
            }
            case IList el:
            {
                var al = (IList)actual;
                Assert.True(el.Count == al.Count, $"{path}: {el.Count} items vs {al.Count}");
                for (int i = 0; i < el.Count; i++) AssertDeepEqual(el[i], al[i], $"{path}[{i}]");
                return;
            }
        }
        if (!IsOciType(expected.GetType()))
        {
            Assert.True(Equals(expected, actual), $"{path}: {expected} vs {actual}");
            return;
        }
        foreach (var p in expected.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            AssertDeepEqual(p.GetValue(expected), p.GetValue(actual), $"{path}.{p.Name}");
    }
}
