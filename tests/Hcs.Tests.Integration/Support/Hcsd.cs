using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Hcs.Schema.Hcs;
using Spec = Hcs.Schema.Oci.Spec;

namespace Hcs.Tests.Integration.Support;

/// <summary>
/// A private hcsd for one test: its own socket, run dir (and so its own hcs-monitor) and state
/// dir under /run/hcs-tests. Runs the installed binaries (scripts/build.sh installs them), as a
/// user would. Disposing deletes every compute system, stops hcsd and its monitor and removes
/// the directories.
/// </summary>
public sealed class Hcsd : IAsyncDisposable
{
    public static string Binary => Env("HCS_HCSD", "/usr/local/bin/hcsd");
    public static string MonitorBinary => Env("HCS_MONITOR", "/usr/local/bin/hcs-monitor");
    public static string PauseBinary => Env("HCS_PAUSE", "/usr/local/lib/hcs/hcs-pause");

    public string Dir { get; } = Path.Combine("/run/hcs-tests", "d-" + Guid.NewGuid().ToString("N")[..10]);
    public string SocketPath => Path.Combine(Dir, "hcs.sock");
    public string RunDir => Path.Combine(Dir, "run");
    public string StateDir => Path.Combine(Dir, "state");
    public HttpClient Http { get; }
    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";
    private string LogPath => Path.Combine(Dir, "hcsd.log");
    private readonly string[] _extraArgs;
    private Process? _process;

    private Hcsd(string[] extraArgs)
    {
        _extraArgs = extraArgs;
        Directory.CreateDirectory(Dir);
        Http = UnixHttp(SocketPath);
    }

    /// <summary>An HttpClient whose every connection goes to a Unix socket (base http://hcs/).</summary>
    public static HttpClient UnixHttp(string socketPath) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                return new NetworkStream(s, ownsSocket: true);
            }
            catch
            {
                s.Dispose();
                throw;
            }
        },
    })
    { BaseAddress = new Uri("http://hcs/"), Timeout = TimeSpan.FromSeconds(60) };

    public static async Task<Hcsd> StartAsync(params string[] extraArgs)
    {
        foreach (var binary in new[] { Binary, MonitorBinary, PauseBinary })
            if (!File.Exists(binary))
                throw new InvalidOperationException($"{binary} is missing: run scripts/build.sh (it installs hcsd, hcs-monitor, hcs-pause)");
        var d = new Hcsd(extraArgs);
        await d.LaunchAsync();
        return d;
    }

    private async Task LaunchAsync()
    {
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = "/", // as a service manager starts it
        };
        foreach (var a in new[] { "--socket", SocketPath, "--run-dir", RunDir, "--state-dir", StateDir,
                                  "--monitor", MonitorBinary, "--pause", PauseBinary })
            psi.ArgumentList.Add(a);
        foreach (var a in _extraArgs) psi.ArgumentList.Add(a);
        var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"hcsd exited with {_process.ExitCode}:\n{Log}");
            try
            {
                using var r = await Http.GetAsync("v2/service");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(20);
        }
        throw new TimeoutException($"hcsd did not answer within 30 s:\n{Log}");
    }

    public int Pid => _process?.Id ?? 0;

    /// <summary>The monitor's pid (it outlives hcsd).</summary>
    public int MonitorPid => int.Parse(File.ReadAllText(Path.Combine(RunDir, "monitor.pid")).Trim());

    /// <summary>kill -9 of hcsd only: containers and the monitor stay.</summary>
    public async Task KillAsync()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async Task RestartAsync()
    {
        await KillAsync();
        await LaunchAsync();
    }

    // ---- documents and directories ----------------------------------------------------

    private static readonly Lazy<string> Busybox = new(MakeBusyboxLayer);
    private static readonly ConcurrentBag<string> Scratches = [];

    /// <summary>A read-only busybox root (Debian's busybox-static), built once per test run.</summary>
    public static string BusyboxLayer => Busybox.Value;

    private static string MakeBusyboxLayer()
    {
        var dir = Path.Combine("/run/hcs-tests", "busybox-layer-" + Environment.ProcessId);
        if (Directory.Exists(Path.Combine(dir, "bin"))) return dir;
        foreach (var d in new[] { "bin", "etc", "tmp", "proc", "sys", "dev", "root" })
            Directory.CreateDirectory(Path.Combine(dir, d));
        File.Copy("/bin/busybox", Path.Combine(dir, "bin/busybox"), overwrite: true);
        var applets = Tools.Run("/bin/busybox", ["--list"]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var a in applets)
        {
            var link = Path.Combine(dir, "bin", a);
            if (!File.Exists(link) && a != "busybox") File.CreateSymbolicLink(link, "busybox");
        }
        File.WriteAllText(Path.Combine(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
        File.WriteAllText(Path.Combine(dir, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, true); } catch (Exception) { }
            foreach (var s in Scratches) try { Directory.Delete(s, true); } catch (Exception) { }
        };
        return dir;
    }

    /// <summary>A fresh scratch directory (Storage.Path), removed when the test run ends.</summary>
    public static string NewScratch()
    {
        var dir = Path.Combine("/run/hcs-tests", "scratch", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        Scratches.Add(dir);
        return dir;
    }

    /// <summary>A container on the busybox layer with a fresh scratch: runs args as its init, or
    /// hcs's pause init when there are none.</summary>
    public static ComputeSystem ContainerDocument(params string[] args) => new()
    {
        SchemaVersion = new SchemaVersion { Major = 2, Minor = 1 },
        Owner = "tests",
        Container = new Container
        {
            Storage = new Storage { Layers = [new Layer { Path = BusyboxLayer }], Path = NewScratch() },
            OciSpecification = args.Length == 0 ? null : new Spec
            {
                OciVersion = "1.0.2",
                Process = new Schema.Oci.Process { Args = [.. args], Cwd = "/", Env = ["PATH=/bin"] },
            },
        },
    };

    /// <summary>POST /v2/compute-systems with a document; returns the response.</summary>
    public Task<HttpResponseMessage> CreateAsync(string id, ComputeSystem doc) =>
        Http.PostAsync("v2/compute-systems", Body(HcsWriter.ToUtf8(w => HcsWriter.Write(w, new CreateComputeSystemRequest { Id = id, Document = doc }))));

    public static ByteArrayContent Body(byte[] json)
    {
        var c = new ByteArrayContent(json);
        c.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return c;
    }

    public static ByteArrayContent Body(string json) => Body(System.Text.Encoding.UTF8.GetBytes(json));

    // ---- teardown ----------------------------------------------------------------------

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                using var list = await Http.GetAsync("v2/compute-systems");
                foreach (var s in HcsReader.ReadSummaries(await list.Content.ReadAsByteArrayAsync()))
                    using (await Http.DeleteAsync($"v2/compute-systems/{s.Id}?force=true")) { }
            }
        }
        catch (Exception) { /* the test may have broken the daemon on purpose */ }
        await KillAsync();
        try
        {
            var pid = MonitorPid;
            Tools.Run("/bin/kill", ["-9", pid.ToString()]);
            Tools.WaitUntil(() => !Directory.Exists($"/proc/{pid}"), "monitor exit", 5000);
        }
        catch (Exception) { }
        KillLeftoverContainers();
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo").Reverse())
        {
            var mountPoint = line.Split(' ')[4];
            if (mountPoint.StartsWith(Dir + "/")) Tools.Run("/bin/umount", ["-l", mountPoint]);
        }
        try { Directory.Delete(Dir, recursive: true); } catch (Exception) { }
        Http.Dispose();
    }

    /// <summary>A daemon the test broke could not delete its systems, and containers outlive the
    /// monitor (0004 "Limits"): kill what is still in their cgroups and remove the cgroups, so one
    /// failed test does not leave processes (holding whatever they inherited) to the next.</summary>
    private void KillLeftoverContainers()
    {
        var ids = new HashSet<string>();
        foreach (var dir in new[] { Path.Combine(RunDir, "systems"), Path.Combine(RunDir, "engine") })
            if (Directory.Exists(dir))
                foreach (var system in Directory.GetDirectories(dir)) ids.Add(Path.GetFileName(system));
        foreach (var id in ids)
        {
            var cgroups = Directory.GetDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, "hcs", id)).Where(Directory.Exists).ToList();
            for (int attempt = 0; attempt < 100; attempt++)
            {
                var pids = cgroups.SelectMany(c => ReadLines(Path.Combine(c, "cgroup.procs"))).Distinct().ToList();
                if (pids.Count == 0) break;
                foreach (var pid in pids)
                {
                    try { using var p = Process.GetProcessById(int.Parse(pid)); p.Kill(); }
                    catch (Exception) { }
                }
                // a frozen (paused) task dies only once thawed
                foreach (var c in cgroups)
                    try { if (File.Exists(Path.Combine(c, "freezer.state"))) File.WriteAllText(Path.Combine(c, "freezer.state"), "THAWED"); }
                    catch (Exception) { }
                Thread.Sleep(20);
            }
            foreach (var c in cgroups)
                try { Directory.Delete(c); } catch (Exception) { }
        }
    }

    private static string[] ReadLines(string path)
    {
        try { return File.ReadAllLines(path).Where(l => l.Length > 0).ToArray(); }
        catch (IOException) { return []; }
    }

    private static string Env(string name, string fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : fallback;
}
