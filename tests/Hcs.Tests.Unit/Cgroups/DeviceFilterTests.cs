using Hcs.Linux.Cgroups;
using Hcs.Schema.Oci;
using static Hcs.Linux.Cgroups.DeviceFilter;

namespace Hcs.Tests.Unit.Cgroups;

/// <summary>
/// The eBPF device program, run by a small interpreter of the instructions it uses: loading and
/// attaching need root (the integration tests do that on a real cgroup2); what it decides is
/// checked here.
/// </summary>
public sealed class DeviceFilterTests
{
    private const int R = AccRead, W = AccWrite, M = AccMknod;

    private static Insn[] Compile(params DeviceCgroup[] rules) =>
        Build([.. rules.Select((r, i) => CgroupCommon.ParseRule(r, i))]);

    private static DeviceCgroup Rule(bool allow, string? type = null, long? major = null, long? minor = null, string? access = "rwm") =>
        new() { Allow = allow, Type = type, Major = major, Minor = minor, Access = access };

    /// <summary>Runs the program for one request; returns r0 (1 allow, 0 deny).</summary>
    private static long Run(Insn[] prog, int devType, int access, uint major, uint minor)
    {
        var reg = new ulong[11];
        bool ctxValid = true; // r1 holds the context until something overwrites it
        uint[] ctx = [(uint)(access << 16 | devType), major, minor];
        for (int pc = 0, steps = 0; ; pc++, steps++)
        {
            Assert.InRange(pc, 0, prog.Length - 1);
            Assert.True(steps < 10_000, "program does not terminate");
            var i = prog[pc];
            switch (i.Code)
            {
                case LdxMemW:
                    Assert.True(i.Src == 1 && ctxValid, "loads only from the context");
                    Assert.True(i.Off % 4 == 0 && i.Off / 4 < ctx.Length, "load within bpf_cgroup_dev_ctx");
                    reg[i.Dst] = ctx[i.Off / 4];
                    break;
                case And64K: reg[i.Dst] &= (ulong)(long)i.Imm; break;
                case Rsh64K: reg[i.Dst] >>= i.Imm; break;
                case Mov64X: reg[i.Dst] = reg[i.Src]; break;
                case Mov64K: reg[i.Dst] = (ulong)(long)i.Imm; break;
                case JneK:
                    Assert.True(i.Off >= 0, "forward jumps only");
                    if (reg[i.Dst] != (ulong)(long)i.Imm) pc += i.Off;
                    break;
                case JneX:
                    Assert.True(i.Off >= 0, "forward jumps only");
                    if (reg[i.Dst] != reg[i.Src]) pc += i.Off;
                    break;
                case Exit: return (long)reg[0];
                default: Assert.Fail($"unexpected opcode 0x{i.Code:x2}"); break;
            }
            if (i.Dst == 1 && i.Code != JneK && i.Code != JneX) ctxValid = false;
        }
    }

    [Fact]
    public void Deny_all_then_allow_dev_null()
    {
        var p = Compile(Rule(false), Rule(true, "c", 1, 3));
        Assert.Equal(1, Run(p, DevChar, R | W, 1, 3));
        Assert.Equal(0, Run(p, DevChar, R, 1, 5));
        Assert.Equal(0, Run(p, DevBlock, R, 1, 3));
    }

    [Fact]
    public void Allow_all_then_deny_dev_null()
    {
        var p = Compile(Rule(true), Rule(false, "c", 1, 3));
        Assert.Equal(0, Run(p, DevChar, R, 1, 3));
        Assert.Equal(1, Run(p, DevChar, R, 1, 5));
        Assert.Equal(1, Run(p, DevBlock, W, 8, 0));
    }

    [Fact]
    public void The_last_matching_rule_wins()
    {
        Assert.Equal(0, Run(Compile(Rule(false), Rule(true, "c", 1, 3), Rule(false, "c", 1, 3)), DevChar, R, 1, 3));
        Assert.Equal(1, Run(Compile(Rule(false), Rule(false, "c", 1, 3), Rule(true, "c", 1, 3)), DevChar, R, 1, 3));
    }

    [Fact]
    public void Access_must_be_covered_by_the_rule()
    {
        var p = Compile(Rule(false), Rule(true, "c", 1, 3, access: "r"));
        Assert.Equal(1, Run(p, DevChar, R, 1, 3));
        Assert.Equal(0, Run(p, DevChar, W, 1, 3));
        Assert.Equal(0, Run(p, DevChar, R | W, 1, 3));
        Assert.Equal(0, Run(p, DevChar, M, 1, 3));
    }

    [Fact]
    public void Wildcards_match_any_number()
    {
        // The usual "mknod anything" rules.
        var p = Compile(Rule(false), Rule(true, "c", access: "m"), Rule(true, "b", access: "m"), Rule(true, "c", 136));
        Assert.Equal(1, Run(p, DevChar, M, 5, 1));
        Assert.Equal(1, Run(p, DevBlock, M, 8, 0));
        Assert.Equal(0, Run(p, DevBlock, R, 8, 0));
        Assert.Equal(1, Run(p, DevChar, R | W, 136, 7)); // any pty
        Assert.Equal(0, Run(p, DevChar, R, 137, 7));
    }

    [Fact]
    public void Nothing_matching_is_denied()
    {
        Assert.Equal(0, Run(Compile(), DevChar, R, 1, 3));
        Assert.Equal(0, Run(Compile(Rule(true, "c", 1, 5)), DevChar, R, 1, 3));
    }

    [Fact]
    public void A_catch_all_rule_ends_the_program()
    {
        var p = Compile(Rule(true, "c", 1, 3), Rule(false, "c", 1, 5), Rule(true));
        Assert.Equal(1, Run(p, DevChar, R, 1, 5)); // the later "allow all" wins
        Assert.Equal(8, p.Length);                 // 6 prologue + r0=1 + exit: earlier rules are unreachable
    }
}
