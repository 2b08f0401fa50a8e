using Hcs.Schema.Oci;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// The cgroup(s) of one container, whatever the host layout (v1, v2, or hybrid: v1 controllers
/// plus a v2 hierarchy holding a few). The engine only talks to this interface; get one from
/// <see cref="CgroupDriver.Open"/> or <see cref="CgroupDriver.Load"/>.
/// </summary>
public interface ICgroup
{
    /// <summary>The directories this cgroup occupies, by controller ("memory", "cpu", ...; "" for
    /// the v2 unified directory). Co-mounted v1 controllers ("cpu,cpuacct") map to the same
    /// directory; named v1 hierarchies (name=systemd) are not used. Persisted in the container state
    /// so a later command (another runhcs process) can reopen exactly the same cgroup with
    /// <see cref="CgroupDriver.Load"/>.</summary>
    IReadOnlyDictionary<string, string> Paths { get; }

    /// <summary>Creates the directories (parents too). Idempotent. On v1 a new cpuset level gets its
    /// parent's cpus/mems; on v2 the ancestors delegate the controllers we use.</summary>
    void Create();

    /// <summary>Writes the limits. Null fields are left untouched (this is also the live `update`
    /// path); as in runc, 0 means "unset" for memory limit/swap/reservation, cpu shares/quota/period
    /// and blkio weight. Throws <see cref="CgroupException"/> naming the file, the value and the
    /// kernel's reason when a write is refused, and before writing anything when a limit needs a
    /// controller the host does not offer.</summary>
    void Apply(Resources resources);

    /// <summary>Moves a process (all its threads) into the cgroup, in every hierarchy.</summary>
    void AddProcess(int pid);

    /// <summary>Pids of the processes in the cgroup; with recursive, also in sub-cgroups.</summary>
    IReadOnlyList<int> GetPids(bool recursive = true);

    /// <summary>Freezes every process and returns once the kernel reports the cgroup frozen
    /// (bounded: throws, thawed again, if that takes more than a few seconds).</summary>
    void Freeze();

    void Thaw();

    bool IsFrozen();

    /// <summary>Kills every process in the cgroup, sub-cgroups included, with SIGKILL (cgroup.kill on
    /// v2 5.14+, freeze+kill+thaw otherwise). Does not wait for them to exit.</summary>
    void KillAll();

    /// <summary>Usage counters, shaped like runc's `events --stats` data.</summary>
    CgroupStats GetStats();

    /// <summary>How many processes the kernel's OOM killer has killed in this cgroup.</summary>
    ulong OomKillCount();

    /// <summary>Removes the directories (the container's and its sub-cgroups, not the parents),
    /// deepest first. Waits (with a short backoff, at most about 2 s, no fixed sleeps) for exiting
    /// processes to leave. Returns false if it gave up because processes remain. Already removed
    /// is fine.</summary>
    bool Destroy();
}

/// <summary>A cgroup operation failed. <see cref="Errno"/> is the kernel's errno when there is one
/// (EINVAL for invalid input, EOPNOTSUPP for a controller the host lacks).</summary>
public sealed class CgroupException(string message, int errno = 0) : Exception(message)
{
    public int Errno { get; } = errno;
}
