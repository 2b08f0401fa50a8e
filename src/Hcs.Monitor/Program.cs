using System.Net.Sockets;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Monitor;

// hcs-monitor --run-dir DIR: one per host (per run dir). hcsd starts it when it is not running;
// it keeps running when hcsd stops, so containers and their exit codes survive the daemon.
Sys.CloseInheritedDescriptors();
string runDir = "/run/hcs";
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--run-dir" when i + 1 < args.Length: runDir = args[++i]; break;
        case "--help" or "-h":
            Console.WriteLine("usage: hcs-monitor [--run-dir DIR]\n  the parent of hcsd's containers; started by hcsd, serves DIR/monitor.sock\n" +
                              "  runs hcs-zygote from $HCS_ZYGOTE, else PREFIX/lib/hcs/hcs-zygote beside its PREFIX/bin,\n" +
                              "  else /usr/local/lib/hcs/hcs-zygote (without one, containers' first processes are not made ahead)");
            return 0;
        default:
            Console.Error.WriteLine($"hcs-monitor: unknown argument \"{args[i]}\" (try --help)");
            return 2;
    }
}
// hcsd runs with umask 077; what the monitor makes for containers (an overlay's upper
// directory is the container's root directory) must be usable by a container's non-root users.
Sys.Umask(0x12); // 022
Directory.CreateDirectory(runDir);
File.SetUnixFileMode(runDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

// One monitor per run dir: the lock is held for the monitor's life.
var lockFile = new FileStream(Path.Combine(runDir, "monitor.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite);
try { lockFile.Lock(0, 0); }
catch (IOException)
{
    Console.Error.WriteLine("hcs-monitor: already running for " + runDir);
    return 0;
}

// The zygote (hcs-zygote, see SpawnPool) starts now, from the main thread, which lives as long
// as the pool: two children ready for hcsd's default container (new pid, network, ipc, uts
// namespaces).
var pool = Environment.GetEnvironmentVariable("HCS_SPAWN_POOL") == "0" ? null
    : SpawnPool.Start(size: 2, SpawnPool.MadeAhead, Log.Info);

var socketPath = Path.Combine(runDir, "monitor.sock");
File.Delete(socketPath);
var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
listener.Bind(new UnixDomainSocketEndPoint(socketPath));
File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
listener.Listen(512);
File.WriteAllText(Path.Combine(runDir, "monitor.pid"), Libc.GetPid().ToString());

var engine = new ContainerEngine(new EngineOptions { Root = Path.Combine(runDir, "engine"), Warn = Log.Info });
var service = new MonitorService(engine, new IoLoop(), pool);
Log.Info($"serving {socketPath}");
for (;;)
{
    var client = await listener.AcceptAsync();
    try { new Thread(() => service.Serve(client)) { IsBackground = true, Name = "connection" }.Start(); }
    catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
    {
        // no thread for it now: the client is refused (and retries), the monitor lives on
        Log.Error($"no thread for a connection: {e.Message}");
        client.Dispose();
    }
}
