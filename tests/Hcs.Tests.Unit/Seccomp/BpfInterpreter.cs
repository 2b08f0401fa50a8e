using System.Buffers.Binary;

namespace Hcs.Tests.Unit.Seccomp;

/// <summary>
/// A classic-BPF interpreter for seccomp programs, so tests can ask "what would the kernel
/// return for this syscall" without installing a filter (which needs a process to sacrifice
/// and cannot be done from managed code safely). It follows the kernel's rules for seccomp
/// filters: the packet is struct seccomp_data, only aligned 32-bit absolute loads inside it,
/// forward jumps only, and the program must end in a return.
/// </summary>
public static class BpfInterpreter
{
    public const uint AuditArchX86_64 = 0xC000_003E;
    public const uint AuditArchAarch64 = 0xC000_00B7;

    public const uint RetKillThread = 0x0000_0000, RetKillProcess = 0x8000_0000, RetTrap = 0x0003_0000,
        RetErrno = 0x0005_0000, RetNotify = 0x7fc0_0000, RetTrace = 0x7ff0_0000, RetLog = 0x7ffc_0000,
        RetAllow = 0x7fff_0000;

    // struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
    private const int DataSize = 64;

    /// <summary>One instruction: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }.</summary>
    public readonly record struct Instruction(ushort Code, byte Jt, byte Jf, uint K);

    public static Instruction At(byte[] program, int index)
    {
        var s = program.AsSpan(index * 8, 8);
        return new Instruction(BinaryPrimitives.ReadUInt16LittleEndian(s), s[2], s[3], BinaryPrimitives.ReadUInt32LittleEndian(s[4..]));
    }

    public static IEnumerable<Instruction> Instructions(byte[] program)
    {
        for (int i = 0; i < program.Length / 8; i++) yield return At(program, i);
    }

    /// <summary>Runs <paramref name="program"/> for syscall <paramref name="nr"/> and returns the
    /// filter's SECCOMP_RET_* value.</summary>
    public static uint Run(byte[] program, int nr, uint arch = AuditArchX86_64, params ulong[] args) =>
        Run(program, nr, arch, out _, args);

    /// <summary>As <see cref="Run(byte[], int, uint, ulong[])"/>, also counting the instructions
    /// executed: the kernel replays the filter for every syscall number when it loads it (to
    /// fill its allow cache), so the path length is what loading costs.</summary>
    public static uint Run(byte[] program, int nr, uint arch, out int steps, params ulong[] args)
    {
        steps = 0;
        Span<byte> data = stackalloc byte[DataSize];
        data.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(data, nr);
        BinaryPrimitives.WriteUInt32LittleEndian(data[4..], arch);
        BinaryPrimitives.WriteUInt64LittleEndian(data[8..], 0x7f00_0000_1000); // an arbitrary ip
        for (int i = 0; i < args.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(data[(16 + 8 * i)..], args[i]);

        if (program.Length == 0 || program.Length % 8 != 0) throw new InvalidDataException("not a sock_filter array");
        int count = program.Length / 8;
        uint a = 0, x = 0;
        Span<uint> mem = stackalloc uint[16];
        mem.Clear();

        for (int pc = 0; pc < count; pc++)
        {
            steps++;
            var (code, jt, jf, k) = At(program, pc);
            switch (code & 0x07)
            {
                case 0x00: // BPF_LD
                    a = Load(code, k, data, mem);
                    break;
                case 0x01: // BPF_LDX
                    x = Load(code, k, data, mem);
                    break;
                case 0x02: // BPF_ST
                    mem[(int)Check(k, 16)] = a;
                    break;
                case 0x03: // BPF_STX
                    mem[(int)Check(k, 16)] = x;
                    break;
                case 0x04: // BPF_ALU
                    a = Alu(code, a, (code & 0x08) != 0 ? x : k);
                    break;
                case 0x05: // BPF_JMP
                {
                    uint operand = (code & 0x08) != 0 ? x : k;
                    int op = code & 0xf0;
                    if (op == 0x00) { pc += (int)k; break; } // BPF_JA
                    bool taken = op switch
                    {
                        0x10 => a == operand,          // BPF_JEQ
                        0x20 => a > operand,           // BPF_JGT
                        0x30 => a >= operand,          // BPF_JGE
                        0x40 => (a & operand) != 0,    // BPF_JSET
                        _ => throw new InvalidDataException($"bad jump 0x{code:x} at {pc}"),
                    };
                    pc += taken ? jt : jf;
                    break;
                }
                case 0x06: // BPF_RET
                    return (code & 0x18) switch
                    {
                        0x00 => k,   // BPF_K
                        0x10 => a,   // BPF_A
                        _ => throw new InvalidDataException($"bad return 0x{code:x} at {pc}"),
                    };
                case 0x07: // BPF_MISC
                    if ((code & 0xf8) == 0x00) x = a;        // BPF_TAX
                    else if ((code & 0xf8) == 0x80) a = x;   // BPF_TXA
                    else throw new InvalidDataException($"bad misc 0x{code:x} at {pc}");
                    break;
            }
        }
        throw new InvalidDataException("the program ran off its end without returning");
    }

    private static uint Load(ushort code, uint k, ReadOnlySpan<byte> data, Span<uint> mem)
    {
        int size = code & 0x18, mode = code & 0xe0;
        return mode switch
        {
            0x00 => k,                                            // BPF_IMM
            0x20 when size == 0x00 && k % 4 == 0 && k < DataSize  // BPF_ABS | BPF_W, as seccomp requires
                => BinaryPrimitives.ReadUInt32LittleEndian(data[(int)k..]),
            0x60 => mem[(int)Check(k, 16)],                       // BPF_MEM
            0x80 => DataSize,                                     // BPF_LEN
            _ => throw new InvalidDataException($"load 0x{code:x} k={k} is not allowed in a seccomp filter"),
        };
    }

    private static uint Alu(ushort code, uint a, uint operand) => (code & 0xf0) switch
    {
        0x00 => a + operand,
        0x10 => a - operand,
        0x20 => a * operand,
        0x30 => operand == 0 ? throw new InvalidDataException("division by zero") : a / operand,
        0x40 => a | operand,
        0x50 => a & operand,
        0x60 => operand >= 32 ? 0 : a << (int)operand,
        0x70 => operand >= 32 ? 0 : a >> (int)operand,
        0x80 => (uint)-(int)a,
        0x90 => operand == 0 ? throw new InvalidDataException("modulo by zero") : a % operand,
        0xa0 => a ^ operand,
        _ => throw new InvalidDataException($"bad alu 0x{code:x}"),
    };

    private static uint Check(uint k, uint limit) =>
        k < limit ? k : throw new InvalidDataException($"scratch index {k} out of range");
}
