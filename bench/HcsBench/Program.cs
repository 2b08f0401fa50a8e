// hcs-bench: the Hcs.Client half of bench/hcsd.sh. Each verb talks to an hcsd that is already
// running (bench/hcsd.sh starts a private one), writes its samples as JSON to --out, and prints
// progress on stderr. Method and metrics: bench/README.md ("hcsd").
//
//   hcs-bench lifecycle --socket S --rootfs DIR --scratch DIR --prefix P [--warmup N] [--iterations N] [--gap-ms N]
//                       [--transport async|blocking] --out F
//   hcs-bench density   --socket S --rootfs DIR --scratch DIR --prefix P [--count N] [--pause] --out F
//   hcs-bench events    --socket S --rootfs DIR --scratch DIR --prefix P [--count N] [--warmup N] --out F
//   hcs-bench cleanup   --socket S [--prefix P] [--scratch DIR]
//   hcs-bench layer-import --root DIR --file F --out F      (bench/layers.sh; LayerBench.cs)
//   hcs-bench mount-layers --root DIR --layers N --out F    (bench/mount.sh; MountBench.cs)
//   hcs-bench pull --root DIR --ref R [--insecure] [--mode fetch|eager|unpack] [--parallel N] --out F  (bench/pull.sh; PullBench.cs)
using System.Diagnostics;
using System.Text.Json;
using Hcs.Bench;
using Hcs.Client;
using Doc = Hcs.Schema.Hcs;

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: hcs-bench lifecycle|density|events|cleanup --socket S --prefix P [--rootfs DIR --scratch DIR] [--out FILE] ...");
    return 2;
}
if (args[0] == "layer-import") return await LayerBench.RunAsync(args); // its own options: a store root, not an hcsd
if (args[0] == "mount-layers") return await MountBench.RunAsync(args); // bench/mount.sh; MountBench.cs
if (args[0] == "pull") return await PullBench.RunAsync(args); // bench/pull.sh; PullBench.cs
Options o;
try
{
    o = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"hcs-bench: {e.Message}");
    return 2;
}
try
{
    return args[0] switch
    {
        "lifecycle" => await Bench.LifecycleAsync(o),
        "density" => await Bench.DensityAsync(o),
        "events" => await Bench.EventsAsync(o),
        "cleanup" => await Bench.CleanupAsync(o),
        _ => throw new ArgumentException($"unknown verb \"{args[0]}\""),
    };
}
catch (Doc.HcsException e)
{
    Console.Error.WriteLine($"hcs-bench {args[0]}: {e.Error.Name}: {e.Message}");
    return 1;
}
catch (Exception e) when (e is ArgumentException or IOException or TimeoutException or InvalidOperationException)
{
    Console.Error.WriteLine($"hcs-bench {args[0]}: {e.Message}");
    return 1;
}

namespace Hcs.Bench
{
    internal sealed class Options
    {
        public string Socket = "";
        public string Rootfs = "";
        public string Scratch = "";
        public string Prefix = "";
        public string Out = "";
        public int Warmup = 5;
        public int Iterations = 100;
        public int Count = 50;
        /// <summary>lifecycle: milliseconds of idle between iterations (a diagnostic: how much of
        /// an iteration is the aftermath of the previous one, e.g. network-namespace teardown).</summary>
        public int GapMs;
        /// <summary>density: the pause init rather than `sleep 100000`.</summary>
        public bool Pause;
        /// <summary>lifecycle: Hcs.Client's transport. "async" is its default; "blocking" is
        /// <see cref="HostComputeServiceOptions.BlockingTransport"/>, as the hcs CLI uses it.</summary>
        public bool Blocking;

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (int i = 1; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Number() => int.TryParse(Next(), out var n) && n >= 0 ? n : throw new ArgumentException($"{args[i - 1]}: not a number: {args[i]}");
                switch (args[i])
                {
                    case "--socket": o.Socket = Next(); break;
                    case "--rootfs": o.Rootfs = Path.GetFullPath(Next()); break;
                    case "--scratch": o.Scratch = Path.GetFullPath(Next()); break;
                    case "--prefix": o.Prefix = Next(); break;
                    case "--out": o.Out = Next(); break;
                    case "--warmup": o.Warmup = Number(); break;
                    case "--iterations": o.Iterations = Number(); break;
                    case "--count": o.Count = Number(); break;
                    case "--pause": o.Pause = true; break;
                    case "--gap-ms": o.GapMs = Number(); break;
                    case "--transport":
                        o.Blocking = Next() switch
                        {
                            "async" => false,
                            "blocking" => true,
                            var t => throw new ArgumentException($"--transport: async or blocking, not \"{t}\""),
                        };
                        break;
                    default: throw new ArgumentException($"unknown argument \"{args[i]}\"");
                }
            }
            if (o.Socket.Length == 0) throw new ArgumentException("--socket is required");
            // cleanup without a prefix: every system of that (private) hcsd
            if (args[0] != "cleanup" && o.Prefix.Length == 0) throw new ArgumentException("--prefix is required");
            if (args[0] != "cleanup" && (o.Rootfs.Length == 0 || o.Scratch.Length == 0 || o.Out.Length == 0))
                throw new ArgumentException("--rootfs, --scratch and --out are required");
            return o;
        }
    }

    internal static partial class Bench
    {
        private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

        private static void Log(string text) => Console.Error.WriteLine("  " + text);

        /// <summary>A container on the rootfs (read-only lower layer) with its own scratch, or (with
        /// <paramref name="scratch"/> false) on the rootfs itself as crun's bundle is, running
        /// <paramref name="args"/> as its init, or hcs's pause init when there are none. Everything
        /// else is hcs's default container (docs/design/0005-default-container.md), as `hcs run`
        /// gets it.</summary>
        private static Doc.ComputeSystem Document(Options o, string id, bool scratch, params string[] args) => new()
        {
            SchemaVersion = new Doc.SchemaVersion { Major = 2, Minor = 1 },
            Owner = "hcs-bench",
            Container = new Doc.Container
            {
                Storage = new Doc.Storage { Layers = [new Doc.Layer { Path = o.Rootfs }], Path = scratch ? Path.Combine(o.Scratch, id) : null },
                OciSpecification = args.Length == 0 ? null : new Schema.Oci.Spec
                {
                    OciVersion = "1.0.2",
                    Process = new Schema.Oci.Process { Args = [.. args], Cwd = "/", Env = ["PATH=/bin"] },
                },
            },
        };

        private static void RemoveScratch(Options o, string id)
        {
            try { Directory.Delete(Path.Combine(o.Scratch, id), recursive: true); }
            catch (DirectoryNotFoundException) { }
        }

        // ---- lifecycle: create + start + wait + delete of /bin/true -----------------------

        public static async Task<int> LifecycleAsync(Options o)
        {
            await using var hcs = new HostComputeService(o.Socket, new HostComputeServiceOptions { BlockingTransport = o.Blocking });
            await hcs.GetServiceInfoAsync(); // the connection is open before the first timed call
            var total = new List<double>();
            var phases = new[] { new List<double>(), new List<double>(), new List<double>(), new List<double>() };
            int failed = 0;
            string? firstError = null;
            for (int i = 0; i < o.Warmup + o.Iterations; i++)
            {
                if (o.GapMs > 0) await Task.Delay(o.GapMs);
                var id = $"{o.Prefix}-l{i}";
                // the rootfs as it is, as crun's bundle has it: the same work on both sides
                var doc = Document(o, id, scratch: false, "/bin/true");
                long t0 = Stopwatch.GetTimestamp(), t1 = 0, t2 = 0, t3 = 0, t4;
                try
                {
                    await using var system = await hcs.CreateComputeSystemAsync(id, doc);
                    t1 = Stopwatch.GetTimestamp();
                    await system.StartAsync();
                    t2 = Stopwatch.GetTimestamp();
                    var exit = await system.WaitForExitAsync();
                    t3 = Stopwatch.GetTimestamp();
                    await system.DeleteAsync();
                    t4 = Stopwatch.GetTimestamp();
                    if (exit.ExitCode is not 0) throw new InvalidOperationException($"/bin/true exited with {exit.ExitCode}");
                }
                catch (Exception e) when (e is Doc.HcsException or InvalidOperationException)
                {
                    failed++;
                    firstError ??= e.Message;
                    try { using var h = new HostComputeService(o.Socket); await (await h.OpenComputeSystemAsync(id)).DeleteAsync(force: true); }
                    catch (Doc.HcsException) { }
                    RemoveScratch(o, id);
                    continue;
                }
                RemoveScratch(o, id); // not timed: crun's `run` has no scratch directory to remove
                if (i < o.Warmup) continue;
                total.Add(Ms(t0, t4));
                phases[0].Add(Ms(t0, t1));
                phases[1].Add(Ms(t1, t2));
                phases[2].Add(Ms(t2, t3));
                phases[3].Add(Ms(t3, t4));
            }
            if (firstError is not null) Log($"lifecycle: {failed} iteration(s) failed; first: {firstError}");
            WriteJson(o.Out, w =>
            {
                w.WriteNumber("failed", failed);
                if (firstError is not null) w.WriteString("first_error", firstError);
                Samples(w, "samples_ms", total);
                w.WriteStartObject("phases_ms");
                Samples(w, "create", phases[0]);
                Samples(w, "start", phases[1]);
                Samples(w, "wait", phases[2]);
                Samples(w, "delete", phases[3]);
                w.WriteEndObject();
            });
            return total.Count > 0 ? 0 : 1;
        }

        // ---- density: N idle containers created and started one after another -------------

        public static async Task<int> DensityAsync(Options o)
        {
            await using var hcs = new HostComputeService(o.Socket);
            await hcs.GetServiceInfoAsync();
            var each = new List<double>(o.Count);
            int failed = 0;
            string? firstError = null;
            long start = Stopwatch.GetTimestamp();
            for (int i = 1; i <= o.Count; i++)
            {
                var id = $"{o.Prefix}-d{i}";
                long t0 = Stopwatch.GetTimestamp();
                try
                {
                    await using var system = await hcs.CreateComputeSystemAsync(id, o.Pause ? Document(o, id, scratch: true) : Document(o, id, scratch: true, "sleep", "100000"));
                    await system.StartAsync();
                    each.Add(Ms(t0, Stopwatch.GetTimestamp()));
                }
                catch (Doc.HcsException e)
                {
                    failed++;
                    firstError ??= $"{id}: {e.Error.Name}: {e.Message}";
                }
            }
            double seconds = Ms(start, Stopwatch.GetTimestamp()) / 1000;
            var running = await hcs.ListComputeSystemsAsync(new ComputeSystemQuery(State: "Running"));
            var pids = running.Where(s => s.Id.StartsWith(o.Prefix + "-d", StringComparison.Ordinal)).Select(s => s.InitProcessId).ToList();
            if (firstError is not null) Log($"density: {failed} container(s) failed; first: {firstError}");
            WriteJson(o.Out, w =>
            {
                w.WriteNumber("containers", o.Count);
                w.WriteNumber("failed", failed);
                if (firstError is not null) w.WriteString("first_error", firstError);
                w.WriteNumber("running", pids.Count);
                w.WriteNumber("seconds", seconds);
                w.WriteNumber("rate", o.Count / seconds);
                w.WriteString("init", o.Pause ? "pause" : "sleep 100000");
                Samples(w, "create_start_ms", each);
                w.WriteStartArray("init_pids");
                foreach (var pid in pids) w.WriteNumberValue(pid);
                w.WriteEndArray();
            });
            return failed < o.Count ? 0 : 1;
        }

        // ---- cleanup: delete --force of every system with the prefix ------------------------

        public static async Task<int> CleanupAsync(Options o)
        {
            await using var hcs = new HostComputeService(o.Socket);
            int deleted = 0, failed = 0;
            long t0 = Stopwatch.GetTimestamp();
            foreach (var s in await hcs.ListComputeSystemsAsync())
            {
                if (!s.Id.StartsWith(o.Prefix, StringComparison.Ordinal)) continue;
                try
                {
                    await (await hcs.OpenComputeSystemAsync(s.Id)).DeleteAsync(force: true);
                    deleted++;
                }
                catch (Doc.HcsException e) when (e.Error.Name == Doc.HcsError.SystemNotFound.Name) { }
                catch (Doc.HcsException e)
                {
                    failed++;
                    Log($"cleanup: {s.Id}: {e.Error.Name}: {e.Message}");
                }
                if (o.Scratch.Length > 0) RemoveScratch(o, s.Id);
            }
            Console.Error.WriteLine($"  cleanup: {deleted} deleted in {Ms(t0, Stopwatch.GetTimestamp()) / 1000:F1} s{(failed > 0 ? $", {failed} failed" : "")}");
            return failed == 0 ? 0 : 1;
        }

        // ---- events: SIGKILL from the host -> the exit notification read from /v2/events ----

        /// <summary>When an awaited notification was read (Stopwatch ticks) and hcsd's Time on it.</summary>
        private readonly record struct Seen(long Ticks, DateTime Stamped);

        public static async Task<int> EventsAsync(Options o)
        {
            await using var hcs = new HostComputeService(o.Socket);
            await hcs.GetServiceInfoAsync();
            var waiters = new System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource<Seen>>();
            using var stop = new CancellationTokenSource();
            await using var subscription = await hcs.SubscribeEventsAsync(ct: stop.Token);
            // The reader takes the time as soon as a line is parsed and hands it over; the timed
            // side's own wake-up delay is not part of the sample.
            var reader = Task.Run(async () =>
            {
                try
                {
                    await foreach (var n in subscription.WithCancellation(stop.Token))
                    {
                        long now = Stopwatch.GetTimestamp();
                        string? key = n.Type switch
                        {
                            "SystemExited" => "S:" + n.Id,
                            "ProcessExited" => $"P:{n.Id}:{n.ProcessId}",
                            _ => null,
                        };
                        if (key is not null && waiters.TryRemove(key, out var tcs)) tcs.TrySetResult(new Seen(now, n.Time));
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            });

            // SIGKILL of a process; returns (client-side latency, hcsd's stamp - T0) in ms.
            async Task<(double Read, double Stamped)> KillAndSee(string key, int pid)
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
                if (!cmdline.StartsWith("sleep\0", StringComparison.Ordinal) && !cmdline.StartsWith("/bin/sleep\0", StringComparison.Ordinal))
                    throw new InvalidOperationException($"pid {pid} is not the container's sleep but \"{cmdline.Replace('\0', ' ')}\"");
                var tcs = new TaskCompletionSource<Seen>(TaskCreationOptions.RunContinuationsAsynchronously);
                waiters[key] = tcs;
                var wall = DateTime.UtcNow;
                long t0 = Stopwatch.GetTimestamp();
                if (Native.Kill(pid, 9) != 0) throw new InvalidOperationException($"kill({pid}, SIGKILL) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
                var seen = await tcs.Task.WaitAsync(TimeSpan.FromSeconds(10));
                return (Ms(t0, seen.Ticks), (seen.Stamped.ToUniversalTime() - wall).TotalMilliseconds);
            }

            // Systems: all created and started first, then killed one at a time.
            int n = o.Warmup + o.Count;
            var systems = new List<(string Id, int Pid)>();
            for (int i = 0; i < n; i++)
            {
                var id = $"{o.Prefix}-e{i}";
                await using var system = await hcs.CreateComputeSystemAsync(id, Document(o, id, scratch: true, "sleep", "100000"));
                await system.StartAsync();
                systems.Add((id, (int)(await system.GetPropertiesAsync()).InitProcessId));
            }
            var systemRead = new List<double>();
            var systemStamped = new List<double>();
            for (int i = 0; i < n; i++)
            {
                await Task.Delay(20); // the previous exit's aftermath (store, cgroup) is done
                var (read, stamped) = await KillAndSee("S:" + systems[i].Id, systems[i].Pid);
                if (i < o.Warmup) continue;
                systemRead.Add(read);
                systemStamped.Add(stamped);
            }
            Log($"events: {systemRead.Count} SystemExited samples");

            // Processes: one container; each sample execs `sleep`, kills it from the host.
            var hostId = $"{o.Prefix}-ehost";
            await using var host = await hcs.CreateComputeSystemAsync(hostId, Document(o, hostId, scratch: true, "sleep", "100000"));
            await host.StartAsync();
            var processRead = new List<double>();
            var processStamped = new List<double>();
            for (int i = 0; i < n; i++)
            {
                int pid;
                await using (var p = await host.CreateProcessAsync(new Doc.ProcessParameters { CommandArgs = ["/bin/sleep", "100000"] }))
                    pid = (int)p.ProcessId;
                await Task.Delay(20);
                var (read, stamped) = await KillAndSee($"P:{hostId}:{pid}", pid);
                if (i < o.Warmup) continue;
                processRead.Add(read);
                processStamped.Add(stamped);
            }
            Log($"events: {processRead.Count} ProcessExited samples");

            stop.Cancel();
            try { await reader; } catch (Exception) { /* the stream ends with the cancellation */ }
            foreach (var (id, _) in systems) await DeleteQuietly(hcs, id, o);
            await DeleteQuietly(hcs, hostId, o);

            WriteJson(o.Out, w =>
            {
                Samples(w, "system_exited_ms", systemRead);
                Samples(w, "system_exited_stamped_ms", systemStamped);
                Samples(w, "process_exited_ms", processRead);
                Samples(w, "process_exited_stamped_ms", processStamped);
            });
            return 0;
        }

        private static async Task DeleteQuietly(HostComputeService hcs, string id, Options o)
        {
            try { await (await hcs.OpenComputeSystemAsync(id)).DeleteAsync(force: true); }
            catch (Doc.HcsException e) { Log($"delete {id}: {e.Error.Name}: {e.Message}"); }
            RemoveScratch(o, id);
        }

        // ---- output ------------------------------------------------------------------------

        private static void Samples(Utf8JsonWriter w, string name, List<double> samples)
        {
            w.WriteStartArray(name);
            foreach (var s in samples) w.WriteNumberValue(Math.Round(s, 3));
            w.WriteEndArray();
        }

        private static void WriteJson(string path, Action<Utf8JsonWriter> body)
        {
            using var file = File.Create(path);
            using var w = new Utf8JsonWriter(file);
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        private static partial class Native
        {
            [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
            public static partial int Kill(int pid, int signal);
        }
    }
}
