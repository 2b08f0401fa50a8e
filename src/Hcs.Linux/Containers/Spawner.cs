using Hcs.Linux.Native;
using Hcs.Linux.Spec;

namespace Hcs.Linux.Containers;

/// <summary>
/// Turns a <see cref="SpawnRequest"/> into the native plan and starts the child with
/// hcs_spawn. The returned <see cref="SpawnSession"/> carries the pid and the parent's end of
/// the sync socket; the caller drives the protocol (cgroups, hooks) with it.
/// </summary>
public static unsafe class Spawner
{
    /// <summary>Bytes the child reserves for the state JSON its hooks receive.</summary>
    private const int StateBufferSize = 256 * 1024;

    public static SpawnSession Start(SpawnRequest r, int startFd, int consoleFd, bool startViaSync)
    {
        int* pair = stackalloc int[2];
        Libc.Check(Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0, pair), "socketpair");
        int parentFd = pair[0], childFd = pair[1];
        var opened = new List<int>();
        try
        {
            using var arena = new NativeArena();
            var plan = (SpawnAbi.Plan*)arena.Alloc(sizeof(SpawnAbi.Plan));
            Fill(plan, r, arena, opened);
            plan->SyncFd = childFd;
            plan->StartFd = startViaSync ? childFd : startFd;
            plan->ConsoleFd = consoleFd;

            int pid;
            SpawnAbi.Error error;
            if (SpawnAbi.Spawn(plan, parentFd, &pid, &error) < 0)
                throw SpawnException.From(error).Locate(r);
            return new SpawnSession(pid, parentFd, r);
        }
        catch
        {
            Libc.Close(parentFd);
            throw;
        }
        finally
        {
            // The child has its own copies now; ours must go, or EOF on the sync socket (the
            // sign that the child died or exec'd) would never come.
            Libc.Close(childFd);
            foreach (var fd in opened) Libc.Close(fd);
        }
    }

    /// <summary>
    /// As <see cref="Start"/>, with a child the zygote made ahead of time (<see cref="SpawnPool"/>):
    /// the plan is built in the child's shared region and handed over with the fds it names. The
    /// child is ours from here on: on failure it is discarded (killed and reaped).
    /// </summary>
    public static SpawnSession StartWaiting(WaitingChild child, SpawnRequest r, int startFd, int consoleFd, bool startViaSync)
    {
        var opened = new List<int>();
        try
        {
            var w = child.Native;
            using var arena = new NativeArena(w.Region, (nint)w.RegionLength);
            var plan = (SpawnAbi.Plan*)arena.Alloc(sizeof(SpawnAbi.Plan));
            Fill(plan, r, arena, opened);
            // the child has its own end of the sync socket: -2 only marks "start via the socket"
            plan->SyncFd = -2;
            plan->StartFd = startViaSync ? -2 : startFd;
            plan->ConsoleFd = consoleFd;
            SpawnAbi.Error error;
            if (SpawnAbi.SendPlan(&w, plan, &error) < 0)
                throw new WaitingChildLostException(SpawnException.From(error));
            return new SpawnSession(child.Pid, child.TakeSyncFd(), r);
        }
        catch
        {
            child.Discard();
            throw;
        }
        finally
        {
            // the child received its own copies; the region it keeps mapped until execve
            foreach (var fd in opened) Libc.Close(fd);
            child.ReleaseRegion();
        }
    }

    private static void Fill(SpawnAbi.Plan* p, SpawnRequest r, NativeArena a, List<int> opened)
    {
        p->Abi = SpawnAbi.Version;
        var flags = SpawnAbi.PlanFlags.None;
        if (r.IsExec) flags |= SpawnAbi.PlanFlags.Exec;
        if (r.NoPivot) flags |= SpawnAbi.PlanFlags.NoPivot;
        if (r.RootReadonly) flags |= SpawnAbi.PlanFlags.RootReadonly;
        if (r.KeyringName is not null) flags |= SpawnAbi.PlanFlags.NewKeyring;
        if (r.Terminal) flags |= SpawnAbi.PlanFlags.Terminal;
        if (r.ConsoleMount) flags |= SpawnAbi.PlanFlags.ConsoleMount;
        if (r.EarlyPaths) flags |= SpawnAbi.PlanFlags.EarlyPaths;
        if (r.NoNewPrivileges) flags |= SpawnAbi.PlanFlags.NoNewPrivs;
        if (r.Umask is not null) flags |= SpawnAbi.PlanFlags.SetUmask;
        if (r.Personality is not null) flags |= SpawnAbi.PlanFlags.Personality;
        if (r.SetupRootfs) flags |= SpawnAbi.PlanFlags.SetupRootfs;
        if (r.HookSync) flags |= SpawnAbi.PlanFlags.HookSync;
        if (r.SeccompNotify) flags |= SpawnAbi.PlanFlags.SeccompNotify;
        p->Flags = flags;
        p->CloneFlags = r.CloneFlags;

        p->Joins = a.Array<SpawnAbi.NsJoin>(r.Joins.Count);
        p->NJoins = (uint)r.Joins.Count;
        for (int i = 0; i < r.Joins.Count; i++)
        {
            var j = r.Joins[i];
            int fd = Libc.Open(j.Path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw new SpawnException(Libc.Errno, $"open {j.Type} namespace", j.Path) { ConfigPath = j.ConfigPath };
            opened.Add(fd);
            p->Joins[i] = new SpawnAbi.NsJoin { Fd = fd, Type = (int)LinuxNames.Namespaces[j.Type].Flag };
        }
        p->PreserveFds = r.PreserveFds;
        if (r.StdioFds is { Length: not 3 })
            throw new ArgumentException("StdioFds must hold exactly stdin, stdout and stderr", nameof(r));
        for (int i = 0; i < 3; i++) p->StdioFds[i] = r.StdioFds?[i] ?? -1;
        p->ExecFd = -1;
        if (r.ExecPath is { } exe)
        {
            int fd = Libc.Open(exe, Libc.O_PATH | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw new SpawnException(Libc.Errno, "open executable", exe);
            opened.Add(fd);
            p->ExecFd = fd;
        }
        p->ConsoleRows = r.ConsoleRows;
        p->ConsoleCols = r.ConsoleCols;
        p->TimensOffsets = a.Str(r.TimeOffsets);
        p->UidMap = a.Str(r.UidMap);
        p->GidMap = a.Str(r.GidMap);
        p->KeyringName = a.Str(r.KeyringName);

        p->Rootfs = a.Str(r.Rootfs);
        p->RootPropagation = r.RootPropagation;
        p->RootfsParentMount = a.Str(r.RootfsParentMount);
        p->RootfsPropagation = r.RootfsPropagation;
        p->Steps = a.Array<SpawnAbi.MountStep>(r.Steps.Count);
        p->NSteps = (uint)r.Steps.Count;
        p->NEarlySteps = (uint)r.EarlySteps;
        p->NMadeSteps = (uint)r.MadeSteps;
        for (int i = 0; i < r.Steps.Count; i++)
            FillStep(&p->Steps[i], r.Steps[i], a, opened);
        p->MaskedPaths = a.StrArray(r.MaskedPaths);
        p->NMaskedPaths = (uint)r.MaskedPaths.Count;
        p->ReadonlyPaths = a.StrArray(r.ReadonlyPaths);
        p->NReadonlyPaths = (uint)r.ReadonlyPaths.Count;
        var sysctls = new List<string>(r.Sysctls.Count * 2);
        foreach (var kv in r.Sysctls) { sysctls.Add(kv.Key); sysctls.Add(kv.Value); }
        p->Sysctls = a.StrArray(sysctls);
        p->NSysctls = (uint)r.Sysctls.Count;
        p->Hostname = a.Str(r.Hostname);
        p->Domainname = a.Str(r.Domainname);

        p->Argv = a.StrArray(r.Args);
        p->Envp = a.StrArray(r.Env);
        p->Cwd = a.Str(r.Cwd);
        p->Uid = r.Uid;
        p->Gid = r.Gid;
        p->Groups = a.Array<uint>(r.AdditionalGids.Count);
        for (int i = 0; i < r.AdditionalGids.Count; i++) p->Groups[i] = r.AdditionalGids[i];
        p->NGroups = (uint)r.AdditionalGids.Count;
        p->Umask = r.Umask ?? 0;
        p->Personality = (uint)(r.Personality ?? 0);
        p->Rlimits = a.Array<SpawnAbi.Rlimit>(r.Rlimits.Count);
        p->NRlimits = (uint)r.Rlimits.Count;
        for (int i = 0; i < r.Rlimits.Count; i++)
            p->Rlimits[i] = new SpawnAbi.Rlimit { Resource = r.Rlimits[i].Resource, Soft = r.Rlimits[i].Soft, Hard = r.Rlimits[i].Hard };
        if (r.Capabilities is { } caps)
        {
            p->HasCaps = 1;
            p->CapBounding = caps.Bounding;
            p->CapEffective = caps.Effective;
            p->CapPermitted = caps.Permitted;
            p->CapInheritable = caps.Inheritable;
            p->CapAmbient = caps.Ambient;
        }
        if (r.SeccompFilter is { Length: > 0 } filter)
        {
            p->SeccompFilter = a.Bytes(filter);
            p->SeccompLen = (uint)(filter.Length / 8);
            p->SeccompFlags = r.SeccompFlags;
        }
        p->CreateContainerHooks = Hooks(r.CreateContainerHooks, a);
        p->NCreateContainerHooks = (uint)r.CreateContainerHooks.Count;
        p->StartContainerHooks = Hooks(r.StartContainerHooks, a);
        p->NStartContainerHooks = (uint)r.StartContainerHooks.Count;
        if (r.CreateContainerHooks.Count + r.StartContainerHooks.Count > 0)
        {
            p->StateBuf = (byte*)a.Alloc(StateBufferSize);
            p->StateBufLen = StateBufferSize;
        }
    }

    private static void FillStep(SpawnAbi.MountStep* s, MountStep m, NativeArena a, List<int> opened)
    {
        s->Kind = (uint)m.Kind;
        s->TargetKind = m.TargetIsFile ? SpawnAbi.TargetFile : SpawnAbi.TargetDir;
        s->Source = a.Str(m.Source);
        s->Target = a.Str(m.Target);
        s->FsType = a.Str(m.FsType);
        s->Data = a.Str(m.Data);
        s->Flags = m.Flags;
        s->AttrSet = m.AttrSet;
        s->AttrClr = m.AttrClear;
        s->Propagation = m.Propagation;
        s->Recursive = m.Recursive ? 1u : 0u;
        s->Mode = m.Mode;
        s->Dev = m.Device;
        s->Uid = m.Uid;
        s->Gid = m.Gid;
        s->Optional = m.Optional ? 1u : 0u;
        s->UsernsFd = -1;
        if (m.IdMap is { } map)
        {
            SpawnAbi.Error e;
            int fd = SpawnAbi.MakeUserns(a.Str(map.Uid), a.Str(map.Gid), &e);
            if (fd < 0) throw SpawnException.From(e);
            opened.Add(fd);
            s->UsernsFd = fd;
        }
    }

    private static SpawnAbi.Hook* Hooks(List<Schema.Oci.Hook> hooks, NativeArena a)
    {
        var h = a.Array<SpawnAbi.Hook>(hooks.Count);
        for (int i = 0; i < hooks.Count; i++)
            HookRunner.Fill(&h[i], hooks[i], a);
        return h;
    }
}

/// <summary>The parent's side of a spawned child: its pid and the sync socket.</summary>
public sealed unsafe class SpawnSession(int pid, int syncFd, SpawnRequest request) : IDisposable
{
    public int Pid { get; } = pid;
    public SpawnRequest Request { get; } = request;
    public int SyncFd { get; private set; } = syncFd;

    /// <summary>Next message from the child; Type 0 means EOF (it exec'd or died).</summary>
    public SpawnMessage Receive()
    {
        SpawnAbi.Msg m;
        int fd;
        int n = SpawnAbi.SyncRecv(SyncFd, &m, &fd);
        // A child that exits with a message of ours unread (CgroupMade, GO) resets the socket,
        // and the kernel reports the reset before what the child sent first (its error among
        // them): read on past it, once. After it comes that message, or the end (0).
        if (n < 0 && Libc.Errno == Libc.ECONNRESET) n = SpawnAbi.SyncRecv(SyncFd, &m, &fd);
        if (n < 0) throw new ErrnoException(Libc.Errno, "read from container process");
        if (n == 0) return new SpawnMessage(0, -1, null);
        if (m.Type == SpawnAbi.MsgError) return new SpawnMessage(m.Type, fd, SpawnException.From(m.Error).Locate(Request));
        return new SpawnMessage(m.Type, fd, null);
    }

    /// <summary>The child's failure if it has reported one and nothing else is waiting (checked
    /// without blocking): a step of ours that failed because the child died of its own error
    /// should report the child's.</summary>
    public SpawnException? PendingError()
    {
        var p = new Libc.PollFd { Fd = SyncFd, Events = Libc.POLLIN };
        if (Libc.Poll(&p, 1, 0) <= 0 || (p.Revents & (Libc.POLLIN | Libc.POLLHUP)) == 0) return null;
        try { return Receive() is { Type: SpawnAbi.MsgError } m ? m.Error : null; }
        catch (ErrnoException) { return null; }
    }

    public void Go(ReadOnlySpan<byte> payload = default) => Send(SpawnAbi.MsgGo, payload);

    /// <summary>Tells the child its cgroup's directories exist, when its plan has steps that
    /// wait for that (<see cref="SpawnRequest.MadeSteps"/>). A child that is gone is not an
    /// error here: its own report, or its exit, is what the next <see cref="Receive"/> finds.</summary>
    public void CgroupMade()
    {
        if (Request.MadeSteps <= Request.EarlySteps) return;
        try { Send(SpawnAbi.MsgCgroupMade, default); }
        catch (ErrnoException) { }
    }

    private void Send(uint type, ReadOnlySpan<byte> payload)
    {
        int size = sizeof(SpawnAbi.Msg) + payload.Length;
        var buf = size <= 4096 ? stackalloc byte[size] : new byte[size];
        buf.Clear();
        fixed (byte* b = buf)
        {
            ((SpawnAbi.Msg*)b)->Type = type;
            payload.CopyTo(buf[sizeof(SpawnAbi.Msg)..]);
            // SOCK_SEQPACKET: one write is one message, delivered whole or not at all.
            if (Libc.Write(SyncFd, b, size) != size)
                throw new ErrnoException(Libc.Errno, "resume container process");
        }
    }

    /// <summary>Kills the child (if the session failed midway) and reaps it.</summary>
    public void KillAndReap()
    {
        Libc.Kill(Pid, 9);
        try { Libc.WaitForExit(Pid); } catch (ErrnoException) { }
    }

    public void Dispose()
    {
        if (SyncFd >= 0) Libc.Close(SyncFd);
        SyncFd = -1;
    }
}

public readonly record struct SpawnMessage(uint Type, int Fd, SpawnException? Error);

/// <summary>A failure inside the spawn: which step, errno, the path or name involved, and
/// (when known) the config value behind it as a JSON path ("$.mounts[3]").</summary>
public sealed class SpawnException(int errno, string step, string detail) : Exception
{
    public int Errno { get; } = errno;
    public string Step { get; } = step;
    public string Detail { get; } = detail;
    public SpawnAbi.Area Area { get; init; }
    public int Index { get; init; } = -1;
    public string? ConfigPath { get; init; }

    public override string Message
    {
        get
        {
            var text = Detail.Length > 0 ? $"{Step} {Detail}" : Step;
            if (Errno != 0) text += ": " + System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(Errno);
            return ConfigPath is null ? text : $"{ConfigPath}: {text}";
        }
    }

    internal static SpawnException From(in SpawnAbi.Error e) =>
        new(e.Err, e.StepText, e.DetailText) { Area = (SpawnAbi.Area)e.Area, Index = e.Index };

    /// <summary>Names the config value this failure is about, from the plan it came from.</summary>
    public SpawnException Locate(SpawnRequest r)
    {
        if (ConfigPath is not null) return this;
        string? path = Area switch
        {
            SpawnAbi.Area.Step when Index >= 0 && Index < r.Steps.Count => r.Steps[Index].ConfigPath,
            SpawnAbi.Area.Masked => $"$.linux.maskedPaths[{Index}]",
            SpawnAbi.Area.Readonly => $"$.linux.readonlyPaths[{Index}]",
            SpawnAbi.Area.Sysctl when Index >= 0 && Index < r.Sysctls.Count =>
                Schema.JsonMapper.Child("$.linux.sysctl", r.Sysctls[Index].Key.Replace('/', '.')),
            SpawnAbi.Area.CreateContainer => $"$.hooks.createContainer[{Index}]",
            SpawnAbi.Area.StartContainer => $"$.hooks.startContainer[{Index}]",
            SpawnAbi.Area.Rlimit => $"{r.ProcessPath}.rlimits[{Index}]",
            SpawnAbi.Area.Join when Index >= 0 && Index < r.Joins.Count => r.Joins[Index].ConfigPath,
            SpawnAbi.Area.Hostname => "$.hostname",
            SpawnAbi.Area.Domainname => "$.domainname",
            SpawnAbi.Area.Cwd => $"{r.ProcessPath}.cwd",
            SpawnAbi.Area.Exec => $"{r.ProcessPath}.args[0]",
            SpawnAbi.Area.Rootfs => "$.root.path",
            SpawnAbi.Area.User => $"{r.ProcessPath}.user",
            SpawnAbi.Area.Seccomp => "$.linux.seccomp",
            SpawnAbi.Area.Terminal => $"{r.ProcessPath}.terminal",
            _ => null,
        };
        return path is null ? this : new SpawnException(Errno, Step, Detail) { Area = Area, Index = Index, ConfigPath = path };
    }
}

/// <summary>A waiting child could not take its plan (it died, or could not be scheduled): nothing
/// of the container was made; the caller spawns the ordinary way.</summary>
public sealed class WaitingChildLostException(SpawnException cause) : Exception("the waiting child did not take its plan: " + cause.Message, cause);

