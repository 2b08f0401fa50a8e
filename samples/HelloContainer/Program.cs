// HelloContainer ROOTFS: creates a container whose root is ROOTFS (a directory holding a Linux
// userland, e.g. an unpacked busybox or alpine image), runs `echo hello` in it, prints what it
// wrote, and removes the container. Needs a running hcsd ($HCS_SOCKET or /run/hcs/hcs.sock).
using Hcs.Client;
using Doc = Hcs.Schema.Hcs;

if (args.Length != 1 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: HelloContainer ROOTFS-DIRECTORY");
    return 2;
}
var rootfs = Path.GetFullPath(args[0]);
// The rootfs is used read-only, under a scratch layer of our own: the directory stays as it was.
var scratch = Directory.CreateTempSubdirectory("hello-container-").FullName;
var id = "hello-" + Guid.NewGuid().ToString("N")[..8];

try
{
    await using var hcs = new HostComputeService();
    var service = await hcs.GetServiceInfoAsync();
    Console.WriteLine($"hcsd {service.Version} at {hcs.SocketPath}, cgroups {service.CgroupMode}");

    // No OciSpecification: the container's init is hcs's pause process, and the container runs
    // until it is terminated; the work is done by processes started in it.
    var document = new Doc.ComputeSystem
    {
        Owner = "HelloContainer",
        SchemaVersion = new Doc.SchemaVersion { Major = 2, Minor = 1 },
        Container = new Doc.Container
        {
            Storage = new Doc.Storage { Layers = [new Doc.Layer { Path = rootfs }], Path = scratch },
        },
    };
    await using var system = await hcs.CreateComputeSystemAsync(id, document);
    try
    {
        await system.StartAsync();
        Console.WriteLine($"container {system.Id} started");

        await using var process = await system.CreateProcessAsync(new Doc.ProcessParameters
        {
            CommandArgs = ["echo", "hello"],
            Environment = new() { ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
            CreateStdOutPipe = true,
            CreateStdErrPipe = true,
        });
        // Both outputs are read while the process runs: an unread stream could hold up the other.
        using var stdout = new StreamReader(process.StandardOutput!);
        using var stderr = new StreamReader(process.StandardError!);
        var output = stdout.ReadToEndAsync();
        var errors = stderr.ReadToEndAsync();
        int exitCode = await process.WaitForExitAsync();
        Console.Write(await output);
        Console.Error.Write(await errors);
        Console.WriteLine($"echo exited with {exitCode}");

        await system.TerminateAsync();
        await system.WaitForExitAsync(TimeSpan.FromSeconds(10));
        return exitCode;
    }
    finally
    {
        await system.DeleteAsync(force: true);
        Console.WriteLine($"container {id} deleted");
    }
}
catch (Doc.HcsException e)
{
    Console.Error.WriteLine($"{e.Error.Name}: {e.Message}");
    return 1;
}
finally
{
    try { Directory.Delete(scratch, recursive: true); }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"note: could not remove the scratch directory {scratch}: {e.Message}");
    }
}
