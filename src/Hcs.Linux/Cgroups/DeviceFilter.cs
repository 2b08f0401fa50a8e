using System.Runtime.InteropServices;
using System.Text;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Cgroups;

/// <summary>
/// The cgroup v2 device controller: cgroup2 has no devices.allow/deny files; instead the kernel
/// runs a BPF_PROG_TYPE_CGROUP_DEVICE program on every device open/mknod and denies access when
/// it returns 0. We compile the OCI rules into such a program and attach it to the cgroup
/// directory with bpf(2).
///
/// Semantics match v1's devices.allow/deny written in order: the last rule matching a request
/// decides; a request no rule matches is denied (the engine's list starts with "deny all" anyway).
/// The program therefore tests the rules from last to first and returns at the first match:
/// <code>
///   r2 = type (ctx->access_type &amp; 0xffff)   r3 = access (ctx->access_type &gt;&gt; 16)
///   r4 = major                               r5 = minor
///   ; per rule, last first — each test jumps past the rule's block when it does not match
///   if r2 != TYPE goto next                  (omitted for 'a')
///   r1 = r3; r1 &amp;= ACCESS; if r1 != r3 goto next   (requested ⊆ rule's access; omitted for rwm)
///   if r4 != MAJOR goto next                 (omitted for *)
///   if r5 != MINOR goto next                 (omitted for *)
///   r0 = ALLOW ? 1 : 0; exit
///   ...
///   r0 = 0; exit                             (nothing matched)
/// </code>
/// </summary>
internal static unsafe partial class DeviceFilter
{
    /// <summary>struct bpf_insn: opcode, dst/src registers (4 bits each), offset, immediate.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Insn
    {
        public byte Code;
        public byte Regs; // dst in the low nibble, src in the high one
        public short Off;
        public int Imm;

        public readonly int Dst => Regs & 0xF;
        public readonly int Src => Regs >> 4;
    }

    // Opcodes (linux/bpf_common.h, linux/bpf.h): class | operation | source.
    internal const byte LdxMemW = 0x61;  // BPF_LDX | BPF_MEM | BPF_W
    internal const byte And64K = 0x57;   // BPF_ALU64 | BPF_AND | BPF_K
    internal const byte Rsh64K = 0x77;   // BPF_ALU64 | BPF_RSH | BPF_K
    internal const byte Mov64X = 0xbf;   // BPF_ALU64 | BPF_MOV | BPF_X
    internal const byte Mov64K = 0xb7;   // BPF_ALU64 | BPF_MOV | BPF_K
    internal const byte JneK = 0x55;     // BPF_JMP | BPF_JNE | BPF_K
    internal const byte JneX = 0x5d;     // BPF_JMP | BPF_JNE | BPF_X
    internal const byte Exit = 0x95;     // BPF_JMP | BPF_EXIT

    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    // access_type = (access << 16) | type.
    internal const int DevBlock = 1, DevChar = 2;
    internal const int AccMknod = 1, AccRead = 2, AccWrite = 4;

    private const int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9, BPF_PROG_GET_FD_BY_ID = 13, BPF_PROG_QUERY = 16;
    private const int BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6, BPF_F_ALLOW_MULTI = 2;
    private const int AttrSize = 128; // covers every field we use; the kernel zero-fills the rest

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long cmd, byte* attr, long size);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>Compiles the rules and makes the program the cgroup's only device filter.</summary>
    public static void Apply(string cgroupDir, List<DeviceCgroup> devices)
    {
        var rules = new CgroupCommon.DeviceRule[devices.Count];
        for (int i = 0; i < rules.Length; i++) rules[i] = CgroupCommon.ParseRule(devices[i], i);
        Attach(cgroupDir, Build(rules));
    }

    public static Insn[] Build(IReadOnlyList<CgroupCommon.DeviceRule> rules)
    {
        var p = new List<Insn>(8 + rules.Count * 9)
        {
            I(LdxMemW, 2, 1, 0, 0),
            I(And64K, 2, 0, 0, 0xFFFF),
            I(LdxMemW, 3, 1, 0, 0),
            I(Rsh64K, 3, 0, 0, 16),
            I(LdxMemW, 4, 1, 4, 0),
            I(LdxMemW, 5, 1, 8, 0),
        };
        Span<int> jumps = stackalloc int[4];
        for (int i = rules.Count - 1; i >= 0; i--)
        {
            var r = rules[i];
            int n = 0;
            if (r.Type != 'a')
            {
                jumps[n++] = p.Count;
                p.Add(I(JneK, 2, 0, 0, r.Type == 'c' ? DevChar : DevBlock));
            }
            int access = AccessMask(r.Access);
            if (access != (AccMknod | AccRead | AccWrite))
            {
                p.Add(I(Mov64X, 1, 3, 0, 0));
                p.Add(I(And64K, 1, 0, 0, access));
                jumps[n++] = p.Count;
                p.Add(I(JneX, 1, 3, 0, 0));
            }
            if (r.Major >= 0)
            {
                jumps[n++] = p.Count;
                p.Add(I(JneK, 4, 0, 0, (int)r.Major));
            }
            if (r.Minor >= 0)
            {
                jumps[n++] = p.Count;
                p.Add(I(JneK, 5, 0, 0, (int)r.Minor));
            }
            p.Add(I(Mov64K, 0, 0, 0, r.Allow ? 1 : 0));
            p.Add(I(Exit, 0, 0, 0, 0));
            // "goto next" = skip to the first instruction after this block.
            for (int j = 0; j < n; j++)
            {
                var insn = p[jumps[j]];
                insn.Off = (short)(p.Count - jumps[j] - 1);
                p[jumps[j]] = insn;
            }
            // A rule matching everything decides every request: earlier rules are unreachable.
            if (n == 0) return [.. p];
        }
        p.Add(I(Mov64K, 0, 0, 0, 0));
        p.Add(I(Exit, 0, 0, 0, 0));
        return [.. p];
    }

    private static int AccessMask(string access)
    {
        int mask = 0;
        foreach (char c in access)
            mask |= c switch { 'r' => AccRead, 'w' => AccWrite, 'm' => AccMknod, _ => 0 };
        return mask;
    }

    private static Insn I(byte code, int dst, int src, short off, int imm) =>
        new() { Code = code, Regs = (byte)(dst | (src << 4)), Off = off, Imm = imm };

    // ---- bpf(2) ----

    private static long SysBpf => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 321,
        Architecture.Arm64 or Architecture.RiscV64 or Architecture.LoongArch64 => 280,
        Architecture.X86 => 357,
        Architecture.Arm => 386,
        Architecture.S390x => 351,
        Architecture.Ppc64le => 361,
        _ => throw new PlatformNotSupportedException("bpf(2) syscall number unknown for " + RuntimeInformation.ProcessArchitecture),
    };

    private static int Bpf(int cmd, byte* attr)
    {
        long r = Syscall(SysBpf, cmd, attr, AttrSize);
        return r < 0 ? -Marshal.GetLastPInvokeError() : (int)r;
    }

    /// <summary>Attaches the new program, then detaches the ones attached before. In that order
    /// the cgroup is never without a filter; with BPF_F_ALLOW_MULTI every attached program must
    /// allow an access, so the old ones must go or they would keep denying what an update allows.</summary>
    private static void Attach(string dir, Insn[] program)
    {
        int prog = Load(dir, program);
        try
        {
            int cg = CgroupFs.OpenRead(dir);
            if (cg < 0) throw new CgroupException($"{dir}: open: {CgroupFs.ErrorText(-cg)}", -cg);
            try
            {
                uint[] old = Query(dir, cg);
                byte* attr = stackalloc byte[AttrSize];
                new Span<byte>(attr, AttrSize).Clear();
                *(uint*)(attr + 0) = (uint)cg;               // target_fd
                *(uint*)(attr + 4) = (uint)prog;             // attach_bpf_fd
                *(uint*)(attr + 8) = BPF_CGROUP_DEVICE;      // attach_type
                *(uint*)(attr + 12) = BPF_F_ALLOW_MULTI;     // attach_flags
                int e = Bpf(BPF_PROG_ATTACH, attr);
                if (e < 0) throw new CgroupException($"{dir}: attaching the device filter (BPF_PROG_ATTACH): {CgroupFs.ErrorText(-e)}", -e);

                foreach (uint id in old)
                {
                    new Span<byte>(attr, AttrSize).Clear();
                    *(uint*)(attr + 0) = id; // prog_id
                    int fd = Bpf(BPF_PROG_GET_FD_BY_ID, attr);
                    if (fd < 0) continue; // detached meanwhile
                    try
                    {
                        new Span<byte>(attr, AttrSize).Clear();
                        *(uint*)(attr + 0) = (uint)cg;
                        *(uint*)(attr + 4) = (uint)fd;
                        *(uint*)(attr + 8) = BPF_CGROUP_DEVICE;
                        e = Bpf(BPF_PROG_DETACH, attr);
                        if (e < 0 && -e != CgroupFs.ENOENT)
                            throw new CgroupException($"{dir}: detaching the previous device filter (BPF_PROG_DETACH): {CgroupFs.ErrorText(-e)}", -e);
                    }
                    finally
                    {
                        Close(fd);
                    }
                }
            }
            finally
            {
                Close(cg);
            }
        }
        finally
        {
            // The attachment holds its own reference on the program.
            Close(prog);
        }
    }

    private static int Load(string dir, Insn[] program)
    {
        byte* attr = stackalloc byte[AttrSize];
        fixed (Insn* insns = program)
        fixed (byte* license = "Apache-2.0\0"u8)
        {
            int fd = LoadOnce(attr, insns, program.Length, license, null, 0);
            if (fd >= 0) return fd;
            // The verifier explains a rejection only when asked: load again with a log.
            byte[] log = new byte[64 * 1024];
            fixed (byte* logBuf = log)
            {
                int again = LoadOnce(attr, insns, program.Length, license, logBuf, log.Length);
                if (again >= 0) return again;
                string text = Encoding.UTF8.GetString(log, 0, Math.Max(0, Array.IndexOf(log, (byte)0))).Trim();
                throw new CgroupException(
                    $"{dir}: loading the device filter (BPF_PROG_LOAD): {CgroupFs.ErrorText(-fd)}{(text.Length == 0 ? "" : ": " + text)}", -fd);
            }
        }
    }

    private static int LoadOnce(byte* attr, Insn* insns, int count, byte* license, byte* log, int logSize)
    {
        new Span<byte>(attr, AttrSize).Clear();
        *(uint*)(attr + 0) = BPF_PROG_TYPE_CGROUP_DEVICE; // prog_type
        *(uint*)(attr + 4) = (uint)count;                 // insn_cnt
        *(ulong*)(attr + 8) = (ulong)insns;               // insns
        *(ulong*)(attr + 16) = (ulong)license;            // license
        *(uint*)(attr + 24) = log == null ? 0u : 1u;      // log_level
        *(uint*)(attr + 28) = (uint)logSize;              // log_size
        *(ulong*)(attr + 32) = (ulong)log;                // log_buf
        "hcs_devices"u8.CopyTo(new Span<byte>(attr + 48, 15)); // prog_name, shown by bpftool
        return Bpf(BPF_PROG_LOAD, attr);
    }

    /// <summary>Ids of the device programs attached directly to this cgroup.</summary>
    private static uint[] Query(string dir, int cg)
    {
        byte* attr = stackalloc byte[AttrSize];
        for (int attempt = 0; attempt < 3; attempt++)
        {
            // First ask for the count (prog_ids = NULL), then for the ids.
            new Span<byte>(attr, AttrSize).Clear();
            *(uint*)(attr + 0) = (uint)cg;              // target_fd
            *(uint*)(attr + 4) = BPF_CGROUP_DEVICE;     // attach_type
            int e = Bpf(BPF_PROG_QUERY, attr);
            if (e < 0) throw new CgroupException($"{dir}: querying device filters (BPF_PROG_QUERY): {CgroupFs.ErrorText(-e)}", -e);
            uint count = *(uint*)(attr + 24);           // prog_cnt
            if (count == 0) return [];
            var ids = new uint[count];
            fixed (uint* p = ids)
            {
                *(ulong*)(attr + 16) = (ulong)p;        // prog_ids
                *(uint*)(attr + 24) = count;
                e = Bpf(BPF_PROG_QUERY, attr);
                if (e == -28 /* ENOSPC: one was attached meanwhile */) continue;
                if (e < 0) throw new CgroupException($"{dir}: querying device filters (BPF_PROG_QUERY): {CgroupFs.ErrorText(-e)}", -e);
                uint got = *(uint*)(attr + 24);
                return got == count ? ids : ids[..(int)got];
            }
        }
        throw new CgroupException($"{dir}: querying device filters (BPF_PROG_QUERY): the list kept changing", CgroupFs.EBUSY);
    }
}
