using Hcs.Client;
using Hcs.Schema.Hcs;
using ComputeSystem = Hcs.Client.ComputeSystem;
using Document = Hcs.Schema.Hcs.ComputeSystem;

namespace Hcs.Cli;

/// <summary>run, create and exec: the verbs that start something in a container.</summary>
internal static class Containers
{
    /// <summary>
    /// hcs run: create the container with the command as its init, start it, and (unless -d)
    /// be its terminal until it exits, returning its exit code.
    /// <code>
    ///   hcs                              hcsd
    ///    |-- POST compute-systems -------->|  OciSpecification.process = the command; the
    ///    |                                 |  init is created, waiting to be started
    ///    |                                 |  (the answer says the init's pid)
    ///    |== GET  .../ID/start/attach =====>|  attached first, then started: no output
    ///    |   (?remove=true with --rm)      |  can be missed; one request for both
    ///    |<========= stdout, stderr =======|  (our stdin ==> its stdin with -i)
    ///    |<========= removed ==============|  with --rm: hcsd deleted the system
    ///    |<========= exit code ============|  the attach's last message
    ///    |-- DELETE compute-systems/ID --->|  with --rm, only if hcsd did not say removed
    /// </code>
    /// </summary>
    public static async Task<int> Run(Globals g, ContainerFlags flags, bool detach, bool rm, CancellationToken ct)
    {
        if (detach && rm)
            throw new UsageException("--rm with -d: nobody would be there to remove the container when it exits (remove it with hcs rm)");
        var id = flags.Name ?? Scratch.NewId();
        await using var hcs = g.Connect();
        ComputeSystem system;
        try
        {
            system = await CreateAsync(hcs, id, flags, ct);
            Trace.Mark("created");
        }
        catch (HcsException e) when (ExitCodes.ForStartFailure(e.Message) != ExitCodes.HcsFailed)
        {
            // hcsd creates the init (and so looks its program up) at create, as runc does
            Output.Error(Commands.FromDaemon(e));
            return ExitCodes.ForStartFailure(e.Message);
        }
        await using (system)
        {
            if (detach)
            {
                await StartOrExplain(system, ct);
                Output.Line(id);
                return 0;
            }

            // Attach before start when hcsd has the init waiting already (it creates it as
            // runc create does, and says its pid in the create's answer): then nothing it writes
            // or reads can come before us. One request does both; should it be refused, the
            // steps one by one say why (or work: the init may have gone, its output is logged).
            ComputeProcess? init = null;
            HcsException? refused = null;
            if (system.InitProcessId != 0)
            {
                // with --rm hcsd deletes the system before it sends the exit code: no delete after
                try { init = await system.StartAttachedAsync(removeOnExit: rm, ct); }
                catch (HcsException e) { refused = e; }
            }
            Trace.Mark("attached and started");
            // the attach worked and the start failed: its error is the one to tell
            if (refused is not null && (await system.GetPropertiesAsync([], ct)).State != "Created")
                return await StartFailed(refused);
            if (init is null)
            {
                init = system.InitProcessId != 0 ? await TryAttachAsync(system, system.InitProcessId, ct) : null;
                try
                {
                    await system.StartAsync(ct);
                    Trace.Mark("started");
                }
                catch (HcsException e)
                {
                    if (init is not null) await init.DisposeAsync();
                    return await StartFailed(e);
                }
            }
            if (init is null)
            {
                var started = await system.GetPropertiesAsync([], ct);
                if (started.InitProcessId != 0 && !started.Stopped)
                    init = await TryAttachAsync(system, started.InitProcessId, ct);
            }

            int code;
            bool removed = false;
            if (init is null)
            {
                // it exited before we could attach: what it wrote is in its log
                await foreach (var entry in system.GetLogsAsync(follow: true, ct))
                    Queries.WriteLogEntry(entry);
                code = await SystemExitCodeAsync(system, ct);
            }
            else
            {
                await using (init)
                    code = await AttachedSession.RunAsync(init, flags.Interactive, flags.Tty, () => SystemExitCodeAsync(system, ct));
                removed = init.SystemRemoved;
            }
            Trace.Mark("exited");
            if (rm && removed) Scratch.Remove(id); // hcsd deleted the system; the scratch is ours
            else if (rm) await RemoveAsync(system, id);
            Trace.Mark("removed");
            return code;
        }

        async Task<int> StartFailed(HcsException e)
        {
            Output.Error(Commands.FromDaemon(e));
            if (rm) await RemoveAsync(system, id);
            return ExitCodes.ForStartFailure(e.Message);
        }
    }

    private static async Task<ComputeProcess?> TryAttachAsync(ComputeSystem system, uint pid, CancellationToken ct)
    {
        try
        {
            return await system.OpenProcessAsync(pid, attach: true, ct);
        }
        catch (HcsException e) when (e.Error.Name is "HCS_E_PROCESS_INFO_NOT_AVAILABLE" or "HCS_E_PROCESS_ALREADY_STOPPED" or "HCS_E_INVALID_STATE")
        {
            return null; // gone already: the caller reads the log instead
        }
    }

    private static async Task<int> SystemExitCodeAsync(ComputeSystem system, CancellationToken ct)
    {
        var status = await system.WaitForExitAsync(null, ct);
        return status.ExitCode ?? (status.Status == 0 ? 0 : ExitCodes.HcsFailed);
    }

    /// <summary>hcs create with run's flags: the container is left in state Created.</summary>
    public static async Task<int> Create(Globals g, ContainerFlags flags, CancellationToken ct)
    {
        var id = flags.Name ?? Scratch.NewId();
        await using var hcs = g.Connect();
        await using var system = await CreateAsync(hcs, id, flags, ct);
        Output.Line(id);
        return 0;
    }

    /// <summary>hcs create --file DOC.json: the document as written (read strictly, so a typo
    /// is reported here with its JSON path rather than ignored).</summary>
    public static async Task<int> CreateFromFile(Globals g, string path, string? name, CancellationToken ct)
    {
        var bytes = path == "-" ? ReadAll(Console.OpenStandardInput()) : File.ReadAllBytes(path);
        Document document;
        try
        {
            document = HcsReader.ReadComputeSystem(bytes);
        }
        catch (Hcs.Schema.DocumentException e)
        {
            // checked here first: the same strict reading hcsd does, with the file's name
            throw new UsageException($"{path}: " + (e.Errors.Count == 1 ? e.Errors[0].ToString() : "\n  " + string.Join("\n  ", e.Errors)));
        }
        var id = name ?? Scratch.NewId();
        await using var hcs = g.Connect();
        await using var system = await hcs.CreateComputeSystemAsync(id, document, ct);
        Output.Line(id);
        return 0;
    }

    private static byte[] ReadAll(Stream s)
    {
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    /// <summary>Creates the container with a fresh scratch directory, removed again if hcsd
    /// refuses the document.</summary>
    private static async Task<ComputeSystem> CreateAsync(HostComputeService hcs, string id, ContainerFlags flags, CancellationToken ct)
    {
        if (flags.Image is { } reference)
        {
            var image = await ImageFor(hcs, reference, ct);
            flags = flags.WithImageDefaults(image.Config, image.LayerPaths);
            Trace.Mark("image resolved");
        }
        // a container of an image gets its scratch from hcsd (removed with it); a --rootfs DIR:O
        // one names a directory of ours; a plain --rootfs DIR is the root itself (as podman's)
        var scratch = flags.RootfsOverlay ? Scratch.Create(id) : null;
        try
        {
            Document document = flags.ToDocument(id, scratch);
            Trace.Mark("document built");
            return await hcs.CreateComputeSystemAsync(id, document, ct);
        }
        catch
        {
            if (scratch is not null) Scratch.Remove(id);
            throw;
        }
    }

    /// <summary>The image from the store; pulled first when the store does not have it, as
    /// docker run does.</summary>
    private static async Task<Hcs.Schema.Images.ImageDetails> ImageFor(HostComputeService hcs, string reference, CancellationToken ct)
    {
        try
        {
            // unpacked: -u NAME is looked up in the image's own /etc/passwd
            return await hcs.Images.InspectAsync(reference, unpacked: true, ct);
        }
        catch (HcsException e) when (e.Error.Name == HcsError.ImageNotFound.Name)
        {
            Output.Error($"Unable to find image '{reference}' locally");
            await Images.PullWithProgress(hcs, reference, null, null, ct);
            return await hcs.Images.InspectAsync(reference, unpacked: true, ct);
        }
    }

    private static async Task StartOrExplain(ComputeSystem system, CancellationToken ct)
    {
        try
        {
            await system.StartAsync(ct);
        }
        catch (HcsException e) when (ExitCodes.ForStartFailure(e.Message) != ExitCodes.HcsFailed)
        {
            throw new CommandNotRunnable(e.Message, ExitCodes.ForStartFailure(e.Message));
        }
    }

    /// <summary>--rm: the container and the scratch directory hcs made for it. Failures are
    /// reported but do not change the exit code, which is the container's.</summary>
    private static async Task RemoveAsync(ComputeSystem system, string id)
    {
        try
        {
            await system.DeleteAsync(force: true);
        }
        catch (Exception e)
        {
            Output.Error($"hcs: removing {id}: {e.Message}");
            return;
        }
        Scratch.Remove(id);
    }

    /// <summary>
    /// hcs exec: a process in a running container with the pipes it needs; the exit code is
    /// the process's (126/127 when its command cannot be run, as docker).
    /// </summary>
    public static async Task<int> Exec(Globals g, string id, string[] command, string[] env, string? workdir, string? user,
                                       bool interactive, bool tty, bool detach, CancellationToken ct)
    {
        var parameters = new ProcessParameters
        {
            CommandArgs = [.. command],
            WorkingDirectory = workdir,
            User = user,
            EmulateConsole = tty,
            CreateStdInPipe = interactive && !detach,
            CreateStdOutPipe = !detach,
            CreateStdErrPipe = !detach && !tty,
        };
        if (env.Length > 0)
        {
            parameters.Environment = [];
            foreach (var e in env)
            {
                int eq = e.IndexOf('=');
                if (eq == 0) throw new UsageException($"-e {e}: the variable has no name");
                if (eq > 0) parameters.Environment[e[..eq]] = e[(eq + 1)..];
                else if (Environment.GetEnvironmentVariable(e) is { } v) parameters.Environment[e] = v;
            }
        }
        if (tty && (Terminal.Size(1) ?? Terminal.Size(0)) is { } size) parameters.ConsoleSize = [size.Rows, size.Columns];

        await using var hcs = g.Connect();
        await using var system = await hcs.OpenComputeSystemAsync(id, ct);
        ComputeProcess process;
        try
        {
            process = await system.CreateProcessAsync(parameters, ct);
        }
        catch (HcsException e) when (ExitCodes.ForStartFailure(e.Message) != ExitCodes.HcsFailed)
        {
            Output.Error(Commands.FromDaemon(e));
            return ExitCodes.ForStartFailure(e.Message);
        }
        await using (process)
        {
            if (detach) return 0;
            return await AttachedSession.RunAsync(process, interactive, tty);
        }
    }
}

/// <summary>The container's command could not be started: exit code 126 or 127.</summary>
internal sealed class CommandNotRunnable(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// Scratch (writable layer) directories hcs makes for the containers it creates from a rootfs
/// (--rootfs): $HCS_SCRATCH_ROOT/ID, default /var/lib/hcs/scratch/ID. `rm` and `run --rm`
/// remove them; hcsd never does (the document names the directory, the daemon does not own it).
/// A container of an image names no scratch: hcsd makes one and removes it with the container.
/// </summary>
internal static class Scratch
{
    public static string Root =>
        Environment.GetEnvironmentVariable("HCS_SCRATCH_ROOT") is { Length: > 0 } r ? r : "/var/lib/hcs/scratch";

    public static string PathFor(string id) => System.IO.Path.Combine(Root, id);

    /// <summary>12 random hex digits, docker's short id length. Random.Shared rather than a
    /// cryptographic generator: an id needs to be unlikely to collide, not unguessable, and
    /// the cryptographic one loads OpenSSL (milliseconds of start-up).</summary>
    public static string NewId()
    {
        Span<byte> bytes = stackalloc byte[6];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public static string Create(string id)
    {
        if (id.Length == 0 || id.Contains('/') || id is "." or "..")
            throw new UsageException($"'{id}' cannot be a container name");
        var path = PathFor(id);
        // never reuse: an existing directory may be the live scratch of a container with this id
        if (Directory.Exists(path))
            throw new UsageException($"scratch directory {path} exists: is there a container '{id}'? (hcs rm {id} removes both)");
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Remove(string id)
    {
        var path = PathFor(id);
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Output.Error($"hcs: removing scratch directory {path}: {e.Message}");
        }
    }
}
