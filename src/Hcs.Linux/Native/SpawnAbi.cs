using System.Runtime.InteropServices;

namespace Hcs.Linux.Native;

/// <summary>
/// Managed mirrors of native/include/hcs_spawn.h. Field order and types match the C structs
/// one for one (natural alignment on both sides); <c>hcs_sizeof</c> lets a test prove it.
/// </summary>
public static unsafe partial class SpawnAbi
{
    public const int Version = 7;
    private const string Lib = "libhcsspawn";

    // enum hcs_step_kind
    public const uint StepMount = 1, StepBind = 2, StepMknod = 3, StepSymlink = 4, StepMkdir = 5, StepSetattr = 6;
    // enum hcs_target_kind
    public const uint TargetDir = 0, TargetFile = 1;
    // enum hcs_mount_flags
    public const uint MountReadonly = 1;
    // enum hcs_msg_type
    public const uint MsgPid = 1, MsgSetup = 2, MsgGo = 3, MsgHooks = 4, MsgSeccompFd = 5, MsgReady = 6, MsgError = 7, MsgCgroupMade = 8;

    /// <summary>enum hcs_area: which list of the plan a failure belongs to.</summary>
    public enum Area
    {
        None = 0, Step = 1, Masked = 2, Readonly = 3, Sysctl = 4, CreateContainer = 5, StartContainer = 6,
        Rlimit = 7, Join = 8, Hostname = 9, Domainname = 10, Cwd = 11, Exec = 12, Rootfs = 13, User = 14, Seccomp = 15, Terminal = 16,
    }

    [Flags]
    public enum PlanFlags : uint
    {
        None = 0,
        Exec = 1u << 0,
        NoPivot = 1u << 1,
        RootReadonly = 1u << 2,
        NewKeyring = 1u << 3,
        Terminal = 1u << 4,
        NoNewPrivs = 1u << 5,
        SetUmask = 1u << 6,
        Personality = 1u << 7,
        SetupRootfs = 1u << 8,
        HookSync = 1u << 9,
        SeccompNotify = 1u << 10,
        ConsoleMount = 1u << 11,
        EarlyPaths = 1u << 12,
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Error
    {
        public int Err;
        public int Area;
        public int Index;
        public fixed byte Step[64];
        public fixed byte Detail[512];

        public readonly string StepText { get { fixed (byte* p = Step) return Marshal.PtrToStringUTF8((nint)p) ?? ""; } }
        public readonly string DetailText { get { fixed (byte* p = Detail) return Marshal.PtrToStringUTF8((nint)p) ?? ""; } }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MountStep
    {
        public uint Kind;
        public uint TargetKind;
        public byte* Source;
        public byte* Target;
        public byte* FsType;
        public byte* Data;
        public ulong Flags;
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public uint Recursive;
        public uint Mode;
        public ulong Dev;
        public long Uid;
        public long Gid;
        public int UsernsFd;
        public uint Optional;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct NsJoin
    {
        public int Fd;
        public int Type;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Rlimit
    {
        public int Resource;
        public uint Pad;
        public ulong Soft;
        public ulong Hard;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Hook
    {
        public byte* Path;
        public byte** Argv;
        public byte** Envp;
        public int TimeoutMs;
        public uint Pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Msg
    {
        public uint Type;
        public int Pid;
        public Error Error;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Plan
    {
        public uint Abi;
        public PlanFlags Flags;
        public ulong CloneFlags;
        public NsJoin* Joins;
        public uint NJoins;

        public int SyncFd;
        public int StartFd;
        public int ConsoleFd;
        public int PreserveFds;
        /// <summary>fds (> 2) dup'ed onto 0, 1, 2 in the child; -1 = inherit.</summary>
        public fixed int StdioFds[3];
        /// <summary>>= 0: execveat this (O_PATH) fd instead of looking argv[0] up.</summary>
        public int ExecFd;
        public ushort ConsoleRows, ConsoleCols;

        public byte* TimensOffsets;
        public byte* UidMap;
        public byte* GidMap;
        public byte* KeyringName;

        public byte* Rootfs;
        public ulong RootPropagation;
        public byte* RootfsParentMount;
        public ulong RootfsPropagation;
        public MountStep* Steps;
        public uint NSteps;
        public uint NEarlySteps;
        public uint NMadeSteps;
        public byte** MaskedPaths;
        public uint NMaskedPaths;
        public byte** ReadonlyPaths;
        public uint NReadonlyPaths;
        public byte** Sysctls;
        public uint NSysctls;
        public byte* Hostname;
        public byte* Domainname;

        public byte** Argv;
        public byte** Envp;
        public byte* Cwd;
        public uint Uid, Gid;
        public uint* Groups;
        public uint NGroups;
        public uint Umask;
        public uint Personality;
        public Rlimit* Rlimits;
        public uint NRlimits;
        public ulong CapBounding, CapEffective, CapPermitted, CapInheritable, CapAmbient;
        public uint HasCaps;

        public byte* SeccompFilter;
        public uint SeccompLen;
        public uint SeccompFlags;

        public Hook* CreateContainerHooks;
        public uint NCreateContainerHooks;
        public Hook* StartContainerHooks;
        public uint NStartContainerHooks;

        public byte* StateBuf;
        public uint StateBufLen;
    }

    /// <summary>struct hcs_waiting: a child the zygote made ahead of time, waiting for its plan.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Waiting
    {
        public int Pid;
        public int SyncFd;
        public byte* Region;
        public ulong RegionLength;
    }

    [LibraryImport(Lib, EntryPoint = "hcs_zygote_start", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ZygoteStart(string zygotePath, int* controlFd, int* pidOut, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_zygote_fork")]
    public static partial int ZygoteFork(int controlFd, ulong cloneFlags, ulong regionLength, int urgent, Waiting* output, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_send_plan")]
    public static partial int SendPlan(Waiting* waiting, Plan* plan, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_waiting_release")]
    public static partial void WaitingRelease(Waiting* waiting);

    [LibraryImport(Lib, EntryPoint = "hcs_waiting_discard")]
    public static partial void WaitingDiscard(Waiting* waiting);

    [LibraryImport(Lib, EntryPoint = "hcs_abi_version")]
    public static partial int AbiVersion();

    [LibraryImport(Lib, EntryPoint = "hcs_sizeof")]
    public static partial uint SizeOf(int which);

    [LibraryImport(Lib, EntryPoint = "hcs_spawn")]
    public static partial int Spawn(Plan* plan, int parentSyncFd, int* pidOut, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_run_hook")]
    public static partial int RunHook(Hook* hook, byte* state, uint stateLen, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_sync_recv", SetLastError = true)]
    public static partial int SyncRecv(int sock, Msg* msg, int* fdOut);

    [LibraryImport(Lib, EntryPoint = "hcs_send_fd", SetLastError = true)]
    public static partial int SendFd(int sock, int fd, byte* payload, uint payloadLen);

    [LibraryImport(Lib, EntryPoint = "hcs_recv_fd", SetLastError = true)]
    public static partial int RecvFd(int sock, byte* payload, uint payloadCap, uint* payloadLen);

    [LibraryImport(Lib, EntryPoint = "hcs_make_userns")]
    public static partial int MakeUserns(byte* uidMap, byte* gidMap, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_mount_into", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MountInto(int pid, string source, string target, uint flags, Error* error);

    [LibraryImport(Lib, EntryPoint = "hcs_unmount_in", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int UnmountIn(int pid, string target, Error* error);
}
