using Hcs.Schema;

namespace Hcs.Linux.Seccomp;

/// <summary>A seccomp program ready for seccomp(SECCOMP_SET_MODE_FILTER, <see cref="Flags"/>, prog).</summary>
/// <param name="Filter">struct sock_filter[], 8 bytes per instruction, in host byte order.</param>
/// <param name="Flags">SECCOMP_FILTER_FLAG_* bits for the seccomp(2) call.</param>
/// <param name="UsesNotify">An action is SCMP_ACT_NOTIFY: loading returns a listener fd that must
/// reach the agent at <c>listenerPath</c> (<see cref="Flags"/> then has NEW_LISTENER).</param>
public sealed record SeccompProgram(byte[] Filter, uint Flags, bool UsesNotify)
{
    /// <summary>The length the kernel takes in struct sock_fprog.len.</summary>
    public int InstructionCount => Filter.Length / 8;
}

/// <summary>
/// Turns an OCI <c>linux.seccomp</c> section into a classic-BPF program with libseccomp, in the
/// parent; the C child only hands the bytes to seccomp(2) right before execve (see
/// docs/design/seccomp.md for why).
/// </summary>
/// <remarks>
/// <para>Semantics follow runc, so profiles written for it (docker's, podman's, Kubernetes')
/// behave the same: SCMP_ACT_KILL is KILL_THREAD; ERRNO and TRACE default to EPERM; a rule whose
/// action equals the default action is skipped (libseccomp refuses it); the native
/// architecture is always in the filter; a rule with two conditions on the same argument
/// becomes one rule per condition (libseccomp cannot AND them), otherwise one rule ANDs all
/// conditions; filters of more than 32 syscall rules get libseccomp's binary-tree layout. An
/// architecture of the other byte order than the host is left out (one filter cannot mix
/// them, and this kernel never reports such an architecture).</para>
/// <para>Stricter than runc, every problem is an error with its JSON path, all reported at once:
/// unknown actions, operators, architectures and flags; an argument index above 5; errnoRet on
/// an action that has no data; SCMP_ACT_NOTIFY without listenerPath, as the default action, or
/// on sendmsg (the child sends the listener with sendmsg after loading the filter, so it would
/// wait for itself). An unknown syscall name is an error too, because a misspelt name silently
/// allows or denies nothing, unless it is in <see cref="SeccompNames.NewerSyscalls"/>: real
/// syscalls newer than the installed libseccomp, skipped as runc skips them.</para>
/// <para>Flags: TSYNC is dropped when NEW_LISTENER is added (the kernel refuses the pair, and the
/// child is single-threaded when it loads the filter, so TSYNC has no effect there anyway);
/// WAIT_KILLABLE_RECV without a NOTIFY action is an error, because the kernel refuses it.</para>
/// </remarks>
public static class SeccompCompiler
{
    private const string Source = "seccomp profile";

    /// <summary>BPF_MAXINSNS: the kernel's limit on a classic-BPF program.</summary>
    private const int MaxInstructions = 4096;

    /// <summary>Above this many syscall rules added (not profile entries: one entry may name
    /// hundreds) the filter is built as libseccomp's binary tree. Small filters are faster as a
    /// list, and older libseccomp mis-builds a tree without rules. The load is what the layout
    /// saves: the kernel replays the filter for every syscall number (docs/design/seccomp.md).</summary>
    private const int BinaryTreeThreshold = 32;

    private static readonly string[] NotifyForbidden = ["sendmsg"];

    /// <summary>libseccomp 2.5 fills process-wide state (kernel feature probes, API level) on
    /// first use without locking; hcsd compiles for several containers at once, so one
    /// compilation at a time. A compilation takes milliseconds and hits skip it entirely.</summary>
    private static readonly Lock LibseccompLock = new();

    /// <summary>Compiles <paramref name="seccomp"/>, or returns the cached program when
    /// <paramref name="cacheDirectory"/> holds one for the same section, libseccomp and arch (a
    /// hit does not load libseccomp).</summary>
    /// <param name="jsonPath">Where the section sits in its document; prefixes every error path.</param>
    /// <exception cref="DocumentException">The section is invalid; <see cref="DocumentException.Errors"/> has every problem.</exception>
    /// <exception cref="InvalidOperationException">libseccomp.so.2 is not installed.</exception>
    public static SeccompProgram Compile(Hcs.Schema.Oci.Seccomp seccomp, string jsonPath = "$.linux.seccomp", string? cacheDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(seccomp);
        ArgumentNullException.ThrowIfNull(jsonPath);

        var errors = new DocumentErrors();
        var plan = Plan.Build(seccomp, jsonPath, errors, resolve: null);
        if (errors.Any)
        {
            // Walk again, now also resolving names, so one run reports every problem, in the
            // order of the walk. Only this failure path loads libseccomp without compiling.
            var all = new DocumentErrors();
            Plan.Build(seccomp, jsonPath, all, TryResolver());
            all.ThrowIfAny(Source);
        }

        var key = cacheDirectory is null ? null : BpfCache.Key(seccomp);
        if (key is not null && BpfCache.TryRead(cacheDirectory!, key) is { } cached)
            return new SeccompProgram(cached, plan.Flags, plan.UsesNotify);

        byte[] filter;
        lock (LibseccompLock)
            filter = Build(plan, jsonPath);
        if (key is not null)
            BpfCache.TryWrite(cacheDirectory!, key, filter);
        return new SeccompProgram(filter, plan.Flags, plan.UsesNotify);
    }

    /// <summary>Name → syscall number (native, or a negative pseudo number), or null when the
    /// name is an error. Unknown names in <see cref="SeccompNames.NewerSyscalls"/> resolve to
    /// <see cref="Skip"/>.</summary>
    private delegate int? Resolver(string name);

    private const int Skip = int.MinValue;

    private static int? ResolveWithLibseccomp(string name)
    {
        // A NUL would cut the name short in C and resolve a different syscall.
        if (name.Length == 0 || name.Contains('\0')) return null;
        int nr = Libseccomp.seccomp_syscall_resolve_name(name);
        if (nr != Libseccomp.NrError) return nr;
        return SeccompNames.NewerSyscalls.Contains(name) ? Skip : null;
    }

    /// <summary>The libseccomp resolver, or null when the library is missing (then only the
    /// structural errors can be reported, which is still better than a missing-library error).</summary>
    private static Resolver? TryResolver()
    {
        try
        {
            Libseccomp.seccomp_syscall_resolve_name("read");
            return ResolveWithLibseccomp;
        }
        catch (DllNotFoundException)
        {
            return null;
        }
    }

    private static unsafe byte[] Build(Plan plan, string jsonPath)
    {
        Libseccomp.FilterHandle ctx;
        try
        {
            ctx = Libseccomp.seccomp_init(plan.DefaultAction);
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException(
                "linux.seccomp needs libseccomp.so.2 (libseccomp 2.5 or later) to compile the filter; it is not installed", e);
        }

        using (ctx)
        {
            var errors = new DocumentErrors();
            if (ctx.IsInvalid)
            {
                // libseccomp checks an action against the running kernel (KILL_PROCESS needs
                // 4.14, LOG 4.14, NOTIFY 5.0); a refusal here means this kernel lacks it.
                errors.Add(jsonPath + ".defaultAction", "libseccomp refused the action; the kernel may not support it");
                errors.ThrowIfAny(Source);
            }
            Libseccomp.seccomp_attr_set(ctx, Libseccomp.AttrSysRawRc, 1); // better messages only: ignore failure

            // Architectures first: a rule is translated for the architectures present when it is added.
            foreach (var (token, path) in plan.Architectures)
            {
                int rc = Libseccomp.seccomp_arch_add(ctx, token);
                // EEXIST: the native one, always there. EDOM: the other byte order, which one
                // filter cannot mix; no syscall on this host can report such an arch, so it
                // goes to the bad-arch action either way, and one profile listing every arch
                // (written for several hosts) stays usable everywhere.
                if (rc < 0 && rc != -Libseccomp.EEXIST && rc != -Libseccomp.EDOM)
                    errors.Add(path, $"libseccomp cannot add the architecture: {Describe(rc)}");
            }

            Span<Libseccomp.ArgCmp> one = stackalloc Libseccomp.ArgCmp[1];
            int added = 0; // rules libseccomp took: redundant and skipped names do not count
            foreach (var rule in plan.Rules)
            {
                var args = rule.Args;
                for (int n = 0; n < rule.Names.Count; n++)
                {
                    var name = rule.Names[n];
                    var namePath = $"{rule.Path}.names[{n}]";
                    var nr = ResolveWithLibseccomp(name);
                    if (nr is null)
                    {
                        errors.Add(namePath, $"unknown syscall \"{name}\"");
                        continue;
                    }
                    // Names are still resolved for a redundant rule, so its typos are reported.
                    if (nr == Skip || rule.Action == plan.DefaultAction) continue;

                    int rc;
                    if (!rule.SplitArgs)
                    {
                        fixed (Libseccomp.ArgCmp* p = args)
                            rc = Libseccomp.seccomp_rule_add_array(ctx, rule.Action, nr.Value, (uint)args.Length, p);
                    }
                    else
                    {
                        rc = 0;
                        for (int a = 0; a < args.Length && rc == 0; a++)
                        {
                            one[0] = args[a];
                            fixed (Libseccomp.ArgCmp* p = one)
                                rc = Libseccomp.seccomp_rule_add_array(ctx, rule.Action, nr.Value, 1, p);
                        }
                    }
                    if (rc < 0)
                        errors.Add(namePath, $"libseccomp refused the rule for \"{name}\": {Describe(rc)}");
                    else added++;
                }
            }
            errors.ThrowIfAny(Source);
            // from the rules actually added (the layout is chosen at export)
            if (added > BinaryTreeThreshold)
                Libseccomp.seccomp_attr_set(ctx, Libseccomp.AttrOptimize, 2); // an optimisation: ignore failure

            var bpf = Libseccomp.ExportBpf(ctx);
            if (bpf.Length == 0 || bpf.Length % 8 != 0)
                throw new InvalidOperationException($"libseccomp exported a malformed filter ({bpf.Length} bytes)");
            if (bpf.Length / 8 > MaxInstructions)
            {
                errors.Add(jsonPath, $"the filter has {bpf.Length / 8} instructions; the kernel accepts at most {MaxInstructions}");
                errors.ThrowIfAny(Source);
            }
            return bpf;
        }
    }

    private static string Describe(int rc) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(-rc);

    /// <summary>A rule ready for libseccomp: the action with its data, the conditions in
    /// scmp_arg_cmp form, and whether they must go one per rule.</summary>
    private sealed record Rule(string Path, uint Action, List<string> Names, Libseccomp.ArgCmp[] Args, bool SplitArgs);

    /// <summary>The section checked and converted to numbers, without libseccomp (except the
    /// optional name resolver), so a cache lookup can follow without loading it.</summary>
    private sealed class Plan
    {
        public uint DefaultAction;
        public uint Flags;
        public bool UsesNotify;
        public readonly List<(uint Token, string Path)> Architectures = [];
        public readonly List<Rule> Rules = [];

        public static Plan Build(Hcs.Schema.Oci.Seccomp s, string root, DocumentErrors errors, Resolver? resolve)
        {
            var plan = new Plan();
            var defaultAction = ParseAction(s.DefaultAction, s.DefaultErrnoRet, root + ".defaultAction", root + ".defaultErrnoRet", errors);
            plan.DefaultAction = defaultAction ?? 0;
            if (defaultAction == SeccompNames.ActNotify)
            {
                // Every syscall the child makes after loading, sendmsg of the listener first,
                // would wait for an agent that does not have the listener yet.
                errors.Add(root + ".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own syscalls after loading the filter would wait forever");
                plan.UsesNotify = true;
            }

            if (s.Architectures is { } archs)
            {
                for (int i = 0; i < archs.Count; i++)
                {
                    var path = $"{root}.architectures[{i}]";
                    if (archs[i] is { } name && SeccompNames.Architectures.TryGetValue(name, out var token))
                        plan.Architectures.Add((token, path));
                    else
                        errors.Add(path, $"unknown architecture \"{archs[i]}\"");
                }
            }

            if (s.Syscalls is { } rules)
            {
                for (int i = 0; i < rules.Count; i++)
                {
                    var rule = ParseRule(rules[i], $"{root}.syscalls[{i}]", errors, resolve);
                    if (rule is null) continue;
                    plan.Rules.Add(rule);
                    plan.UsesNotify |= rule.Action == SeccompNames.ActNotify;
                }
            }

            plan.Flags = ParseFlags(s.Flags, root, plan.UsesNotify, errors);
            if (plan.UsesNotify && string.IsNullOrEmpty(s.ListenerPath))
                errors.Add(root + ".listenerPath", "required when an action is SCMP_ACT_NOTIFY");
            return plan;
        }

        private static Rule? ParseRule(Hcs.Schema.Oci.SyscallRule? r, string path, DocumentErrors errors, Resolver? resolve)
        {
            if (r is null)
            {
                errors.Add(path, "must be an object, not null");
                return null;
            }
            var action = ParseAction(r.Action, r.ErrnoRet, path + ".action", path + ".errnoRet", errors);

            var names = r.Names ?? [];
            if (names.Count == 0)
                errors.Add(path + ".names", "at least one syscall name is required");
            for (int n = 0; n < names.Count; n++)
            {
                var name = names[n];
                var namePath = $"{path}.names[{n}]";
                if (name is null)
                    errors.Add(namePath, "must be a string, not null");
                else if (resolve is not null && resolve(name) is null)
                    errors.Add(namePath, $"unknown syscall \"{name}\"");
                else if (action == SeccompNames.ActNotify && Array.IndexOf(NotifyForbidden, name) >= 0)
                    errors.Add(namePath, $"SCMP_ACT_NOTIFY cannot be used for {name}: the runtime sends the listener to the agent with it after loading the filter");
            }

            var args = r.Args ?? [];
            var conditions = new Libseccomp.ArgCmp[args.Count];
            Span<int> perIndex = stackalloc int[6];
            bool split = false;
            for (int k = 0; k < conditions.Length; k++)
            {
                var arg = args[k];
                var argPath = $"{path}.args[{k}]";
                if (arg is null)
                {
                    errors.Add(argPath, "must be an object, not null");
                    continue;
                }
                if (arg.Index > 5)
                    errors.Add(argPath + ".index", $"must be 0 to 5 (a syscall has six arguments), not {arg.Index}");
                else
                    split |= ++perIndex[(int)arg.Index] > 1;
                if (!SeccompNames.Operators.TryGetValue(arg.Op ?? "", out var op))
                    errors.Add(argPath + ".op", $"unknown operator \"{arg.Op}\"");
                conditions[k] = new Libseccomp.ArgCmp { Arg = arg.Index, Op = op, DatumA = arg.Value, DatumB = arg.ValueTwo };
            }

            return action is null ? null : new Rule(path, action.Value, names, conditions, split);
        }

        /// <summary>An OCI action and its errnoRet → the filter return value.</summary>
        private static uint? ParseAction(string? name, uint? errnoRet, string path, string errnoPath, DocumentErrors errors)
        {
            if (string.IsNullOrEmpty(name))
            {
                errors.Add(path, "required");
                return null;
            }
            if (!SeccompNames.Actions.TryGetValue(name, out var action))
            {
                errors.Add(path, $"unknown action \"{name}\"");
                return null;
            }
            switch (action)
            {
                case SeccompNames.ActErrno:
                    // The kernel turns any errno above MAX_ERRNO into 4095: refuse rather than change it.
                    if (errnoRet > 4095)
                        errors.Add(errnoPath, $"must be at most 4095 (MAX_ERRNO), not {errnoRet}");
                    return action | ((errnoRet ?? 1) & 0xffff); // EPERM by default, as runc
                case SeccompNames.ActTrace:
                    if (errnoRet > 0xffff)
                        errors.Add(errnoPath, $"must be at most 65535 (16 bits reach the tracer), not {errnoRet}");
                    return action | ((errnoRet ?? 1) & 0xffff);
                default:
                    if (errnoRet is not null)
                        errors.Add(errnoPath, $"only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value, not {name}");
                    return action;
            }
        }

        private static uint ParseFlags(List<string>? names, string root, bool usesNotify, DocumentErrors errors)
        {
            uint flags = 0;
            for (int i = 0; names is not null && i < names.Count; i++)
            {
                var path = $"{root}.flags[{i}]";
                if (names[i] is not { } name || !SeccompNames.Flags.TryGetValue(name, out var bit))
                {
                    errors.Add(path, $"unknown flag \"{names[i]}\"");
                    continue;
                }
                if (bit == SeccompNames.FlagWaitKillableRecv && !usesNotify)
                    errors.Add(path, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY action (the kernel accepts it only with a listener)");
                flags |= bit;
            }
            if (usesNotify)
                flags = (flags & ~SeccompNames.FlagTsync) | SeccompNames.FlagNewListener;
            return flags;
        }
    }
}
