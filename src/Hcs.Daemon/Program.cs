using System.Reflection;
using System.Runtime.InteropServices;
using Hcs.Daemon.Api;
using Hcs.Daemon.Compute;
using Hcs.Daemon.Monitor;
using Hcs.Daemon.Store;
using Hcs.Linux.Containers;
using Hcs.Schema.Hcs;

// hcsd: the Host Compute Service daemon. Runs in the foreground (a service manager runs it as a
// unit: packaging/hcsd.service); containers live in hcs-monitor and survive hcsd.
var options = new DaemonOptions();
string? Value(string[] a, ref int i) => i + 1 < a.Length ? a[++i] : throw new ArgumentException($"{a[i]} needs a value");
try
{
    for (int i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--socket": options.SocketPath = Value(args, ref i)!; break;
            case "--group": options.Group = Value(args, ref i); break;
            case "--run-dir": options.RunDir = Value(args, ref i)!; break;
            case "--state-dir": options.StateDir = Value(args, ref i)!; break;
            case "--monitor": options.MonitorBinary = Value(args, ref i)!; break;
            case "--pause": options.PauseBinary = Value(args, ref i)!; break;
            case "--insecure-registry": options.InsecureRegistries.Add(Value(args, ref i)!); break;
            case "--version": Console.WriteLine($"hcsd {Version()}"); return 0;
            case "--help" or "-h":
                Console.WriteLine("""
                    usage: hcsd [options]
                      --socket PATH     API socket (default $HCS_SOCKET or /run/hcs/hcs.sock)
                      --group NAME      also allow members of this group (socket mode 0660)
                      --run-dir DIR     runtime state: monitor, bundles (default /run/hcs)
                      --state-dir DIR   the store and logs (default /var/lib/hcs)
                      --monitor PATH    the hcs-monitor binary (default: next to hcsd, else /usr/local/bin)
                      --pause PATH      the pause init (default /usr/local/lib/hcs/hcs-pause)
                      --insecure-registry HOST[:PORT]
                                        pull from this registry over plain HTTP (repeatable;
                                        localhost and 127.0.0.1 always may)
                    Images and layers are kept under STATE-DIR/images.
                    """);
                return 0;
            default: throw new ArgumentException($"unknown argument \"{args[i]}\" (try --help)");
        }
    }
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"hcsd: {e.Message}");
    return 2;
}
if (options.MonitorBinary.Length == 0) options.MonitorBinary = FindBinary("hcs-monitor", "/usr/local/bin/hcs-monitor");
if (options.PauseBinary.Length == 0) options.PauseBinary = FindBinary("hcs-pause", "/usr/local/lib/hcs/hcs-pause");
uint? gid = null;
if (options.Group is { } group && (gid = PeerCredentials.GroupId(group)) is null)
{
    Console.Error.WriteLine($"hcsd: --group: no group named \"{group}\"");
    return 2;
}
Umask(0x3f); // 0077: the socket, store and logs are created private
// create, start and delete wait for hcs-monitor on their pool thread (MonitorClient.Call), as
// store writes do, unseen by the pool's detection of blocked threads: up to this many such waits
// get a thread at once, without the pool's slow injection past its minimum (the cores). Threads
// are made only when needed.
ThreadPool.GetMinThreads(out int minWorkers, out int minIo);
ThreadPool.SetMinThreads(Math.Max(minWorkers, 32), minIo);
// Whatever hcsd inherited (a lock of its caller, a terminal's extra fds) must not pass on to the
// long-lived monitor it starts: close-on-exec for every fd but stdio.
NativeMethods.close_range(3, uint.MaxValue, 4 /* CLOSE_RANGE_CLOEXEC */);

Directory.CreateDirectory(options.RunDir);
Directory.CreateDirectory(options.StateDir);
Directory.CreateDirectory(options.LogsDir);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.SocketPath))!);

// hcsd reads no appsettings files, so it watches none. By default ASP.NET watches its content
// root, the working directory (/ under a service manager), recursively for appsettings
// changes: 14,000 inotify watches on a plain Debian host, and an event to handle for every file
// written anywhere below, each bundle, scratch and container write included.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
{
    ContentRootPath = AppContext.BaseDirectory,
    Args = ["--hostBuilder:reloadConfigOnChange=false"],
});
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
builder.WebHost.ConfigureKestrel(k =>
{
    k.AddServerHeader = false;
    k.Limits.MaxRequestBodySize = 4 << 20;
    k.ListenUnixSocket(options.SocketPath);
});
// Kestrel runs a request's continuations on the thread that completed the socket read (a pool
// worker) instead of handing them to another one (docs/design/0009-hcsd-request-path.md).
builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
builder.Services.AddSingleton(options);
builder.Services.AddSingleton(sp =>
{
    var storeLog = sp.GetRequiredService<ILogger<SystemStore>>();
    return new SystemStore(Path.Combine(options.StateDir, "hcs.db"))
    {
        LaterWriteFailed = e => storeLog.LogError("store: a queued write failed (kept for the next try): {Message}", e.Message),
    };
});
builder.Services.AddSingleton<EventHub>();
builder.Services.AddSingleton(sp => new MonitorClient(options.RunDir, options.MonitorBinary, sp.GetRequiredService<ILogger<MonitorClient>>()));
builder.Services.AddSingleton(_ => new ContainerEngine(new EngineOptions { Root = options.EngineRoot }));
builder.Services.AddSingleton<IReadOnlyDictionary<string, IIsolationBackend>>(sp =>
{
    var process = new ProcessBackend(sp.GetRequiredService<MonitorClient>(), sp.GetRequiredService<ContainerEngine>());
    return new Dictionary<string, IIsolationBackend> { [process.Kind] = process };
});
builder.Services.AddSingleton<Hcs.Daemon.Images.ImageService>();
builder.Services.AddSingleton<ComputeService>();

var app = builder.Build();
var log = app.Services.GetRequiredService<ILogger<ComputeService>>();
var compute = app.Services.GetRequiredService<ComputeService>();
var monitor = app.Services.GetRequiredService<MonitorClient>();
var peers = new PeerCredentials(gid);

// The monitor first, then agree with it about what exists, then serve.
var reconciled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
try { await monitor.EnsureRunningAsync(); }
catch (HcsException e)
{
    Console.Error.WriteLine($"hcsd: {e.Detail}");
    return 1;
}
var stopping = app.Lifetime.ApplicationStopping;
_ = monitor.SubscribeAsync(compute.OnMonitorEventAsync, async () =>
{
    try { await compute.ReconcileAsync(stopping); }
    catch (Exception e) { log.LogError(e, "reconcile"); }
    reconciled.TrySetResult();
}, stopping);
await reconciled.Task.WaitAsync(TimeSpan.FromSeconds(60));

var info = new ServiceInfo
{
    Version = Version(),
    SupportedSchemaVersions = [new SchemaVersion { Major = 2, Minor = 1 }],
    IsolationKinds = ["Process"],
    CgroupMode = app.Services.GetRequiredService<ContainerEngine>().Cgroups.Mode.ToString().ToLowerInvariant(),
};
// a young-generation collection every 2 MiB allocated: hcsd's growth per container stays the
// objects it keeps, not the garbage of requests (Hcs.Linux.Runtime.HeapKeeper says why)
var heap = new Hcs.Linux.Runtime.HeapKeeper(2 << 20, 1);
app.Use(async (ctx, next) =>
{
    await HcsApi.Guard(ctx, next, peers, log);
    heap.AfterRequest();
});
app.UseWebSockets();
HcsApi.Map(app, info);
ImageRoutes.Map(app);
app.MapFallback(ctx => HcsApi.WriteError(ctx, HcsError.NotFound, $"no route {ctx.Request.Method} {ctx.Request.Path}"));
app.UseStatusCodePages(ctx => ctx.HttpContext.Response.ContentLength is null or 0 && !ctx.HttpContext.Response.HasStarted
    ? HcsApi.WriteError(ctx.HttpContext, ctx.HttpContext.Response.StatusCode == 405 ? HcsError.NotFound : HcsError.InvalidJson,
        $"{ctx.HttpContext.Request.Method} {ctx.HttpContext.Request.Path}: HTTP {ctx.HttpContext.Response.StatusCode}",
        status: ctx.HttpContext.Response.StatusCode)
    : Task.CompletedTask);

if (File.Exists(options.SocketPath)) File.Delete(options.SocketPath);
await app.StartAsync();
// Kestrel created the socket under umask 077 (0700 → root only); a group opens it to 0660.
if (gid is { } g)
{
    File.SetUnixFileMode(options.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
    Chown(options.SocketPath, 0, g);
}
else File.SetUnixFileMode(options.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
log.LogInformation("hcsd {Version} serving {Socket} (monitor {Monitor})", info.Version, options.SocketPath, options.MonitorBinary);
await app.WaitForShutdownAsync();
// the store's queued writes go to disk before the process ends (a stop is not a crash)
app.Services.GetRequiredService<SystemStore>().Flush();
return 0;

static string Version() =>
    typeof(DaemonOptions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

static string FindBinary(string name, string fallback)
{
    var beside = Path.Combine(AppContext.BaseDirectory, name);
    return File.Exists(beside) ? beside : fallback;
}

static void Umask(int mask) => NativeMethods.umask(mask);
static void Chown(string path, uint uid, uint gid)
{
    if (NativeMethods.chown(path, uid, gid) != 0) throw new IOException($"chown {path}: errno {Marshal.GetLastPInvokeError()}");
}

internal static partial class NativeMethods
{
    [LibraryImport("libc")]
    internal static partial int umask(int mask);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chown(string path, uint uid, uint gid);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close_range(uint first, uint last, int flags);
}
