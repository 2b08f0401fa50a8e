using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hcs.Schema;
using Hcs.Tests.Api;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Api;

/// <summary>
/// Well over a thousand malformed requests against every route that takes a body or parameters,
/// generated from a seed (printed; HCS_FUZZ_SEED=N repeats a run): truncated and invalid JSON,
/// invalid UTF-8, a wrong type at every member of a valid document, unknown members at every
/// depth, impossible values, deep nesting, bodies over the limit, wrong content types, bad ids,
/// bad pids and bad query values. Each must be refused with a 4xx the document declares (never
/// a 5xx, never a hang) and an ErrorResponse naming an HCS_E_ error and, for a body, the JSON
/// path at fault. Many of them aim at a running system (the "victim") that must survive them
/// all. Afterwards hcsd still serves and nothing is left: no compute system, cgroup, mount or
/// process.
/// </summary>
public sealed class MalformedRequestTests(ITestOutputHelper output)
{
    private static readonly TimeSpan PerRequest = TimeSpan.FromSeconds(15);

    /// <summary>One malformed request and what its answer must say. Status null: any 4xx the
    /// route declares; Path: the error must name this JSON path (or one below it).</summary>
    public sealed record Case(string What, RawHttp.Request Request, string? Path = null, int? Status = null, string? Error = null);

    [RootFact]
    public async Task MalformedRequests_AreRefusedWith4xxErrors_AndLeaveNothingBehind()
    {
        if (OpenApiConformanceTests.Missing() is { } why) { output.WriteLine("skipped: " + why); return; }
        int seed = Environment.GetEnvironmentVariable("HCS_FUZZ_SEED") is { Length: > 0 } s ? int.Parse(s) : Random.Shared.Next();
        output.WriteLine($"seed {seed} (HCS_FUZZ_SEED={seed} repeats this run)");

        var cgroupsBefore = HcsCgroups();
        await using var d = await Hcsd.StartAsync();
        var mountsBefore = Mounts();
        var processesBefore = ContainerProcesses();

        // the victim: a running system with a process, the target of everything that needs one
        var victim = "victim-" + seed.ToString("x");
        using (var r = await d.CreateAsync(victim, Hcsd.ContainerDocument()))
            Assert.True(r.IsSuccessStatusCode, $"create {victim}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        using (var r = await d.Http.PostAsync($"v2/compute-systems/{victim}/start", null))
            Assert.True(r.IsSuccessStatusCode, $"start {victim}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        uint pid;
        using (var r = await d.Http.PostAsync($"v2/compute-systems/{victim}/processes", Hcsd.Body("""{"CommandArgs":["sleep","1000"]}""")))
        {
            var text = await r.Content.ReadAsStringAsync();
            Assert.True(r.IsSuccessStatusCode, $"process in {victim}: {(int)r.StatusCode} {text}");
            pid = JsonNode.Parse(text)!["ProcessId"]!.GetValue<uint>();
        }

        var contract = OpenApiContract.Load();
        var cases = new MalformedRequests(seed, victim, pid, Hcsd.BusyboxLayer, Hcsd.NewScratch(), Hcsd.NewScratch()).All();
        output.WriteLine($"{cases.Count} malformed requests");
        Assert.True(cases.Count >= 1000, $"only {cases.Count} cases");

        var failures = new List<string>();
        var statuses = new SortedDictionary<int, int>();
        foreach (var c in cases)
        {
            RawResponse? response = null;
            string? failure;
            try
            {
                response = await RawHttp.SendAsync(d.SocketPath, c.Request, PerRequest);
                failure = Judge(contract, c, response);
                statuses[response.Status] = statuses.GetValueOrDefault(response.Status) + 1;
            }
            catch (Exception e) when (e is TimeoutException or IOException or System.Net.Sockets.SocketException)
            {
                failure = e.Message;
            }
            if (failure is not null)
                failures.Add($"{c.What}\n    {c.Request.Method} {RawHttp.Short(c.Request.Target)} [{c.Request.ContentType}] {Preview(c.Request)}\n    → {failure}");
        }
        output.WriteLine("statuses: " + string.Join(", ", statuses.Select(kv => $"{kv.Key}×{kv.Value}")));

        // ---- afterwards: hcsd serves, the victim is untouched, the valid documents are valid ----
        var after = new List<string>();
        using (var r = await d.Http.GetAsync("v2/service"))
            if (!r.IsSuccessStatusCode) after.Add($"GET /v2/service: {(int)r.StatusCode}");
        using (var r = await d.Http.GetAsync($"v2/compute-systems/{victim}"))
        {
            var text = await r.Content.ReadAsStringAsync();
            if (!text.Contains("\"State\":\"Running\"")) after.Add($"the victim is no longer running: {(int)r.StatusCode} {text}");
        }
        using (var r = await d.Http.GetAsync($"v2/compute-systems/{victim}/processes/{pid}"))
        {
            var text = await r.Content.ReadAsStringAsync();
            if (!text.Contains("\"Exited\":false")) after.Add($"the victim's process {pid} is gone: {(int)r.StatusCode} {text}");
        }
        after.AddRange(await Controls(d, seed, victim, pid, cases));

        // anything a malformed request created is a failure; remove it so the checks below mean something
        using (var r = await d.Http.GetAsync("v2/compute-systems"))
            foreach (var other in JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsArray().Select(x => x!["Id"]!.GetValue<string>()).Where(x => x != victim))
            {
                after.Add($"a malformed request created compute system \"{other}\"");
                using (await d.Http.DeleteAsync($"v2/compute-systems/{Uri.EscapeDataString(other)}?force=true")) { }
            }
        using (var r = await d.Http.DeleteAsync($"v2/compute-systems/{victim}?force=true"))
            if ((int)r.StatusCode != 204) after.Add($"DELETE {victim}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        using (var r = await d.Http.GetAsync("v2/compute-systems"))
        {
            var text = await r.Content.ReadAsStringAsync();
            if (text.Trim() != "[]") after.Add($"compute systems left: {text}");
        }

        // ---- nothing left on the host ----
        await WaitGone(() => HcsCgroups().Except(cgroupsBefore).Any() || Mounts().Except(mountsBefore).Any() || ContainerProcesses().Except(processesBefore).Any());
        var cgroups = HcsCgroups().Except(cgroupsBefore).ToList();
        if (cgroups.Count > 0) after.Add("cgroups left: " + string.Join(", ", cgroups));
        var mounts = Mounts().Except(mountsBefore).ToList();
        if (mounts.Count > 0) after.Add("mounts left: " + string.Join(", ", mounts));
        var processes = ContainerProcesses().Except(processesBefore).ToList();
        if (processes.Count > 0) after.Add("processes left: " + string.Join(", ", processes));

        foreach (var f in failures.Take(400)) output.WriteLine(f);
        foreach (var a in after) output.WriteLine("after: " + a);
        Assert.True(failures.Count == 0 && after.Count == 0,
            $"seed {seed}: {failures.Count} of {cases.Count} malformed requests were not refused properly; {after.Count} problems afterwards\n" +
            string.Join("\n", after.Select(a => "after: " + a)) + "\n" + string.Join("\n", failures.Take(40)));
    }

    /// <summary>What is wrong with an answer to a malformed request, or null.</summary>
    private static string? Judge(OpenApiContract contract, Case c, RawResponse r)
    {
        var body = OpenApiContract.Preview(r.Body, 400);
        if (c.Status is { } expected ? r.Status != expected : r.Status is < 400 or >= 500)
            return $"{r.Status} (expected {c.Status?.ToString() ?? "a 4xx"}): {body}";
        var path = c.Request.Target;
        var problems = contract.FindOperation(c.Request.Method, path) is null
            ? contract.Validate("ErrorResponse", r.Body.Length > 0 ? r.Body : "null"u8.ToArray())
            : contract.CheckResponse(c.Request.Method, path, r.Status, r.ContentType, r.Body);
        if (problems.Count > 0) return string.Join("; ", problems.Take(3));
        var error = JsonNode.Parse(r.Body)!;
        var name = error["Error"]?.GetValue<string>() ?? "";
        if (!name.StartsWith("HCS_E_", StringComparison.Ordinal)) return $"error name \"{name}\": {body}";
        if (c.Error is not null && name != c.Error) return $"{name}, expected {c.Error}: {body}";
        if (c.Path is { } at)
        {
            var paths = (error["Errors"]?.AsArray().Select(e => e?["Path"]?.GetValue<string>()) ?? [])
                .Append(error["Path"]?.GetValue<string>()).OfType<string>().ToList();
            if (!paths.Any(p => p == at || p.StartsWith(at + ".", StringComparison.Ordinal) || p.StartsWith(at + "[", StringComparison.Ordinal)))
                return $"no error at {at}: {body}";
        }
        return null;
    }

    /// <summary>The valid documents the cases were made from are accepted: so each refusal was
    /// about what the case changed.</summary>
    private static async Task<List<string>> Controls(Hcsd d, int seed, string victim, uint pid, List<Case> cases)
    {
        var problems = new List<string>();
        async Task<(int, string)> Send(HttpMethod m, string target, string? body)
        {
            using var req = new HttpRequestMessage(m, target);
            if (body is not null) req.Content = Hcsd.Body(body);
            using var r = await d.Http.SendAsync(req);
            return ((int)r.StatusCode, await r.Content.ReadAsStringAsync());
        }
        var g = new MalformedRequests(seed, victim, pid, Hcsd.BusyboxLayer, Hcsd.NewScratch(), Hcsd.NewScratch());
        var id = $"fuzz-{seed:x}-control";
        var (status, text) = await Send(HttpMethod.Post, "v2/compute-systems", g.ValidCreate(id).ToJsonString());
        if (status != 201) problems.Add($"the valid create document was refused: {status} {text}");
        else
        {
            (status, text) = await Send(HttpMethod.Delete, $"v2/compute-systems/{id}", null);
            if (status != 204) problems.Add($"DELETE {id}: {status} {text}");
        }
        foreach (var (target, body) in g.ValidBodies().Where(b => !b.Target.EndsWith("/processes")))
        {
            // (a mapping the cases may have left if hcsd wrongly took one: map somewhere new)
            if (body["Settings"] is JsonObject settings && settings.ContainsKey("ContainerPath")) settings["ContainerPath"] = "/mnt/control";
            (status, text) = await Send(HttpMethod.Post, target, body.ToJsonString());
            if (status is < 200 or >= 300 && !(target.EndsWith("/modify") && target.Contains("/processes/")))
                problems.Add($"the valid body {body.ToJsonString()} for {target} was refused: {status} {text}");
        }
        (status, text) = await Send(HttpMethod.Post, $"v2/compute-systems/{victim}/processes", g.ValidProcess().ToJsonString());
        if (status != 201) problems.Add($"the valid process was refused: {status} {text}");
        else
        {
            var other = JsonNode.Parse(text)!["ProcessId"]!.GetValue<uint>();
            await Send(HttpMethod.Post, $"v2/compute-systems/{victim}/processes/{other}/signal", """{"Signal":9}""");
            await Send(HttpMethod.Post, $"v2/compute-systems/{victim}/processes/{other}/wait?timeoutMs=10000", null);
        }
        return problems;
    }

    private static string Preview(RawHttp.Request r)
    {
        if (r.Body is null) return "";
        var len = r.RepeatBodyTo > 0 ? r.RepeatBodyTo : r.Body.Length;
        return len > 300 ? $"({len} bytes{(r.Chunked ? ", chunked" : "")}) " + Encoding.UTF8.GetString(r.Body, 0, Math.Min(120, r.Body.Length)) + "..."
            : Encoding.UTF8.GetString(r.Body);
    }

    // ---- the host, from outside --------------------------------------------------------

    /// <summary>Cgroups of compute systems: hcs puts each under /hcs/ (cgroup2) or &lt;controller&gt;/hcs/ (v1).</summary>
    private static HashSet<string> HcsCgroups()
    {
        var found = new HashSet<string>();
        foreach (var parent in Directory.GetDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, "hcs")).Append("/sys/fs/cgroup/hcs"))
            if (Directory.Exists(parent))
                foreach (var d in Directory.GetDirectories(parent)) found.Add(d);
        return found;
    }

    private static HashSet<string> Mounts() => [.. File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])];

    /// <summary>Processes living in a compute system's cgroup.</summary>
    private static HashSet<string> ContainerProcesses()
    {
        var found = new HashSet<string>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var p)) continue;
            try
            {
                var cgroup = File.ReadAllText(Path.Combine(dir, "cgroup"));
                if (cgroup.Contains("/hcs/")) found.Add($"{p} {File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim()}");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    private static async Task WaitGone(Func<bool> anyLeft)
    {
        for (int i = 0; i < 50 && anyLeft(); i++) await Task.Delay(100);
    }
}

/// <summary>
/// The malformed requests, made from valid documents by one seeded Random: the same seed gives
/// the same requests. The valid documents are themselves sent as controls at the end.
/// </summary>
public sealed class MalformedRequests(int seed, string victim, uint pid, string layer, string scratch, string shared)
{
    private readonly Random _random = new(seed);
    private readonly List<MalformedRequestTests.Case> _cases = [];
    private int _serial;

    private string Cs => "/v2/compute-systems";
    private string V => $"{Cs}/{victim}";
    private string P => $"{V}/processes/{pid}";

    /// <summary>A unique id per create case: one wrongly accepted request cannot turn the
    /// following ones into "already exists".</summary>
    private string NextId() => $"fuzz-{seed:x}-{++_serial}";

    public JsonObject ValidCreate(string id) => new()
    {
        ["Id"] = id,
        ["Document"] = new JsonObject
        {
            ["Owner"] = "fuzz",
            ["SchemaVersion"] = new JsonObject { ["Major"] = 2, ["Minor"] = 1 },
            ["Container"] = new JsonObject
            {
                ["GuestOs"] = new JsonObject { ["HostName"] = "fuzz" },
                ["Storage"] = new JsonObject
                {
                    ["Layers"] = new JsonArray(new JsonObject { ["Path"] = layer }),
                    ["Path"] = Path.Combine(scratch, id),
                },
                ["MappedDirectories"] = new JsonArray(new JsonObject { ["HostPath"] = shared, ["ContainerPath"] = "/mnt/shared", ["ReadOnly"] = true }),
                ["Memory"] = new JsonObject { ["SizeInMB"] = 64 },
                ["Processor"] = new JsonObject { ["Weight"] = 100 },
                ["Networking"] = new JsonObject { ["Namespace"] = "" },
                ["IsolationType"] = "Process",
                ["OciSpecification"] = new JsonObject
                {
                    ["ociVersion"] = "1.0.2",
                    ["process"] = new JsonObject { ["args"] = new JsonArray("sleep", "1"), ["cwd"] = "/", ["env"] = new JsonArray("PATH=/bin") },
                },
            },
        },
    };

    public JsonObject ValidProcess() => new()
    {
        ["CommandArgs"] = new JsonArray("sleep", "1000"),
        ["WorkingDirectory"] = "/",
        ["Environment"] = new JsonObject { ["FUZZ"] = "1" },
        ["User"] = "root",
        ["CreateStdOutPipe"] = true,
        ["OciProcess"] = new JsonObject { ["noNewPrivileges"] = true },
    };

    /// <summary>Valid bodies of the routes that take one, besides create and processes.</summary>
    public List<(string Target, JsonObject Body)> ValidBodies() =>
    [
        ($"{V}/processes", ValidProcess()),
        ($"{V}/modify", new JsonObject { ["ResourcePath"] = "Container/Memory/SizeInMB", ["RequestType"] = "Update", ["Settings"] = 128 }),
        ($"{V}/modify", new JsonObject { ["ResourcePath"] = "Container/Processor", ["RequestType"] = "Update", ["Settings"] = new JsonObject { ["Weight"] = 150 } }),
        ($"{V}/modify", new JsonObject
        {
            ["ResourcePath"] = "Container/MappedDirectories", ["RequestType"] = "Add",
            ["Settings"] = new JsonObject { ["HostPath"] = shared, ["ContainerPath"] = "/mnt/fuzz", ["ReadOnly"] = true },
        }),
        ($"{P}/signal", new JsonObject { ["Signal"] = 28 }), // SIGWINCH: sleep ignores it
        ($"{P}/modify", new JsonObject { ["Operation"] = "ConsoleSize", ["ConsoleSize"] = new JsonObject { ["Height"] = 24, ["Width"] = 80 } }),
        ($"{P}/modify", new JsonObject { ["Operation"] = "CloseHandle", ["CloseHandle"] = new JsonObject { ["Handle"] = "StdIn" } }),
    ];

    private void Add(string what, string method, string target, byte[]? body, string? path = null, int? status = null,
                     string? error = null, string? contentType = "application/json", bool chunked = false) =>
        _cases.Add(new(what, new RawHttp.Request(method, target, body, contentType, chunked), path, status, error));

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public List<MalformedRequestTests.Case> All()
    {
        // every body route: a factory for its valid document (create: a fresh id each time)
        var bodies = new List<(string Target, Func<JsonObject> Make, string[] Permissive)>
        {
            (Cs, () => ValidCreate(NextId()), ["$.Document.Container.OciSpecification"]),
        };
        foreach (var (target, body) in ValidBodies())
            bodies.Add((target, () => (JsonObject)body.DeepClone(), target.EndsWith("/processes") ? ["$.OciProcess"] : []));
        // the image routes' documents (nothing listens on port 9: even a valid pull cannot fetch)
        bodies.Add(("/v2/images/pull", () => new JsonObject { ["Reference"] = "127.0.0.1:9/fuzz/none:1", ["Username"] = "u", ["Password"] = "p" }, []));
        bodies.Add(($"{V}/commit", () => new JsonObject { ["Reference"] = "fuzz/commit:1", ["Author"] = "fuzz", ["Comment"] = "c" }, []));

        foreach (var (target, make, permissive) in bodies)
        {
            Syntax(target, make);
            WrongTypes(target, make); // the OCI parts are read by the OCI rules: wrong types are errors there too
            UnknownMembers(target, make, permissive); // ... unknown members are not
        }
        ImpossibleCreates();
        ImpossibleProcesses();
        ImpossibleModifies();
        ImpossibleSignals();
        ImpossibleProcessModifies();
        BodiesWhereNoneBelongs();
        HugeBodies();
        BadIds();
        BadPids();
        BadQueries();
        BadImageRequests();
        // last: if hcsd ignores the content type these succeed, and must not disturb the rest
        foreach (var (target, make, _) in bodies)
            foreach (var type in new[] { "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x" })
                Add($"content type {type}", "POST", target, Utf8(make().ToJsonString()), contentType: type);
        return _cases;
    }

    // ---- JSON syntax and encoding ------------------------------------------------------

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xFE], [0x80], [0xC0, 0xAF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80],
        [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xC1, 0xBF],
    ];

    private void Syntax(string target, Func<JsonObject> make)
    {
        bool signal = target.EndsWith("/signal"); // an empty signal body means SIGTERM: not malformed
        var valid = Utf8(make().ToJsonString());
        var lengths = new SortedSet<int> { valid.Length - 1, 1 };
        if (!signal) lengths.Add(0);
        // a fixed number of draws, scaled to the length: the seed gives the same sequence even
        // where the host's paths (and so the documents) are longer or shorter
        for (int i = 0; i < 40; i++) lengths.Add(1 + (int)(_random.NextDouble() * (valid.Length - 1)));
        foreach (var n in lengths) Add($"truncated to {n} of {valid.Length} bytes", "POST", target, valid[..n], error: "HCS_E_INVALID_JSON");

        for (int i = 0; i < 12; i++)
        {
            var at = _random.Next(0, valid.Length + 1);
            var bad = InvalidUtf8[_random.Next(InvalidUtf8.Length)];
            Add($"invalid UTF-8 {Convert.ToHexString(bad)} at byte {at}", "POST", target, [.. valid[..at], .. bad, .. valid[at..]], error: "HCS_E_INVALID_JSON");
        }
        for (int i = 0; i < 8; i++)
        {
            var at = _random.Next(1, valid.Length);
            byte control;
            do control = (byte)_random.Next(0, 0x20); while (control is 0x09 or 0x0A or 0x0D);
            Add($"raw control byte 0x{control:x2} at byte {at}", "POST", target, [.. valid[..at], control, .. valid[at..]], error: "HCS_E_INVALID_JSON");
        }
        var text = Encoding.UTF8.GetString(valid);
        var fixedCases = new List<string>
        {
            " ", "{", "}", "[]", "null", "42", "\"text\"", "true", "{\"a\"}", "{\"a\":}", "{'Id':'x'}", "{Id:1}",
            "{\"Id\":NaN}", "{\"Id\":undefined}", text + "x", text + text, text + "]", "[" + text + "]",
            "{\"Id\":\"x\"\"y\"}", text.Replace(":", "="), text.Replace("\"", "'"),
        };
        if (!signal) fixedCases.Add("");
        foreach (var f in fixedCases) Add($"not a JSON object: {RawHttp.Short(f, 40)}", "POST", target, Utf8(f), error: "HCS_E_INVALID_JSON");

        int depth = _random.Next(65, 100_000);
        Add($"array nested {depth} deep", "POST", target, Utf8(new string('[', depth) + new string(']', depth)), error: "HCS_E_INVALID_JSON");
        depth = _random.Next(65, 20_000);
        Add($"object nested {depth} deep", "POST", target,
            Utf8(string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)), error: "HCS_E_INVALID_JSON");
    }

    // ---- structure: wrong types, unknown members ------------------------------------------

    private void WrongTypes(string target, Func<JsonObject> make)
    {
        var doc = make();
        foreach (var (path, value) in Values(doc, "$", []))
            foreach (var wrong in WrongTypesFor(value))
            {
                var broken = make();
                Replace(broken, path, wrong.DeepClone());
                Add($"wrong type at {path}: {wrong.ToJsonString()}", "POST", target, Utf8(broken.ToJsonString()), path: path, status: 400,
                    error: "HCS_E_INVALID_JSON");
            }
    }

    private static readonly string[] UnknownNames = ["Bogus", "id", "ID", "Containers", "__proto__", "MemoryInMB", "", "名前", "a.b", "$ref", "Id "];

    private void UnknownMembers(string target, Func<JsonObject> make, string[] permissive)
    {
        var doc = make();
        var objects = Values(doc, "$", permissive).Where(v => v.Value is JsonObject && !permissive.Contains(v.Path) && !v.Path.EndsWith(".Environment"))
            .Select(v => v.Path).Prepend("$").ToList();
        foreach (var path in objects)
            foreach (var name in UnknownNames.OrderBy(_ => _random.Next()).Take(3))
            {
                var broken = make();
                var parent = Locate(broken, path)!.AsObject();
                if (parent.ContainsKey(name)) continue;
                parent[name] = _random.Next(3) switch { 0 => 1, 1 => "x", _ => new JsonObject() };
                Add($"unknown member {JsonMapper.Child(path, name)}", "POST", target, Utf8(broken.ToJsonString()), path: JsonMapper.Child(path, name),
                    status: 400, error: "HCS_E_INVALID_JSON");
            }
    }

    private IEnumerable<JsonNode> WrongTypesFor(JsonNode? value)
    {
        var kind = value?.GetValueKind() ?? JsonValueKind.Null;
        var all = new List<JsonNode>();
        if (kind != JsonValueKind.String) all.Add(JsonValue.Create(_random.Next(2) == 0 ? "x" : "")!);
        if (kind != JsonValueKind.Number) all.Add(JsonValue.Create(_random.Next(-5, 100))!);
        if (kind is not (JsonValueKind.True or JsonValueKind.False)) all.Add(JsonValue.Create(_random.Next(2) == 0)!);
        if (kind != JsonValueKind.Array) all.Add(new JsonArray());
        if (kind != JsonValueKind.Object) all.Add(new JsonObject());
        return all;
    }

    // ---- impossible values ------------------------------------------------------------------

    private void Create(string what, Action<JsonObject> change, string? path, int? status = null, string? error = null)
    {
        var doc = ValidCreate(NextId());
        change(doc);
        Add(what, "POST", Cs, Utf8(doc.ToJsonString()), path, status, error);
    }

    private void Set(string what, string path, JsonNode? value, string? errorPath = null, int? status = null, string? error = null) =>
        Create($"{what}: {path} = {value?.ToJsonString() ?? "null"}", d => Replace(d, path, value), errorPath ?? path, status, error);

    private void ImpossibleCreates()
    {
        const string c = "$.Document.Container";
        foreach (var v in new JsonNode[] { -1, 0, 5, JsonNode.Parse("18446744073709551616")!, JsonNode.Parse("1e400")!, 1.5 })
            Set("memory", $"{c}.Memory.SizeInMB", v);
        foreach (var p in new[] { """{"Count":0}""", """{"Count":-1}""", """{"Count":100000}""", """{"Maximum":0}""", """{"Maximum":10001}""",
                                  """{"Weight":0}""", """{"Weight":10001}""", """{"Weight":-5}""", """{"Count":1,"Weight":5}""", """{"Count":1,"Maximum":100}""" })
            Set("processor", $"{c}.Processor", JsonNode.Parse(p));
        Set("no layers", $"{c}.Storage.Layers", new JsonArray());
        foreach (var v in new[] { "", "relative/dir", "/nonexistent/h5-layer", "/etc/hostname", "/" + new string('a', 5000) })
            Set("layer path", $"{c}.Storage.Layers[0].Path", v);
        Set("layer without a path", $"{c}.Storage.Layers[0]", new JsonObject());
        foreach (var v in new[] { "relative/scratch", "/nonexistent-h5/a/b" })
            Set("scratch", $"{c}.Storage.Path", v);
        Set("image store", $"{c}.Storage.Image", "busybox:latest");
        Set("no storage", $"{c}.Storage", null);
        foreach (var v in new[] { "", "relative", "/nonexistent/h5-source" })
            Set("mapped host path", $"{c}.MappedDirectories[0].HostPath", v);
        foreach (var v in new[] { "", "relative", "/", "/a/../etc" })
            Set("mapped container path", $"{c}.MappedDirectories[0].ContainerPath", v);
        Set("mapped directory without a host path", $"{c}.MappedDirectories[0]", new JsonObject { ["ContainerPath"] = "/x" });
        foreach (var v in new[] { "-bad", "bad-", "has space", new string('a', 65), "under_score", "a..b" })
            Set("hostname", $"{c}.GuestOs.HostName", v);
        foreach (var v in new[] { "bogus", "relative/ns", "/nonexistent/netns" })
            Set("network namespace", $"{c}.Networking.Namespace", v);
        Set("network adapters", $"{c}.Networking.NetworkAdapters", new JsonArray("eth0"));
        Set("unqualified dns", $"{c}.Networking.AllowUnqualifiedDnsQuery", true);
        Set("dns search list", $"{c}.Networking.DnsSearchList", "example.com");
        Set("shared network", $"{c}.Networking.NetworkSharedContainerName", "other");
        foreach (var v in new[] { "Bogus", "process", "HostProcess", " Process" })
            Set("isolation", $"{c}.IsolationType", v);
        Set("isolation", $"{c}.IsolationType", "Hypervisor", status: 501, error: "HCS_E_SERVICE_NOT_AVAILABLE");
        foreach (var v in new[] { """{"Major":1,"Minor":0}""", """{"Major":3,"Minor":0}""", """{"Minor":1}""" })
            Set("schema version", "$.Document.SchemaVersion", JsonNode.Parse(v));
        Set("no container", $"{c}", null);
        Set("no document", "$.Document", null);
        Create("no Id", d => d.Remove("Id"), "$.Id");
        Create("no Document", d => d.Remove("Document"), "$.Document");
        Create("empty document", d => d["Document"] = new JsonObject(), "$.Document.Container");
        Set("virtual machine", "$.Document.VirtualMachine", new JsonObject());
        Set("hosting system", "$.Document.HostingSystemId", "no-such-host", status: 501, error: "HCS_E_SERVICE_NOT_AVAILABLE"); // no utility VMs yet
        Set("init cwd", $"{c}.OciSpecification.process.cwd", "relative");
        Set("init args", $"{c}.OciSpecification.process.args", new JsonArray(), errorPath: $"{c}.OciSpecification.process");
        foreach (var id in new[] { "", ".", "..", "../../etc", "a/b", "a\\b", " ", "a b", "\n", "-x", ".x", new string('x', 129), new string('x', 5000), "é", "a+b", "a\u0000b" })
            Set("id", "$.Id", id);
    }

    private void Process(string what, Action<JsonObject> change, string? path, int? status = null, string? error = null)
    {
        var doc = ValidProcess();
        change(doc);
        Add(what, "POST", $"{V}/processes", Utf8(doc.ToJsonString()), path, status, error);
    }

    private void ImpossibleProcesses()
    {
        Process("no arguments", d => d["CommandArgs"] = new JsonArray(), "$.CommandArgs");
        Process("arguments and a command line", d => d["CommandLine"] = "sleep 1", "$");
        Process("no command", d => d.Remove("CommandArgs"), "$");
        Process("relative working directory", d => d["WorkingDirectory"] = "tmp", "$.WorkingDirectory");
        Process("unknown user", d => d["User"] = "nosuchuser", "$.User");
        Process("unknown user and group", d => d["User"] = "nosuchuser:nogroup", "$.User");
        Process("console too wide", d => d["ConsoleSize"] = new JsonArray(70000, 1), "$.ConsoleSize[0]");
        Process("console negative", d => d["ConsoleSize"] = new JsonArray(-1, 1), "$.ConsoleSize[0]");
        Process("unterminated quote", d => { d.Remove("CommandArgs"); d["CommandLine"] = "sleep '1000"; }, "$.CommandLine");
        Process("empty command line", d => { d.Remove("CommandArgs"); d["CommandLine"] = ""; }, "$"); // (CommandLine or the missing CommandArgs)
        Process("missing program", d => d["CommandArgs"] = new JsonArray("/no/such/program"), null);
        Process("null argument", d => d["CommandArgs"] = new JsonArray("sleep", null), "$.CommandArgs[1]");
    }

    private void Modify(string what, string json, string? path)
    {
        var body = json.Replace("SHARED", shared);
        Add(what, "POST", $"{V}/modify", Utf8(body), path);
    }

    private void ImpossibleModifies()
    {
        Modify("unknown resource", """{"ResourcePath":"Container/Bogus","RequestType":"Update","Settings":1}""", "$.ResourcePath");
        Modify("resource path case", """{"ResourcePath":"container/memory/sizeinmb","RequestType":"Update","Settings":128}""", "$.ResourcePath");
        Modify("add memory", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Add","Settings":128}""", "$.RequestType");
        Modify("request type", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Bogus","Settings":128}""", "$.RequestType");
        foreach (var v in new[] { "-1", "0", "5", "18446744073709551616", "1.5", "null" })
            Modify($"memory {v}", $$"""{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":{{v}}}""", "$.Settings");
        Modify("no settings", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update"}""", "$.Settings");
        foreach (var v in new[] { """{"Count":0}""", """{"Weight":20000}""", """{"Count":1,"Weight":5}""", """{"Maximum":-1}""" })
            Modify($"processor {v}", $$"""{"ResourcePath":"Container/Processor","RequestType":"Update","Settings":{{v}}}""", "$.Settings");
        Modify("map a missing directory", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Add","Settings":{"HostPath":"/nonexistent/h5","ContainerPath":"/mnt/x"}}""", "$.Settings.HostPath");
        Modify("map to a relative path", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Add","Settings":{"HostPath":"SHARED","ContainerPath":"mnt/x"}}""", "$.Settings.ContainerPath");
        Modify("map onto /", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Add","Settings":{"HostPath":"SHARED","ContainerPath":"/"}}""", "$.Settings.ContainerPath");
        Modify("unmap what is not mapped", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Remove","Settings":{"ContainerPath":"/not/mapped"}}""", "$.Settings.ContainerPath");
        Modify("update a mapping", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Update","Settings":{"ContainerPath":"/mnt/shared"}}""", "$.RequestType");
        Modify("guest request", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":128,"GuestRequest":{}}""", "$.GuestRequest");
    }

    private void ImpossibleSignals()
    {
        foreach (var v in new[] { "0", "-1", "65", "1000", "2147483648", "1.5", "\"SIGBOGUS\"", "\"\"", "\"SIG\"", "\"99\"", "\"-9\"", "null", "\"9x\"" })
            Add($"signal {v}", "POST", $"{P}/signal", Utf8($$"""{"Signal":{{v}}}"""), "$.Signal");
        Add("signal missing", "POST", $"{P}/signal", Utf8("{}"), "$.Signal");
    }

    private void ImpossibleProcessModifies()
    {
        void M(string what, string json, string? path) => Add(what, "POST", $"{P}/modify", Utf8(json), path);
        M("unknown operation", """{"Operation":"Bogus","CloseHandle":{"Handle":"StdIn"}}""", "$.Operation");
        M("no operation", """{"CloseHandle":{"Handle":"StdIn"}}""", "$.Operation");
        M("resize without a size", """{"Operation":"ConsoleSize"}""", "$.ConsoleSize");
        M("close without a handle", """{"Operation":"CloseHandle"}""", "$.CloseHandle");
        M("close stdout", """{"Operation":"CloseHandle","CloseHandle":{"Handle":"StdOut"}}""", "$.CloseHandle.Handle");
        M("close a bogus handle", """{"Operation":"CloseHandle","CloseHandle":{"Handle":"Bogus"}}""", "$.CloseHandle.Handle");
        M("negative height", """{"Operation":"ConsoleSize","ConsoleSize":{"Height":-1,"Width":80}}""", "$.ConsoleSize.Height");
        M("huge width", """{"Operation":"ConsoleSize","ConsoleSize":{"Height":24,"Width":70000}}""", "$.ConsoleSize.Width");
    }

    /// <summary>Actions take no body: one that comes anyway is refused before anything happens.</summary>
    private void BodiesWhereNoneBelongs()
    {
        foreach (var action in new[] { "start", "shutdown", "terminate", "pause", "resume", "wait" })
            foreach (var body in new[] { "x", "{\"Force\":true}", "[]", "null" })
                Add($"a body for {action}", "POST", $"{V}/{action}", Utf8(body), status: 400, error: "HCS_E_INVALID_JSON");
        foreach (var body in new[] { "x", "{\"timeoutMs\":1}" })
            Add("a body for a process wait", "POST", $"{P}/wait", Utf8(body), status: 400, error: "HCS_E_INVALID_JSON");
    }

    /// <summary>Bodies over hcsd's 4 MiB: refused (413) without reading them whole.</summary>
    private void HugeBodies()
    {
        byte[] Huge(int bytes)
        {
            var prefix = Utf8($"{{\"Id\":\"{NextId()}\",\"Document\":{{\"Owner\":\"");
            var suffix = Utf8("\"}}");
            var body = new byte[bytes];
            prefix.CopyTo(body, 0);
            body.AsSpan(prefix.Length, bytes - prefix.Length - suffix.Length).Fill((byte)'a');
            suffix.CopyTo(body, bytes - suffix.Length);
            return body;
        }
        Add("5 MiB create", "POST", Cs, Huge(5 << 20));
        Add("8 MiB create, chunked", "POST", Cs, Huge(8 << 20), chunked: true);
        Add($"{24 + _random.Next(40)} MiB process", "POST", $"{V}/processes", Huge((24 + _random.Next(40)) << 20));
        Add("6 MiB start", "POST", $"{V}/start", Huge(6 << 20));
        Add("5 MiB signal, chunked", "POST", $"{P}/signal", Huge(5 << 20), chunked: true);
    }

    // ---- bad ids, pids, query values ---------------------------------------------------------

    private static readonly string[] BadPathIds =
    [
        "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "%2e%2e%2f%2e%2e%2fetc", "..%5C..%5Cwindows", "a%2Fb", "%20", "a%20b", "%E2%80%AE",
        "-leading-dash", ".hidden", new string('x', 129), new string('y', 5000), "no-such-system-h5", "%25", "*", "%7B%7D",
    ];

    private List<(string Method, string Suffix, string? Body)> IdRoutes() =>
    [
        ("GET", "", null), ("DELETE", "?force=true", null), ("POST", "/start", null), ("POST", "/shutdown?timeoutMs=10", null),
        ("POST", "/terminate", null), ("POST", "/pause", null), ("POST", "/resume", null), ("POST", "/wait?timeoutMs=10", null),
        ("POST", "/modify", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":128}"""),
        ("POST", "/processes", """{"CommandArgs":["sleep","1000"]}"""), ("GET", $"/processes/{pid}", null),
        ("POST", $"/processes/{pid}/signal", """{"Signal":28}"""), ("POST", $"/processes/{pid}/modify", """{"Operation":"ConsoleSize","ConsoleSize":{"Height":24,"Width":80}}"""),
        ("POST", $"/processes/{pid}/wait?timeoutMs=10", null), ("GET", $"/processes/{pid}/attach", null), ("GET", "/logs", null),
    ];

    private void BadIds()
    {
        foreach (var (method, suffix, body) in IdRoutes())
        {
            foreach (var id in BadPathIds)
                Add($"id {RawHttp.Short(id, 30)}", method, $"{Cs}/{id}{suffix}", body is null ? null : Utf8(body));
            // (GET /v2/compute-systems/ is the list)
            if (!(method == "GET" && suffix.Length == 0))
                Add("empty id", method, $"{Cs}/{suffix}", body is null ? null : Utf8(body));
        }
    }

    private void BadPids()
    {
        var routes = new (string Method, string Suffix, string? Body)[]
        {
            ("GET", "", null), ("POST", "/signal", """{"Signal":28}"""), ("POST", "/modify", """{"Operation":"CloseHandle","CloseHandle":{"Handle":"StdIn"}}"""),
            ("POST", "/wait?timeoutMs=10", null), ("GET", "/attach", null),
        };
        foreach (var (method, suffix, body) in routes)
            foreach (var bad in new[] { "abc", "-1", "4294967296", "99999999999999999999", "1.5", "%20", "0x10", "+5", "999999999", "%EF%BC%91", "1e3" })
                Add($"pid {bad}", method, $"{V}/processes/{bad}{suffix}", body is null ? null : Utf8(body));
        Add("attach without a WebSocket upgrade", "GET", $"{P}/attach", null, status: 400);
    }

    /// <summary>The image and layer routes: references and chain IDs that are not ones, archives
    /// that are not archives, and documents for an image the store does not have.</summary>
    private void BadImageRequests()
    {
        string[] badReferences = ["upper/CASE", "a//b", ":tag", "name:", "name@sha256:12", "name@md5:00", " space", "-lead", "x" + new string('y', 300),
                                  "host:notaport/x", "a/b:t@sha256:zz", "../etc", "%00"];
        foreach (var r in badReferences)
        {
            var q = Uri.EscapeDataString(r);
            Add($"inspect of reference \"{r}\"", "GET", $"/v2/images/inspect?reference={q}", null, path: "reference", status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"export of reference \"{r}\"", "GET", $"/v2/images/export?reference={q}", null, path: "reference", status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"delete of reference \"{r}\"", "DELETE", $"/v2/images?reference={q}", null, path: "reference", status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"tag to \"{r}\"", "POST", $"/v2/images/tag?source=fuzz:1&target={q}", null, status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"import named \"{r}\"", "POST", $"/v2/images/import?reference={q}", new byte[1024], path: "reference", status: 400,
                error: "HCS_E_INVALID_JSON", contentType: "application/x-tar");
            Add($"pull of \"{r}\"", "POST", "/v2/images/pull", Utf8(new JsonObject { ["Reference"] = r }.ToJsonString()), path: "$.Reference", status: 400,
                error: "HCS_E_INVALID_JSON");
        }
        foreach (var missing in new[] { "/v2/images/inspect", "/v2/images/export", "/v2/images/inspect?reference=", "/v2/images/tag?source=a", "/v2/images/tag?target=b" })
            Add($"no reference: {missing}", missing.StartsWith("/v2/images/tag") ? "POST" : "GET", missing, null, status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
        Add("no reference to delete", "DELETE", "/v2/images", null, status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
        Add("unknown image", "GET", "/v2/images/inspect?reference=fuzz/none:1", null, path: "reference", status: 404, error: "HCS_E_IMAGE_NOT_FOUND", contentType: null);
        Add("unknown image to export", "GET", "/v2/images/export?reference=fuzz/none:1", null, status: 404, error: "HCS_E_IMAGE_NOT_FOUND", contentType: null);
        Add("unknown image to delete", "DELETE", "/v2/images?reference=fuzz/none:1", null, status: 404, error: "HCS_E_IMAGE_NOT_FOUND", contentType: null);
        Add("unknown image to tag", "POST", "/v2/images/tag?source=fuzz/none:1&target=fuzz/x:1", null, status: 404, error: "HCS_E_IMAGE_NOT_FOUND", contentType: null);
        Add("delete with force=maybe", "DELETE", "/v2/images?reference=fuzz:1&force=maybe", null, status: 400, error: "HCS_E_INVALID_JSON", contentType: null);

        foreach (var id in new[] { "sha256:xyz", "md5:" + new string('0', 32), "sha256:" + new string('A', 64), "sha256:" + new string('0', 63), "latest" })
        {
            var e = Uri.EscapeDataString(id);
            Add($"layer \"{id}\"", "GET", $"/v2/layers/{e}", null, path: "chainId", status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"export of layer \"{id}\"", "GET", $"/v2/layers/{e}/export", null, path: "chainId", status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"delete of layer \"{id}\"", "DELETE", $"/v2/layers/{e}", null, path: "chainId", status: 400, error: "HCS_E_INVALID_JSON", contentType: null);
            Add($"layer with parent \"{id}\"", "POST", $"/v2/layers?parent={e}", new byte[1024], path: "parent", status: 400, error: "HCS_E_INVALID_JSON",
                contentType: "application/x-tar");
        }
        var none = "sha256:" + new string('0', 64);
        Add("unknown layer", "GET", $"/v2/layers/{none}", null, status: 404, error: "HCS_E_LAYER_NOT_FOUND", contentType: null);
        Add("unknown parent layer", "POST", $"/v2/layers?parent={none}", new byte[1024], path: "parent", status: 404, error: "HCS_E_LAYER_NOT_FOUND",
            contentType: "application/x-tar");

        // archives that are not: zeros, text, a JSON document, random bytes, a truncated tar header
        var junk = new List<(string What, byte[] Bytes)>
        {
            ("empty", []), ("text", Utf8(new string('x', 5000))), ("JSON", Utf8("{\"Reference\":\"busybox\"}")),
            ("gzip magic only", [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]), ("zstd magic only", [0x28, 0xb5, 0x2f, 0xfd, 0x00]),
        };
        for (int i = 0; i < 6; i++)
        {
            var bytes = new byte[_random.Next(1, 20000)];
            _random.NextBytes(bytes);
            junk.Add(($"{bytes.Length} random bytes", bytes));
        }
        // zeros are an empty tar: a valid (empty) layer, but no image
        Add("image archive: an empty tar", "POST", "/v2/images/import", new byte[10240], status: 400, error: "HCS_E_INVALID_LAYER", contentType: "application/x-tar");
        foreach (var (what, bytes) in junk)
        {
            Add($"image archive: {what}", "POST", "/v2/images/import", bytes, status: 400, error: "HCS_E_INVALID_LAYER", contentType: "application/x-tar");
            Add($"layer archive: {what}", "POST", "/v2/layers", bytes, status: 400, error: "HCS_E_INVALID_LAYER", contentType: "application/x-tar");
        }

        // a container of an image the store does not have, and an image and layers at once
        static Action<JsonObject> ImageInstead(string reference) => d =>
        {
            var storage = Locate(d, "$.Document.Container.Storage")!.AsObject();
            storage.Remove("Layers");
            storage["Image"] = reference;
        };
        Create("image not in the store", ImageInstead("fuzz/none:1"), "$.Document.Container.Storage.Image", status: 404, error: "HCS_E_IMAGE_NOT_FOUND");
        Create("an image reference that is not one", ImageInstead("upper/CASE"), "$.Document.Container.Storage.Image", status: 400, error: "HCS_E_INVALID_JSON");
    }

    private void BadQueries()
    {
        var numbers = new[] { "-1", "abc", "1.5", "1e3", "99999999999", "0x10", "%20", "-0", "%2B5" };
        foreach (var v in numbers)
        {
            Add($"shutdown timeoutMs={v}", "POST", $"{V}/shutdown?timeoutMs={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
            Add($"wait timeoutMs={v}", "POST", $"{V}/wait?timeoutMs={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
            Add($"process wait timeoutMs={v}", "POST", $"{P}/wait?timeoutMs={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
        }
        foreach (var v in new[] { "Nope", "Statistics,Nope", "statistics", "Memory;Statistics" })
            Add($"properties={v}", "GET", $"{V}?properties={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
        foreach (var v in new[] { "maybe", "yes", "2", "-1" })
            Add($"force={v}", "DELETE", $"{V}?force={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
        foreach (var v in new[] { "perhaps", "2", "yes" })
            Add($"follow={v}", "GET", $"{V}/logs?follow={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
        foreach (var v in new[] { "Nope", "running", "Creating", "Running,Stopped" })
            Add($"State={v}", "GET", $"{Cs}?State={v}", null, status: 400, error: "HCS_E_INVALID_JSON");
    }

    // ---- JSON paths (the reader's notation: "$.a.b[0]", ["..."] for other names) -----------

    private static List<(string Path, JsonNode? Value)> Values(JsonNode node, string path, string[] skip)
    {
        var found = new List<(string, JsonNode?)>();
        void Visit(JsonNode? n, string p)
        {
            if (skip.Contains(p)) return;
            if (n is JsonObject o)
                foreach (var (k, v) in o) { var at = JsonMapper.Child(p, k); found.Add((at, v)); Visit(v, at); }
            else if (n is JsonArray a)
                for (int i = 0; i < a.Count; i++) { found.Add(($"{p}[{i}]", a[i])); Visit(a[i], $"{p}[{i}]"); }
        }
        Visit(node, path);
        return found;
    }

    private static readonly System.Text.RegularExpressions.Regex Step = new(@"\.(\w+)|\[(\d+)\]|\[""([^""]*)""\]");

    private static JsonNode? Locate(JsonNode root, string path)
    {
        JsonNode? node = root;
        foreach (System.Text.RegularExpressions.Match m in Step.Matches(path))
            node = m.Groups[2].Success ? node!.AsArray()[int.Parse(m.Groups[2].Value)]
                 : node!.AsObject()[m.Groups[1].Success ? m.Groups[1].Value : m.Groups[3].Value];
        return node;
    }

    /// <summary>Sets the value at a path (null removes an object member).</summary>
    private static void Replace(JsonNode root, string path, JsonNode? value)
    {
        var steps = Step.Matches(path);
        var last = steps[^1];
        var parent = Locate(root, path[..last.Index])!;
        if (last.Groups[2].Success) parent.AsArray()[int.Parse(last.Groups[2].Value)] = value;
        else
        {
            var name = last.Groups[1].Success ? last.Groups[1].Value : last.Groups[3].Value;
            if (value is null) parent.AsObject().Remove(name);
            else parent.AsObject()[name] = value;
        }
    }
}
