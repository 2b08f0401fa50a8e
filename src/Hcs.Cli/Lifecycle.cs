using Hcs.Client;
using Hcs.Schema.Hcs;
using ComputeSystem = Hcs.Client.ComputeSystem;

namespace Hcs.Cli;

/// <summary>start, stop, kill, pause, unpause, rm, wait: one request (or two) per container.</summary>
internal static class Lifecycle
{
    /// <summary>Applies <paramref name="each"/> to every id, going on after a failure (as docker:
    /// `rm a b` removes b even if a is missing); 125 if any failed.</summary>
    public static async Task<int> ForEach(string[] ids, Func<string, Task> each, bool printId = true)
    {
        bool failed = false;
        foreach (var id in ids)
        {
            try
            {
                await each(id);
                if (printId) Output.Line(id);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Output.Error(Commands.Describe(e));
                failed = true;
            }
        }
        return failed ? ExitCodes.HcsFailed : 0;
    }

    private static async Task WithSystem(Globals g, string id, CancellationToken ct, Func<ComputeSystem, Task> action)
    {
        await using var hcs = g.Connect();
        await using var system = await hcs.OpenComputeSystemAsync(id, ct);
        await action(system);
    }

    public static Task Start(Globals g, string id, CancellationToken ct) =>
        WithSystem(g, id, ct, s => s.StartAsync(ct));

    public static Task Pause(Globals g, string id, CancellationToken ct) =>
        WithSystem(g, id, ct, s => s.PauseAsync(ct));

    public static Task Unpause(Globals g, string id, CancellationToken ct) =>
        WithSystem(g, id, ct, s => s.ResumeAsync(ct));

    /// <summary>Prints each container's exit code once it has stopped.</summary>
    public static Task Wait(Globals g, string id, CancellationToken ct) =>
        WithSystem(g, id, ct, async s =>
        {
            var status = await s.WaitForExitAsync(null, ct);
            Output.Line((status.ExitCode ?? status.Status).ToString());
        });

    /// <summary>SIGTERM to the init, SIGKILL after <paramref name="seconds"/>; a container that
    /// has already stopped is not an error (docker).</summary>
    public static Task<int> Stop(Globals g, string[] ids, int seconds, CancellationToken ct)
    {
        if (seconds < 0) throw new UsageException($"-t {seconds}: must be 0 or more seconds");
        return ForEach(ids, id => WithSystem(g, id, ct, async s =>
        {
            try
            {
                await s.ShutdownAsync(TimeSpan.FromSeconds(seconds), ct);
            }
            catch (HcsException e) when (e.Error.Name == HcsError.SystemAlreadyStopped.Name)
            {
            }
        }));
    }

    /// <summary>A signal to the init; SIGKILL kills every process of the container (HCS terminate).</summary>
    public static Task<int> Kill(Globals g, string[] ids, string signalText, CancellationToken ct)
    {
        if (!SignalNames.TryParse(signalText, out var signal))
            throw new UsageException($"-s {signalText}: not a signal name or number");
        return ForEach(ids, id => WithSystem(g, id, ct, async s =>
        {
            if (signal == 9)
            {
                await s.TerminateAsync(ct);
                return;
            }
            var properties = await s.GetPropertiesAsync();
            if (properties.Stopped || properties.InitProcessId == 0)
                throw new UsageException($"{id}: the container is not running");
            await using var init = await s.OpenProcessAsync(properties.InitProcessId, attach: false, ct);
            await init.SignalAsync(signal, ct);
        }));
    }

    /// <summary>Deletes containers and the scratch directories hcs made for them. A scratch
    /// directory left by an interrupted `run --rm` goes too, even when hcsd has no such container.</summary>
    public static Task<int> Remove(Globals g, string[] ids, bool force, CancellationToken ct) =>
        ForEach(ids, async id =>
        {
            try
            {
                await WithSystem(g, id, ct, s => s.DeleteAsync(force, ct));
            }
            catch (HcsException e) when (e.Error.Name == HcsError.SystemNotFound.Name && Directory.Exists(Scratch.PathFor(id)))
            {
            }
            Scratch.Remove(id);
        });
}
