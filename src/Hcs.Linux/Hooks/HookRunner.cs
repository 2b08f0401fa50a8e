using System.Text;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Schema.Oci;

namespace Hcs.Linux;

/// <summary>
/// Runs OCI hooks from the runtime's side (prestart, createRuntime, poststart, poststop) with the
/// container state on stdin. The fork/exec/timeout work is native (hcs_run_hook), because
/// System.Diagnostics.Process installs a SIGCHLD handler that would race our own waitpid calls.
/// </summary>
public static unsafe class HookRunner
{
    /// <summary>Runs each hook in order; the first failure throws (with its output).</summary>
    public static void RunAll(IReadOnlyList<Hook>? hooks, string phase, string stateJson)
    {
        if (hooks is null || hooks.Count == 0) return;
        var state = Encoding.UTF8.GetBytes(stateJson);
        for (int i = 0; i < hooks.Count; i++) Run(hooks[i], phase, i, state);
    }

    /// <summary>Runs every hook; failures are collected instead of thrown (poststart/poststop,
    /// where the spec says to warn and go on). The state is made only when there are hooks
    /// (these phases come with every start and delete).</summary>
    public static List<string> RunAllWarn(IReadOnlyList<Hook>? hooks, string phase, Func<string> stateJson)
    {
        var warnings = new List<string>();
        if (hooks is null || hooks.Count == 0) return warnings;
        var state = Encoding.UTF8.GetBytes(stateJson());
        for (int i = 0; i < hooks.Count; i++)
        {
            try { Run(hooks[i], phase, i, state); }
            catch (SpawnException e) { warnings.Add(e.Message); }
        }
        return warnings;
    }

    private static void Run(Hook hook, string phase, int index, byte[] state)
    {
        using var arena = new NativeArena();
        var h = (SpawnAbi.Hook*)arena.Alloc(sizeof(SpawnAbi.Hook));
        Fill(h, hook, arena);
        SpawnAbi.Error e;
        fixed (byte* s = state)
        {
            if (SpawnAbi.RunHook(h, s, (uint)state.Length, &e) < 0)
            {
                var failure = SpawnException.From(e);
                throw new SpawnException(failure.Errno, $"{phase} {failure.Step}", failure.Detail)
                {
                    ConfigPath = $"$.hooks.{phase}[{index}]",
                };
            }
        }
    }

    internal static void Fill(SpawnAbi.Hook* h, Hook hook, NativeArena a)
    {
        h->Path = a.Str(hook.Path);
        // argv[0] defaults to the path, as runc does when args is empty
        h->Argv = a.StrArray(hook.Args is { Count: > 0 } args ? args : [hook.Path]);
        h->Envp = a.StrArray(hook.Env ?? []);
        h->TimeoutMs = hook.Timeout is > 0 and var t ? checked(t * 1000) : 0;
    }
}
