using Hcs.Linux.Cgroups;
using Hcs.Schema.Hcs;

namespace Hcs.Daemon.Compute;

/// <summary>The HCS property queries (Statistics, ProcessList, Memory) from cgroup stats and /proc.
/// HCS counts time in 100 ns units; cgroups count nanoseconds.</summary>
public static class PropertyQueries
{
    private static readonly long TicksPerSecond = 100; // USER_HZ on Linux

    public static Statistics Statistics(CgroupStats c, SystemEntry s)
    {
        var now = DateTime.UtcNow;
        return new Statistics
        {
            Timestamp = now,
            ContainerStartTime = s.Created,
            Uptime100ns = (ulong)Math.Max(0, (now - s.Created).Ticks),
            Processor = new ProcessorStats
            {
                TotalRuntime100ns = c.Cpu.Usage.Total / 100,
                RuntimeUser100ns = c.Cpu.Usage.User / 100,
                RuntimeKernel100ns = c.Cpu.Usage.Kernel / 100,
            },
            Memory = new Schema.Hcs.MemoryStats
            {
                MemoryUsageCommitBytes = c.Memory.Usage.Usage,
                MemoryUsageCommitPeakBytes = c.Memory.Usage.Max,
                MemoryUsagePrivateWorkingSetBytes = c.Memory.Usage.Usage > c.Memory.Cache ? c.Memory.Usage.Usage - c.Memory.Cache : 0,
            },
            Storage = StorageOf(c),
        };
    }

    private static StorageStats StorageOf(CgroupStats c)
    {
        var st = new StorageStats();
        foreach (var e in c.Blkio.IoServiceBytesRecursive ?? [])
        {
            if (e.Op is "Read" or "read") st.ReadSizeBytes += e.Value;
            if (e.Op is "Write" or "write") st.WriteSizeBytes += e.Value;
        }
        foreach (var e in c.Blkio.IoServicedRecursive ?? [])
        {
            if (e.Op is "Read" or "read") st.ReadCountNormalized += e.Value;
            if (e.Op is "Write" or "write") st.WriteCountNormalized += e.Value;
        }
        return st;
    }

    public static MemoryInformation Memory(CgroupStats c)
    {
        ulong limit = c.Memory.Usage.Limit;
        ulong total = (ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return new MemoryInformation
        {
            TotalPhysicalBytes = limit > 0 && limit < total ? limit : total,
            TotalUsage = c.Memory.Usage.Usage,
            CommittedBytes = c.Memory.Usage.Usage,
            SharedCommittedBytes = c.Memory.Cache,
            CommitLimitBytes = limit,
            PeakCommitmentBytes = c.Memory.Usage.Max,
        };
    }

    public static List<ProcessDetails> ProcessList(IReadOnlyList<int> pids)
    {
        var list = new List<ProcessDetails>();
        var boot = BootTime();
        foreach (var pid in pids)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                int close = stat.LastIndexOf(')');
                var name = stat[(stat.IndexOf('(') + 1)..close];
                var f = stat[(close + 2)..].Split(' ');
                // fields after the name start at 3 (state): utime 14, stime 15, starttime 22, rss 24
                ulong utime = ulong.Parse(f[11]), stime = ulong.Parse(f[12]), start = ulong.Parse(f[19]);
                long rssPages = long.Parse(f[21]);
                list.Add(new ProcessDetails
                {
                    ProcessId = (uint)pid,
                    ImageName = name,
                    CreateTimestamp = boot.AddSeconds((double)start / TicksPerSecond),
                    UserTime100ns = utime * (10_000_000UL / (ulong)TicksPerSecond),
                    KernelTime100ns = stime * (10_000_000UL / (ulong)TicksPerSecond),
                    MemoryWorkingSetPrivateBytes = (ulong)Math.Max(0, rssPages) * 4096,
                    MemoryCommitBytes = (ulong)Math.Max(0, rssPages) * 4096,
                });
            }
            catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException) { /* exited meanwhile */ }
        }
        return list;
    }

    private static DateTime BootTime()
    {
        foreach (var line in File.ReadLines("/proc/stat"))
            if (line.StartsWith("btime ")) return DateTime.UnixEpoch.AddSeconds(long.Parse(line[6..]));
        return DateTime.UnixEpoch;
    }
}
