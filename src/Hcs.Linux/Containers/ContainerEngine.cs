using System.Text;
using System.Text.Json;
using Hcs.Linux.Cgroups;
using Hcs.Linux.Native;
using Hcs.Linux.Rootfs;
using Hcs.Linux.Seccomp;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Linux.Containers;

public sealed class EngineOptions
{
    /// <summary>Where container state lives (runc: /run/runc; runhcs: /run/runhcs).</summary>
    public string Root { get; init; } = "/run/runhcs";
    /// <summary>cgroupsPath in systemd form ("slice:prefix:name").</summary>
    public bool SystemdCgroup { get; init; }
    /// <summary>Receives warnings (failed poststart/poststop hooks, ...).</summary>
    public Action<string>? Warn { get; init; }
    /// <summary>Tests point this at a prepared directory; default: detect the host.</summary>
    public Func<CgroupDriver>? CgroupDriverFactory { get; init; }
}

public sealed class CreateOptions
{
    public string? ConsoleSocket { get; init; }
    /// <summary>An already-connected console socket (run/exec in the foreground with a tty).</summary>
    public int ConsoleFd { get; init; } = -1;
    public string? PidFile { get; init; }
    public bool NoPivot { get; init; }
    public bool NoNewKeyring { get; init; }
    public int PreserveFds { get; init; }
    /// <summary>`run`: the process starts when the caller says so over the spawn session,
    /// without an exec fifo.</summary>
    public bool StartViaSession { get; init; }
    /// <summary>The bundle's config, when the caller has read it already (with its bytes).</summary>
    public (Schema.Oci.Spec Spec, byte[] Bytes)? Loaded { get; init; }
    /// <summary>The init's stdin, stdout, stderr (fds > 2, -1 = inherit); null inherits ours.
    /// The caller keeps its copies and closes them once Create returns.</summary>
    public int[]? StdioFds { get; init; }
    /// <summary>A host binary to run as the init (e.g. hcs-pause) instead of looking
    /// process.args[0] up in the rootfs; args stay the program's argv.</summary>
    public string? InitExecPath { get; init; }
    /// <summary>Children made ahead of time (a long-lived parent's, see <see cref="SpawnPool"/>):
    /// the create takes one when its plan fits one.</summary>
    public SpawnPool? Pool { get; init; }
}

public sealed class ExecOptions
{
    public string? ConsoleSocket { get; init; }
    public int ConsoleFd { get; init; } = -1;
    public string? PidFile { get; init; }
    public int PreserveFds { get; init; }
    /// <summary>The process's stdin, stdout, stderr (fds > 2, -1 = inherit); null inherits ours.</summary>
    public int[]? StdioFds { get; init; }
}

/// <summary>
/// The engine: the OCI lifecycle (create, start, state, kill, delete) plus exec, pause,
/// resume, update, stats and ps, over state kept in a <see cref="StateStore"/>. Daemonless:
/// each call may come from a different process, so everything is reloaded from the store.
/// </summary>
public sealed class ContainerEngine(EngineOptions options)
{
    private CgroupDriver? _driver;
    public StateStore Store { get; } = new(options.Root);
    public EngineOptions Options => options;

    /// <summary>The host's cgroup mounts, read once (as <see cref="Cgroups"/> reads the layout once).</summary>
    private List<MountInfoLine> CgroupMountLines => _cgroupMountLines ??= HostView.CgroupMountsOf();
    private List<MountInfoLine>? _cgroupMountLines;

    public CgroupDriver Cgroups => _driver ??= options.CgroupDriverFactory?.Invoke() ?? CgroupDriver.Detect();

    private string SeccompCache => Path.Combine(Store.Root, ".seccomp-cache");

    // ---- create ------------------------------------------------------------------------

    public static Schema.Oci.Spec LoadSpec(string bundle) => LoadSpec(bundle, out _);

    public static Schema.Oci.Spec LoadSpec(string bundle, out byte[] bytes)
    {
        var path = Path.Combine(bundle, "config.json");
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RuntimeError($"cannot read bundle config: {path}: no such file", RuntimeErrorKind.NotFound);
        }
        return OciJson.ReadSpec(bytes, path);
    }

    /// <summary>Creates the container: namespaces, cgroup, root filesystem, and an init that
    /// waits for <see cref="Start"/>. Everything made is undone if any step fails.</summary>
    public CreatedContainer Create(string id, string bundle, CreateOptions o)
    {
        PerfTrace.Mark("create: begin");
        StateStore.CheckId(id);
        bundle = Path.GetFullPath(bundle);
        Schema.Oci.Spec spec;
        byte[] configBytes;
        if (o.Loaded is { } loaded) (spec, configBytes) = loaded;
        else spec = LoadSpec(bundle, out configBytes);
        PerfTrace.Mark("create: spec loaded");
        SpecValidator.ThrowIfInvalid(spec, Path.Combine(bundle, "config.json"));
        var rootfs = spec.Root!.Path!.StartsWith('/') ? spec.Root.Path : Path.GetFullPath(Path.Combine(bundle, spec.Root.Path));
        if (!Directory.Exists(rootfs))
            throw new DocumentException(Path.Combine(bundle, "config.json"),
                [new DocumentError("$.root.path", $"rootfs \"{rootfs}\" does not exist or is not a directory")]);
        bool terminal = spec.Process!.Terminal;
        if (terminal && o.ConsoleSocket is null && o.ConsoleFd < 0)
            throw new RuntimeError("cannot allocate tty if runhcs will detach without setting console socket");
        if (!terminal && o.ConsoleSocket is not null)
            throw new RuntimeError("cannot use console socket if runhcs will not detach or allocate tty");
        var seccomp = spec.Linux?.Seccomp is { } sc ? SeccompCompiler.Compile(sc, "$.linux.seccomp", SeccompCache) : null;

        PerfTrace.Mark("create: validated");
        Store.Claim(id);
        PerfTrace.Mark("create: claimed");
        var undo = new Stack<Action>();
        undo.Push(() => Store.Remove(id));
        try
        {
            var cgroup = Cgroups.Open(spec.Linux?.CgroupsPath, id, options.SystemdCgroup);
            // Made after the spawn, while the new child makes its mount namespace (it binds the
            // directories once told they exist, and waits for GO, which follows the join); undone
            // after the child is killed.
            bool cgroupMade = false;
            undo.Push(() => { if (cgroupMade) cgroup.Destroy(); });

            var request = ContainerPlanner.PlanCreate(spec,
                new ContainerPlanner.CreateInputs(id, bundle, rootfs, o.NoPivot, o.NoNewKeyring, o.PreserveFds, terminal),
                new HostView(cgroup.Paths, cgroupMounts: CgroupMountLines));
            ApplySeccomp(request, seccomp, spec);
            request.StdioFds = o.StdioFds;
            request.ExecPath = o.InitExecPath;
            PerfTrace.Mark("create: planned");

            int fifoFd = -1, consoleFd = -1;
            SpawnSession session;
            try
            {
                if (!o.StartViaSession)
                {
                    var fifo = Store.FifoOf(id);
                    Libc.Check(Libc.MkFifo(fifo, 0x192 /* 0622 */), $"mkfifo {fifo}");
                    // O_RDWR: the init's read then blocks until `start` writes, and never sees EOF.
                    fifoFd = Libc.Check(Libc.Open(fifo, Libc.O_RDWR | Libc.O_CLOEXEC, 0), $"open {fifo}");
                }
                consoleFd = o.ConsoleFd >= 0 ? o.ConsoleFd : terminal ? Libc.ConnectUnix(o.ConsoleSocket!) : -1;
                session = Spawn(o, request, fifoFd, consoleFd);
            }
            finally
            {
                if (fifoFd >= 0) Libc.Close(fifoFd);
                if (consoleFd >= 0 && consoleFd != o.ConsoleFd) Libc.Close(consoleFd);
            }
            PerfTrace.Mark("create: spawned");
            undo.Push(session.KillAndReap);
            undo.Push(session.Dispose);
            cgroupMade = true;
            cgroup.Create();
            session.CgroupMade();
            PerfTrace.Mark("create: cgroup created");
            // The limits go in before the child joins, while it binds the cgroup directories: it
            // enters a cgroup that is complete. After the join, a v1 device list (rewritten from
            // "deny all" up) would refuse the child's own pty or mknod for a moment.
            ApplyResources(cgroup, EffectiveResources(spec), "$.linux.resources");
            PerfTrace.Mark("create: cgroup applied");

            var record = new ContainerRecord
            {
                Id = id,
                Pid = session.Pid,
                PidStartTime = ProcStat.Read(session.Pid)?.StartTime ?? 0,
                Bundle = bundle,
                Rootfs = rootfs,
                Created = DateTime.UtcNow,
                Owner = "",
                CgroupPaths = new Dictionary<string, string>(cgroup.Paths),
                SystemdCgroup = options.SystemdCgroup,
                Config = spec,
            };
            // The state is written while the child builds its root filesystem (right after it is
            // let go at SETUP): the two would otherwise take turns. Until READY, a failure undoes it.
            DriveSetup(session, record, cgroup, spec.Process.OomScoreAdj, spec, seccomp, afterGo: () =>
            {
                Store.Save(record, withConfig: true, configBytes);
                PerfTrace.Mark("create: state saved");
            });
            PerfTrace.Mark("create: child ready");
            if (o.PidFile is { } pidFile)
            {
                StateStore.WriteAtomic(Path.GetFullPath(pidFile), record.Pid.ToString());
                undo.Push(() => File.Delete(pidFile));
            }
            if (!o.StartViaSession) session.Dispose();
            return new CreatedContainer(record, o.StartViaSession ? session : null,
                                        o.PidFile is null ? null : Path.GetFullPath(o.PidFile));
        }
        catch
        {
            while (undo.Count > 0)
            {
                try { undo.Pop()(); } catch (Exception) { /* keep undoing: leave nothing behind */ }
            }
            throw;
        }
    }

    /// <summary>The init: a waiting child of the pool when there is one for this plan, else a clone
    /// of this process.</summary>
    private static SpawnSession Spawn(CreateOptions o, SpawnRequest request, int fifoFd, int consoleFd)
    {
        if (o.Pool?.Take(request) is { } waiting)
        {
            try { return Spawner.StartWaiting(waiting, request, fifoFd, consoleFd, o.StartViaSession); }
            catch (Exception e) when (e is RegionFullException or WaitingChildLostException)
            {
                // a plan larger than the region, or a child that died waiting: the ordinary way
            }
        }
        return Spawner.Start(request, fifoFd, consoleFd, o.StartViaSession);
    }

    /// <summary>Walks the child through the protocol until it reports READY (see hcs_spawn.h).</summary>
    private void DriveSetup(SpawnSession session, ContainerRecord record, ICgroup cgroup, int? oomScoreAdj,
                            Schema.Oci.Spec spec, SeccompProgram? seccomp, Action afterGo)
    {
        for (;;)
        {
            var m = session.Receive();
            switch (m.Type)
            {
                case SpawnAbi.MsgSetup:
                    PerfTrace.Mark("create: child at setup");
                    try
                    {
                        cgroup.AddProcess(session.Pid);
                        if (oomScoreAdj is { } adj)
                            File.WriteAllText($"/proc/{session.Pid}/oom_score_adj", adj.ToString());
                        ProcessTuning.Apply(session.Pid, spec.Process);
                        // the state JSON only matters to hooks the child runs itself: "creating" for
                        // createContainer, then (after a NUL) "created" for startContainer
                        bool childHooks = spec.Hooks is { CreateContainer.Count: > 0 } or { StartContainer.Count: > 0 };
                        session.Go(childHooks
                            ? Encoding.UTF8.GetBytes(StateJson(record, ContainerStatus.Creating) + "\0" + StateJson(record, ContainerStatus.Created))
                            : default);
                    }
                    catch (Exception) when (session.PendingError() is { } childError)
                    {
                        // the child works on after SETUP (HCS_PLAN_EARLY_PATHS, the cgroup binds):
                        // its own failure, not the broken pipe it left us, is the one to report
                        throw childError;
                    }
                    PerfTrace.Mark("create: child let go");
                    afterGo();
                    break;
                case SpawnAbi.MsgHooks:
                    var state = StateJson(record, ContainerStatus.Creating);
                    HookRunner.RunAll(spec.Hooks?.Prestart, "prestart", state);
                    HookRunner.RunAll(spec.Hooks?.CreateRuntime, "createRuntime", state);
                    session.Go();
                    break;
                case SpawnAbi.MsgSeccompFd:
                    try { SeccompAgent.Send(spec.Linux!.Seccomp!, m.Fd, record, StateJson(record, ContainerStatus.Creating)); }
                    finally { if (m.Fd >= 0) Libc.Close(m.Fd); }
                    session.Go();
                    break;
                case SpawnAbi.MsgReady:
                    // the child now waits for start: the program inherits this affinity
                    ProcessTuning.ApplyAffinity(session.Pid, spec.Process?.ExecCpuAffinity?.Final, "$.process.execCPUAffinity.final");
                    return;
                case SpawnAbi.MsgError:
                    throw m.Error!;
                case 0:
                    int status = Libc.WaitForExit(session.Pid);
                    throw new RuntimeError($"container process exited during setup (status {Libc.ExitCodeOf(status)})");
                default:
                    throw new RuntimeError($"unexpected message {m.Type} from container process");
            }
            _ = seccomp;
        }
    }

    private static void ApplySeccomp(SpawnRequest request, SeccompProgram? seccomp, Schema.Oci.Spec spec)
    {
        if (seccomp is null) return;
        request.SeccompFilter = seccomp.Filter;
        request.SeccompFlags = seccomp.Flags;
        request.SeccompNotify = seccomp.UsesNotify;
        if (seccomp.UsesNotify && string.IsNullOrEmpty(spec.Linux?.Seccomp?.ListenerPath))
            throw new DocumentException("config.json", [new DocumentError("$.linux.seccomp.listenerPath", "required with SCMP_ACT_NOTIFY")]);
    }

    /// <summary>Writes limits; a value the kernel refuses is reported with the JSON path of the
    /// setting behind the cgroup file it was written to.</summary>
    private static void ApplyResources(ICgroup cgroup, Resources resources, string root)
    {
        try
        {
            cgroup.Apply(resources);
        }
        catch (CgroupException e) when (CgroupFileSetting(e.Message) is { } setting)
        {
            throw new CgroupException($"{root}.{setting}: {e.Message}", e.Errno);
        }
    }

    /// <summary>Which resources setting a cgroup file carries (v1 and v2 names).</summary>
    public static string? CgroupFileSetting(string message)
    {
        (string File, string Setting)[] table =
        [
            ("memory.memsw.limit_in_bytes", "memory.swap"), ("memory.swap.max", "memory.swap"),
            ("memory.limit_in_bytes", "memory.limit"), ("memory.max", "memory.limit"),
            ("memory.soft_limit_in_bytes", "memory.reservation"), ("memory.low", "memory.reservation"),
            ("memory.kmem.tcp.limit_in_bytes", "memory.kernelTCP"), ("memory.kmem.limit_in_bytes", "memory.kernel"),
            ("memory.swappiness", "memory.swappiness"), ("memory.oom_control", "memory.disableOOMKiller"),
            ("cpu.shares", "cpu.shares"), ("cpu.weight", "cpu.shares"), ("cpu.cfs_quota_us", "cpu.quota"),
            ("cpu.cfs_period_us", "cpu.period"), ("cpu.max", "cpu.quota"), ("cpu.rt_runtime_us", "cpu.realtimeRuntime"),
            ("cpu.rt_period_us", "cpu.realtimePeriod"), ("cpu.idle", "cpu.idle"), ("cpuset.cpus", "cpu.cpus"),
            ("cpuset.mems", "cpu.mems"), ("pids.max", "pids.limit"), ("blkio.", "blockIO"), ("io.", "blockIO"),
            ("hugetlb.", "hugepageLimits"), ("devices.", "devices"), ("net_cls.", "network.classID"),
            ("net_prio.", "network.priorities"),
        ];
        foreach (var (file, setting) in table)
            if (message.Contains("/" + file, StringComparison.Ordinal) || message.StartsWith(file, StringComparison.Ordinal))
                return setting;
        return null;
    }

    /// <summary>The device rules runc applies: the spec's own, then the devices every container
    /// needs, then each device of linux.devices.</summary>
    public static Resources EffectiveResources(Schema.Oci.Spec spec)
    {
        var src = spec.Linux?.Resources;
        var r = new Resources
        {
            Memory = src?.Memory, Cpu = src?.Cpu, Pids = src?.Pids, BlockIO = src?.BlockIO,
            HugepageLimits = src?.HugepageLimits, Network = src?.Network, Rdma = src?.Rdma, Unified = src?.Unified,
        };
        var devices = new List<DeviceCgroup>(src?.Devices ?? []);
        devices.Add(new DeviceCgroup { Allow = true, Type = "c", Access = "m" });
        devices.Add(new DeviceCgroup { Allow = true, Type = "b", Access = "m" });
        foreach (var (_, major, minor) in MountPlanner.DefaultDevices)
            devices.Add(new DeviceCgroup { Allow = true, Type = "c", Major = major, Minor = minor, Access = "rwm" });
        devices.Add(new DeviceCgroup { Allow = true, Type = "c", Major = 5, Minor = 1, Access = "rwm" });   // console
        devices.Add(new DeviceCgroup { Allow = true, Type = "c", Major = 5, Minor = 2, Access = "rwm" });   // ptmx
        devices.Add(new DeviceCgroup { Allow = true, Type = "c", Major = 136, Access = "rwm" });           // pts/*
        foreach (var d in spec.Linux?.Devices ?? [])
            devices.Add(new DeviceCgroup { Allow = true, Type = d.Type == "p" ? "c" : d.Type == "u" ? "c" : d.Type, Major = d.Major, Minor = d.Minor, Access = "rwm" });
        r.Devices = devices;
        return r;
    }

    /// <summary>The OCI state document hooks receive on stdin (written by hand: hot path).</summary>
    public static string StateJson(ContainerRecord record, ContainerStatus status)
    {
        using var ms = new MemoryStream(256);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", SpecVersion.Current);
            w.WriteString("id", record.Id);
            w.WriteString("status", status.Name());
            w.WriteNumber("pid", status == ContainerStatus.Stopped ? 0 : record.Pid);
            w.WriteString("bundle", record.Bundle);
            if (record.Config.Annotations is { Count: > 0 } annotations)
            {
                w.WriteStartObject("annotations");
                foreach (var (k, v) in annotations) w.WriteString(k, v);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
    }

    // ---- start -------------------------------------------------------------------------

    public void Start(string id) => Start(Store.Load(id));

    /// <summary>Start with the record the caller kept since create (hcs-monitor): no state files
    /// read. Its config needs only what start and delete use (hooks, namespaces).
    /// <paramref name="knownCreated"/>: the caller knows the container is created and not paused
    /// (hcs-monitor watches its init and was never asked to start it; hcsd refuses to start a
    /// paused system), so its status is not read again (/proc, the freezer: a tenth of a
    /// millisecond of every start). A container whose init has gone is still refused.</summary>
    public void Start(ContainerRecord record, bool knownCreated = false)
    {
        var id = record.Id;
        switch (knownCreated ? ContainerStatus.Created : StatusOf(record))
        {
            case ContainerStatus.Stopped: throw new RuntimeError("cannot start a container that has stopped", RuntimeErrorKind.InvalidState);
            case ContainerStatus.Running: throw new RuntimeError("cannot start an already running container", RuntimeErrorKind.InvalidState);
            case ContainerStatus.Paused: throw new RuntimeError("cannot start a paused container", RuntimeErrorKind.InvalidState);
        }
        var fifo = Store.FifoOf(id);
        int fd = Libc.Open(fifo, Libc.O_WRONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = Libc.Errno;
            if (errno == Libc.ENXIO) throw new RuntimeError("cannot start a container whose process has exited", RuntimeErrorKind.InvalidState);
            throw new ErrnoException(errno, $"open exec fifo {fifo}");
        }
        unsafe
        {
            byte b = (byte)'0';
            nint n = Libc.Write(fd, &b, 1);
            int errno = Libc.Errno;
            if (n != 1)
            {
                Libc.Close(fd);
                throw new ErrnoException(errno, "signal the container to start");
            }
            Libc.Unlink(fifo);
            // The init keeps its end of the fifo open (close-on-exec) until execve: when no
            // reader is left, the program runs and poststart hooks may follow (the spec's order).
            if (record.Config.Hooks?.Poststart is { Count: > 0 })
            {
                var pfd = new Libc.PollFd { Fd = fd, Events = 0 };
                Libc.Poll(&pfd, 1, 60_000);
            }
            Libc.Close(fd);
        }
        RunPoststart(record);
    }

    /// <summary>`run`: release a container created with <see cref="CreateOptions.StartViaSession"/>
    /// and learn whether its execve succeeded.</summary>
    public void StartSession(CreatedContainer created)
    {
        var session = created.Session ?? throw new InvalidOperationException("created without a session");
        SpawnMessage m;
        try
        {
            session.Go();
            m = session.Receive();
        }
        catch (ErrnoException e)
        {
            // it died before GO arrived: of its own error (it drops its privileges after READY),
            // which it sent, or killed; undone below either way
            m = new SpawnMessage(SpawnAbi.MsgError, -1, session.PendingError() ?? new SpawnException(e.Errno, "start the container process", ""));
        }
        session.Dispose();
        if (m.Type == SpawnAbi.MsgError)
        {
            Libc.WaitForExit(created.Record.Pid);
            Destroy(created.Record);
            if (created.PidFile is { } pidFile) File.Delete(pidFile);
            throw m.Error!;
        }
        RunPoststart(created.Record);
    }

    private void RunPoststart(ContainerRecord record)
    {
        foreach (var w in HookRunner.RunAllWarn(record.Config.Hooks?.Poststart, "poststart",
                     () => StateJson(record, ContainerStatus.Running)))
            options.Warn?.Invoke(w);
    }

    // ---- state -------------------------------------------------------------------------

    public ContainerStatus StatusOf(ContainerRecord record)
    {
        if (record.Pid <= 0) return ContainerStatus.Stopped;
        var stat = ProcStat.Read(record.Pid);
        if (stat is null || stat.Value.IsGone || (record.PidStartTime != 0 && stat.Value.StartTime != record.PidStartTime))
            return ContainerStatus.Stopped;
        // frozen first: a created container can be paused too (and resumes to created)
        if (record.CgroupPaths.Count > 0 && Cgroups.Load(record.CgroupPaths).IsFrozen()) return ContainerStatus.Paused;
        return File.Exists(Store.FifoOf(record.Id)) ? ContainerStatus.Created : ContainerStatus.Running;
    }

    public ContainerSummary Summarize(ContainerRecord record)
    {
        var status = StatusOf(record);
        return new ContainerSummary
        {
            Id = record.Id,
            Pid = status == ContainerStatus.Stopped ? 0 : record.Pid,
            Status = status.Name(),
            Bundle = record.Bundle,
            Rootfs = record.Rootfs,
            Created = record.Created,
            Annotations = record.Config.Annotations,
            Owner = record.Owner,
        };
    }

    public List<ContainerSummary> List()
    {
        var result = new List<ContainerSummary>();
        foreach (var id in Store.Ids())
        {
            try { result.Add(Summarize(Store.Load(id))); }
            catch (RuntimeError) { /* removed while we listed */ }
        }
        return result;
    }

    // ---- kill / delete -----------------------------------------------------------------

    public void Kill(string id, int signal, bool all)
    {
        var record = Store.Load(id);
        var status = StatusOf(record);
        if (status == ContainerStatus.Stopped && !all)
            throw new RuntimeError("container not running", RuntimeErrorKind.InvalidState);
        if (all)
        {
            var cgroup = Cgroups.Load(record.CgroupPaths);
            if (signal == 9) cgroup.KillAll();
            else SignalAll(cgroup, signal);
            return;
        }
        ProcessSignals.Send(record.Pid, record.PidStartTime, signal);
    }

    /// <summary>Signals every process of the cgroup while it is frozen, so none can fork away.</summary>
    private static void SignalAll(ICgroup cgroup, int signal)
    {
        bool wasFrozen = cgroup.IsFrozen();
        if (!wasFrozen) cgroup.Freeze();
        try
        {
            foreach (var pid in cgroup.GetPids()) Libc.Kill(pid, signal);
        }
        finally
        {
            if (!wasFrozen) cgroup.Thaw();
        }
    }

    public void Delete(string id, bool force)
    {
        ContainerRecord record;
        try { record = Store.Load(id); }
        catch (RuntimeError e) when (e.Kind == RuntimeErrorKind.NotFound)
        {
            // an aborted create can leave a directory without state.json: clear it
            if (Directory.Exists(Store.DirOf(id))) Store.Remove(id);
            if (force) return;
            throw;
        }
        PerfTrace.Mark("delete: loaded");
        Delete(record, force);
    }

    /// <summary>Delete with the record the caller kept since create (see <see cref="Start(ContainerRecord)"/>).
    /// <paramref name="cgroupGone"/>: the caller removed the cgroup already, after the init exited
    /// (hcs-monitor does, with the container's own pid namespace): it is not tried again.</summary>
    public void Delete(ContainerRecord record, bool force, bool cgroupGone = false)
    {
        var id = record.Id;
        var status = StatusOf(record);
        PerfTrace.Mark("delete: status");
        if (status is ContainerStatus.Running or ContainerStatus.Paused && !force)
            throw new RuntimeError($"cannot delete container {id} that is not stopped: {status.Name()}", RuntimeErrorKind.InvalidState);
        if (status != ContainerStatus.Stopped)
        {
            KillAndWait(record);
            cgroupGone = false;
        }
        Destroy(record, cgroupGone);
    }

    /// <summary>`run` in the foreground: the init has exited and we still hold its record; tear
    /// the container down without reloading anything (kills leftovers of a shared pid namespace).</summary>
    public void DeleteExited(ContainerRecord record)
    {
        bool ownPidns = record.Config.Linux?.Namespaces?.Exists(n => n.Type == "pid" && string.IsNullOrEmpty(n.Path)) ?? false;
        if (!ownPidns && record.CgroupPaths.Count > 0)
        {
            var cgroup = Cgroups.Load(record.CgroupPaths);
            if (cgroup.GetPids().Count > 0) KillAndWait(record);
        }
        Destroy(record);
    }

    /// <summary>SIGKILL to every process of the container, then wait until they are gone.
    /// Waits on pidfds (no polling with sleeps): each becomes readable when its process exits.</summary>
    private void KillAndWait(ContainerRecord record)
    {
        var cgroup = record.CgroupPaths.Count > 0 ? Cgroups.Load(record.CgroupPaths) : null;
        bool ownPidns = record.Config.Linux?.Namespaces?.Exists(n => n.Type == "pid" && string.IsNullOrEmpty(n.Path)) ?? false;
        var pids = new List<int> { record.Pid };
        if (!ownPidns && cgroup is not null)
            foreach (var p in cgroup.GetPids()) if (p != record.Pid) pids.Add(p);
        var pidfds = ProcessSignals.OpenAll(pids, record.Pid, record.PidStartTime);
        try
        {
            // Killing the init of a pid namespace kills everything in it; otherwise kill each.
            if (ownPidns || cgroup is null) ProcessSignals.SendKill(pidfds);
            else cgroup.KillAll();
            cgroup?.Thaw();
            ProcessSignals.WaitAll(pidfds, TimeSpan.FromSeconds(10));
        }
        finally
        {
            foreach (var fd in pidfds) Libc.Close(fd);
        }
    }

    /// <summary>Removes what a stopped container still holds: cgroup, state; runs poststop.</summary>
    private void Destroy(ContainerRecord record, bool cgroupGone = false)
    {
        if (record.CgroupPaths.Count > 0 && !cgroupGone)
        {
            var cgroup = Cgroups.Load(record.CgroupPaths);
            PerfTrace.Mark("destroy: cgroup loaded");
            if (!cgroup.Destroy())
            {
                // leftover processes (e.g. a host-pid-namespace container whose children
                // outlived the init): kill them rather than leak a cgroup
                cgroup.KillAll();
                if (!cgroup.Destroy()) throw new RuntimeError($"cgroup of {record.Id} still has processes");
            }
        }
        PerfTrace.Mark("destroy: cgroup destroyed");
        foreach (var w in HookRunner.RunAllWarn(record.Config.Hooks?.Poststop, "poststop", () => StateJson(record, ContainerStatus.Stopped)))
            options.Warn?.Invoke(w);
        Store.Remove(record.Id);
        PerfTrace.Mark("destroy: state removed");
    }

    // ---- pause / resume / update / stats / ps -------------------------------------------

    public void Pause(string id)
    {
        var record = Store.Load(id);
        var status = StatusOf(record);
        if (status is not (ContainerStatus.Running or ContainerStatus.Created))
            throw new RuntimeError("container not running", RuntimeErrorKind.InvalidState);
        Cgroups.Load(record.CgroupPaths).Freeze();
    }

    public void Resume(string id)
    {
        var record = Store.Load(id);
        if (StatusOf(record) != ContainerStatus.Paused)
            throw new RuntimeError("container not paused", RuntimeErrorKind.InvalidState);
        Cgroups.Load(record.CgroupPaths).Thaw();
    }

    public void Update(string id, Resources resources)
    {
        var record = Store.Load(id);
        if (StatusOf(record) == ContainerStatus.Stopped)
            throw new RuntimeError("container not running", RuntimeErrorKind.InvalidState);
        // As runc: device rules are fixed at create. An orchestrator resending the full
        // resources (CRI resize does) must not replace the device filter without the defaults.
        resources.Devices = null;
        var errors = new DocumentErrors();
        SpecValidator.ValidateResources(resources, "$", errors);
        errors.ThrowIfAny("resources");
        ApplyResources(Cgroups.Load(record.CgroupPaths), resources, "$");
        record.Config.Linux ??= new OciLinux();
        record.Config.Linux.Resources = ResourceMerge.Merge(record.Config.Linux.Resources, resources);
        Store.Save(record, withConfig: true);
    }

    public CgroupStats Stats(string id)
    {
        var record = Store.Load(id);
        if (StatusOf(record) == ContainerStatus.Stopped)
            throw new RuntimeError("container not running", RuntimeErrorKind.InvalidState);
        return Cgroups.Load(record.CgroupPaths).GetStats();
    }

    public IReadOnlyList<int> Pids(string id)
    {
        var record = Store.Load(id);
        return record.CgroupPaths.Count == 0 ? [] : Cgroups.Load(record.CgroupPaths).GetPids();
    }

    public ulong OomKills(ContainerRecord record) => Cgroups.Load(record.CgroupPaths).OomKillCount();

    // ---- exec --------------------------------------------------------------------------

    /// <summary>Starts a process inside a running container. The returned session is open:
    /// <see cref="ExecProcess.WaitStarted"/> tells whether its execve succeeded.</summary>
    public ExecProcess Exec(string id, Process process, ExecOptions o)
    {
        var record = Store.Load(id);
        var status = StatusOf(record);
        if (status == ContainerStatus.Stopped) throw new RuntimeError("cannot exec in a stopped container", RuntimeErrorKind.InvalidState);
        if (status == ContainerStatus.Paused) throw new RuntimeError("cannot exec in a paused container", RuntimeErrorKind.InvalidState);
        var errors = new DocumentErrors();
        SpecValidator.ValidateProcess(process, "$", errors, requireArgs: true);
        errors.ThrowIfAny("process");
        bool terminal = process.Terminal;
        if (terminal && o.ConsoleSocket is null && o.ConsoleFd < 0)
            throw new RuntimeError("cannot allocate tty if runhcs will detach without setting console socket");

        var request = ContainerPlanner.PlanExec(record.Config, record.Pid, process, terminal, o.PreserveFds);
        request.StdioFds = o.StdioFds;
        var seccomp = record.Config.Linux?.Seccomp is { } sc ? SeccompCompiler.Compile(sc, "$.linux.seccomp", SeccompCache) : null;
        if (seccomp is not null)
        {
            request.SeccompFilter = seccomp.Filter;
            request.SeccompFlags = seccomp.Flags & ~SeccompFlags.NewListener;
        }
        var cgroup = Cgroups.Load(record.CgroupPaths);
        int consoleFd = o.ConsoleFd >= 0 ? o.ConsoleFd : terminal ? Libc.ConnectUnix(o.ConsoleSocket!) : -1;
        SpawnSession session;
        try { session = Spawner.Start(request, -1, consoleFd, startViaSync: false); }
        finally { if (consoleFd >= 0 && consoleFd != o.ConsoleFd) Libc.Close(consoleFd); }
        try
        {
            for (;;)
            {
                var m = session.Receive();
                if (m.Type == SpawnAbi.MsgSetup)
                {
                    cgroup.AddProcess(session.Pid);
                    if (process.OomScoreAdj is { } adj) File.WriteAllText($"/proc/{session.Pid}/oom_score_adj", adj.ToString());
                    ProcessTuning.Apply(session.Pid, process);
                    // an exec'd process does not wait after READY: its final affinity goes in now
                    ProcessTuning.ApplyAffinity(session.Pid, process.ExecCpuAffinity?.Final ?? process.ExecCpuAffinity?.Initial,
                                                "$.process.execCPUAffinity");
                    session.Go();
                }
                else if (m.Type == SpawnAbi.MsgReady) break;
                else if (m.Type == SpawnAbi.MsgError) throw m.Error!;
                else if (m.Type == 0) throw new RuntimeError("process exited during setup");
            }
            if (o.PidFile is { } pidFile) StateStore.WriteAtomic(Path.GetFullPath(pidFile), session.Pid.ToString());
            return new ExecProcess(session);
        }
        catch
        {
            session.KillAndReap();
            session.Dispose();
            throw;
        }
    }
}

/// <summary>A container right after create; Session is open only for `run` (start via session).</summary>
public sealed record CreatedContainer(ContainerRecord Record, SpawnSession? Session, string? PidFile = null);

/// <summary>A process started by exec. It is our child: wait for it with waitpid.</summary>
public sealed class ExecProcess(SpawnSession session)
{
    public int Pid => session.Pid;

    /// <summary>Returns once execve has happened (EOF on the sync socket), or throws its error.</summary>
    public void WaitStarted()
    {
        var m = session.Receive();
        session.Dispose();
        if (m.Type == SpawnAbi.MsgError)
        {
            Libc.WaitForExit(Pid);
            throw m.Error!;
        }
    }
}

internal static class SeccompFlags
{
    public const uint NewListener = 8;
}
