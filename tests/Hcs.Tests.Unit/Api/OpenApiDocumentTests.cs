using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Tests.Api;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using Oci = Hcs.Schema.Oci;

namespace Hcs.Tests.Unit.Api;

/// <summary>
/// docs/api/openapi.json against the API contract (docs/design/0003-hcsd-api.md, its tables
/// parsed) and against the code that reads and writes the documents (HcsReader, HcsWriter,
/// HcsError): what the writer writes validates, what the schemas require the writer always
/// writes, what the strict reader refuses the request schemas refuse too.
/// </summary>
public sealed partial class OpenApiDocumentTests
{
    private static readonly OpenApiContract Contract = OpenApiContract.Load();
    private static readonly DateTime Now = new(2025, 6, 1, 12, 30, 45, 123, DateTimeKind.Utc);

    // ---- the document itself ------------------------------------------------------------

    [Fact]
    public void Document_IsValidOpenApi31()
    {
        var result = OpenApiDocument.Parse(Contract.Text, "json");
        Assert.NotNull(result.Document);
        Assert.Equal(OpenApiSpecVersion.OpenApi3_1, result.Diagnostic!.SpecificationVersion);
        Assert.True(result.Diagnostic.Errors.Count == 0, "OpenAPI errors:\n" + string.Join("\n", result.Diagnostic.Errors));
        Assert.True(result.Diagnostic.Warnings.Count == 0, "OpenAPI warnings:\n" + string.Join("\n", result.Diagnostic.Warnings));
        var rules = result.Document!.Validate(ValidationRuleSet.GetDefaultRuleSet())?.ToList() ?? [];
        Assert.True(rules.Count == 0, "OpenAPI rule violations:\n" + string.Join("\n", rules));
    }

    [Fact]
    public void EveryReference_Resolves_AndEverySchemaIsUsed()
    {
        var refs = new List<(string Where, string Target)>();
        Walk(Contract.Root, "#", (node, where) =>
        {
            if (node is JsonObject o && o["$ref"] is JsonValue v) refs.Add((where, v.GetValue<string>()));
        });
        Assert.NotEmpty(refs);
        var broken = refs.Where(r => Contract.Resolve(r.Target) is null).Select(r => $"{r.Where}: {r.Target}").ToList();
        Assert.True(broken.Count == 0, "unresolved references:\n" + string.Join("\n", broken));

        var used = refs.Select(r => r.Target).ToHashSet();
        var unused = Contract.ComponentSchemas.Select(kv => kv.Key)
            .Where(name => !used.Contains("#/components/schemas/" + name)).ToList();
        Assert.True(unused.Count == 0, "schemas nothing refers to: " + string.Join(", ", unused));
    }

    [Fact]
    public void EveryErrorStatus_AnswersWithErrorResponse_NamingOnlyErrorsOfThatStatus()
    {
        int checkedCount = 0;
        foreach (var (template, method, op) in Operations())
            foreach (var status in OpenApiContract.DeclaredStatuses(op).Where(s => s >= 400))
            {
                var response = Contract.DeclaredResponse(op, status)!;
                var schema = response["content"]?["application/json"]?["schema"];
                Assert.True(schema is not null, $"{method} {template} {status}: no application/json body");
                Assert.Contains("\"#/components/schemas/ErrorResponse\"", schema!.ToJsonString());
                var expected = HcsError.All.Where(e => e.HttpStatus == status).Select(e => e.Name).Order().ToList();
                // 413 (a body over Kestrel's limit) is refused by HTTP, not by an HCS rule: an input error
                if (status == 413) expected = [HcsError.InvalidJson.Name];
                Assert.True(expected.Count > 0, $"{method} {template}: {status} is no HcsError's status");
                // each name of the status passes, a name of another status does not
                foreach (var name in HcsError.All.Select(e => e.Name))
                {
                    var body = Encoding.UTF8.GetBytes($$"""{"Error":"{{name}}","Message":"m"}""");
                    var valid = Contract.CheckResponse(method, Concrete(template), status, "application/json", body).Count == 0;
                    Assert.True(valid == expected.Contains(name), $"{method} {template} {status} with {name}: valid={valid}");
                }
                checkedCount++;
            }
        Assert.True(checkedCount > 50, $"only {checkedCount} error responses");
    }

    [Fact]
    public void ErrorNames_AreExactlyHcsErrors()
    {
        var names = Contract.ComponentSchemas["ErrorName"]!["enum"]!.AsArray().Select(n => n!.GetValue<string>()).Order();
        Assert.Equal(HcsError.All.Select(e => e.Name).Order(), names);
    }

    [Fact]
    public void ErrorTableOf0003_MatchesHcsError()
    {
        var rows = TableRows(Section(Api0003, "## Errors")).ToList();
        Assert.True(rows.Count >= 10, "error table not found");
        foreach (var row in rows)
        {
            var error = HcsError.ByName(row[0].Trim());
            Assert.True(error is not null, $"0003 names {row[0]}, HcsError does not");
            Assert.Equal(int.Parse(row[1].Trim()), error!.HttpStatus);
        }
    }

    // ---- the routes of 0003 ---------------------------------------------------------------

    private sealed record ApiRoute(string Method, string Path, List<string> Query, string Text);

    [Fact]
    public void EveryRouteOfTheApiTable_IsDescribed_WithItsParametersStatusesAndBodies()
    {
        var routes = RoutesOf0003();
        Assert.True(routes.Count >= 20, $"only {routes.Count} routes parsed from 0003");
        var problems = new List<string>();
        foreach (var r in routes) problems.AddRange(CheckRoute(r).Select(p => $"{r.Method} {r.Path}: {p}"));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryDescribedOperation_IsARouteOf0003()
    {
        var routes = RoutesOf0003().Select(r => $"{r.Method} {r.Path}").ToHashSet();
        var extra = Operations().Select(o => $"{o.Method} {o.Template}").Where(o => !routes.Contains(o)).ToList();
        Assert.True(extra.Count == 0, "operations 0003 does not list: " + string.Join(", ", extra));
    }

    private List<string> CheckRoute(ApiRoute r)
    {
        var problems = new List<string>();
        if (Contract.Paths[r.Path] is not JsonObject item || item[r.Method.ToLowerInvariant()] is not JsonObject op)
            return ["not in the document"];

        var parameters = Parameters(item, op);
        foreach (var name in r.Query)
            if (!parameters.Any(p => p["in"]!.GetValue<string>() == "query" && p["name"]!.GetValue<string>() == name))
                problems.Add($"query parameter {name} not declared");
        foreach (Match m in Regex.Matches(r.Path, @"\{(\w+)\}"))
            if (!parameters.Any(p => p["in"]!.GetValue<string>() == "path" && p["name"]!.GetValue<string>() == m.Groups[1].Value))
                problems.Add($"path parameter {m.Groups[1].Value} not declared");
        if (Regex.Match(r.Text, @"default (\d+)") is { Success: true } def)
        {
            var declared = parameters.Where(p => p["in"]!.GetValue<string>() == "query")
                .Select(p => p["schema"]?["default"]?.ToJsonString()).ToList();
            if (!declared.Contains(def.Groups[1].Value)) problems.Add($"no query parameter defaults to {def.Groups[1].Value}");
        }

        var statuses = OpenApiContract.DeclaredStatuses(op).ToHashSet();
        var named = Regex.Matches(r.Text, @"(?<![\d.])([1-5]\d\d)(?!\d)").Select(m => int.Parse(m.Groups[1].Value)).ToList();
        foreach (var s in named)
            if (!statuses.Contains(s)) problems.Add($"status {s} not declared");
        int success = named.FirstOrDefault(s => s < 300) is var n and > 0 ? n : r.Text.Contains("WebSocket") ? 101 : 200;
        if (!statuses.Contains(success)) { problems.Add($"success status {success} not declared"); return problems; }
        if (statuses.Any(s => s is >= 100 and < 300 && s != success)) problems.Add("more than one success status");

        // the text right of "→" describes the answer; left of it the request body
        var arrow = r.Text.IndexOf('→');
        var request = arrow >= 0 ? r.Text[..arrow] : "";
        var answer = arrow >= 0 ? r.Text[(arrow + 1)..] : r.Text;

        var responseSchema = Contract.DeclaredResponse(op, success)!["content"] is JsonObject content
            ? content.Single().Value!["schema"] : null;
        var answerNames = SchemaNames(Regex.Replace(answer, "`[^`]*`", ""));
        if (answerNames.FirstOrDefault() is { } answerName)
        {
            if (responseSchema is null || !References(responseSchema, answerName))
                problems.Add($"the {success} answer is not {answerName}");
            else if (answer.Contains(answerName + "[]") && responseSchema["type"]?.GetValue<string>() != "array")
                problems.Add($"the {success} answer is not an array of {answerName}");
        }
        CheckMembers(problems, "answer", responseSchema, answer);

        var bodySchema = op["requestBody"]?["content"]?["application/json"]?["schema"];
        foreach (var name in SchemaNames(request))
            if (bodySchema is null || !References(bodySchema, name)) problems.Add($"the request body is not (or does not contain) {name}");
        CheckMembers(problems, "request", bodySchema, request);
        if (request.Contains('{') && bodySchema is null) problems.Add("a request body is described but not declared");
        return problems;
    }

    /// <summary>`{A, B?}` in the table: A is a required member, B an optional one.</summary>
    private void CheckMembers(List<string> problems, string what, JsonNode? schema, string text)
    {
        foreach (Match span in Regex.Matches(text, "`([^`]*)`"))
            foreach (Match m in Regex.Matches(span.Groups[1].Value, @"[{,]\s*""?([A-Za-z]+)""?(\?)?"))
            {
                var member = m.Groups[1].Value;
                var obj = schema is null ? null : ObjectSchema(schema);
                if (obj?["properties"]?[member] is null) { problems.Add($"the {what} has no member {member}"); continue; }
                bool required = obj["required"]?.AsArray().Any(x => x!.GetValue<string>() == member) == true;
                bool optional = m.Groups[2].Success;
                if (required == optional) problems.Add($"{what} member {member} should be {(optional ? "optional" : "required")}");
            }
    }

    /// <summary>The object schema behind a schema: through $ref and array items.</summary>
    private static JsonObject? ObjectSchema(JsonNode schema)
    {
        for (int i = 0; i < 10; i++)
        {
            if (schema["$ref"] is JsonValue r) schema = Contract.Resolve(r.GetValue<string>())!;
            else if (schema["items"] is JsonNode items) schema = items;
            else return schema as JsonObject;
        }
        return null;
    }

    /// <summary>Whether a schema is, or reaches through references, the named component.</summary>
    private static bool References(JsonNode schema, string name)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<JsonNode>([schema]);
        while (pending.TryPop(out var node))
        {
            bool found = false;
            Walk(node, "", (n, _) =>
            {
                if (n is not JsonObject o || o["$ref"] is not JsonValue v) return;
                var target = v.GetValue<string>();
                if (target == "#/components/schemas/" + name) found = true;
                else if (seen.Add(target) && Contract.Resolve(target) is { } next) pending.Push(next);
            });
            if (found) return true;
        }
        return false;
    }

    private static List<string> SchemaNames(string text) =>
        [.. Regex.Matches(text, @"\b[A-Z][A-Za-z]+\b").Select(m => m.Value).Where(n => Contract.ComponentSchemas.ContainsKey(n))];

    private static List<JsonObject> Parameters(JsonObject pathItem, JsonObject op)
    {
        var all = new List<JsonObject>();
        foreach (var list in new[] { pathItem["parameters"], op["parameters"] })
            if (list is JsonArray a) all.AddRange(a.Select(p => Contract.Deref(p!).AsObject()));
        return all;
    }

    private static readonly string Api0003 = File.ReadAllText(OpenApiContract.FindRepoFile("docs/design/0003-hcsd-api.md"));

    private static List<ApiRoute> RoutesOf0003()
    {
        var routes = new List<ApiRoute>();
        foreach (var row in TableRows(Section(Api0003, "## Routes")))
        {
            // "POST /v2/compute-systems/{id}/pause, /resume" is two routes; ".../processes" is
            // under /v2/compute-systems/{id}
            var head = row[0].Trim().Split(' ', 2);
            var method = head[0];
            var variants = head[1].Split(", ");
            string? first = null;
            foreach (var v in variants)
            {
                var target = v.Trim().Replace("...", "/v2/compute-systems/{id}");
                if (first is not null && !target.StartsWith("/v2")) target = first[..first.LastIndexOf('/')] + target;
                var q = target.IndexOf('?');
                var path = q < 0 ? target : target[..q];
                var query = q < 0 ? [] : target[(q + 1)..].Split('&').Select(p => p.Split('=')[0]).ToList();
                first ??= path;
                routes.Add(new ApiRoute(method, path, query, row[1]));
            }
        }
        return routes;
    }

    private static string Section(string markdown, string heading)
    {
        var start = markdown.IndexOf(heading, StringComparison.Ordinal);
        Assert.True(start >= 0, $"0003 has no section {heading}");
        var end = markdown.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
        return end < 0 ? markdown[start..] : markdown[start..end];
    }

    /// <summary>The body rows of the first table in the text, as cells.</summary>
    private static IEnumerable<string[]> TableRows(string text)
    {
        var lines = text.Split('\n').SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).ToList();
        foreach (var line in lines.Skip(2))
            yield return line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
    }

    private static IEnumerable<(string Template, string Method, JsonObject Op)> Operations()
    {
        foreach (var (template, item) in Contract.Paths)
            foreach (var (key, value) in item!.AsObject())
                if (key is "get" or "put" or "post" or "delete" or "patch" or "head" or "options")
                    yield return (template, key.ToUpperInvariant(), value!.AsObject());
    }

    private static string Concrete(string template) => Regex.Replace(template, @"\{[^}]+\}", "x1");

    // ---- responses: what HcsWriter writes ---------------------------------------------------

    private static byte[] Json(Action<System.Text.Json.Utf8JsonWriter> write) => HcsWriter.ToUtf8(write);

    public static TheoryData<string, string> WrittenResponses() => new()
    {
        { "Properties", "minimal" }, { "Properties", "full" },
        { "SystemExitStatus", "minimal" }, { "SystemExitStatus", "full" },
        { "ProcessStatus", "full" },
        { "ServiceInfo", "minimal" }, { "ServiceInfo", "full" },
        { "ComputeSystemSummary", "minimal" }, { "ComputeSystemSummary", "full" },
        { "ErrorResponse", "minimal" }, { "ErrorResponse", "full" },
        { "Notification", "SystemCreated" }, { "Notification", "SystemExited" },
        { "Notification", "ProcessCreated" }, { "Notification", "ProcessExited" },
    };

    private static byte[] Written(string schema, string variant) => (schema, variant) switch
    {
        ("Properties", "minimal") => Json(w => HcsWriter.Write(w, new Properties { Id = "web", State = "Created", Created = Now })),
        ("Properties", _) => Json(w => HcsWriter.Write(w, FullProperties())),
        ("SystemExitStatus", "minimal") => Json(w => HcsWriter.Write(w, new SystemExitStatus())),
        ("SystemExitStatus", _) => Json(w => HcsWriter.Write(w, new SystemExitStatus { Status = unchecked((int)HcsError.UnexpectedExit.HResult), ExitType = "UnexpectedExit", ExitCode = 137 })),
        ("ProcessStatus", _) => Json(w => HcsWriter.Write(w, new ProcessStatus { ProcessId = 4242, Exited = true, ExitCode = 143, LastWaitResult = 0 })),
        ("ServiceInfo", "minimal") => Json(w => HcsWriter.Write(w, new ServiceInfo { Version = "0.1.0", CgroupMode = "v2" })),
        ("ServiceInfo", _) => Json(w => HcsWriter.Write(w, new ServiceInfo
        {
            Version = "0.1.0", SupportedSchemaVersions = [new SchemaVersion { Major = 2, Minor = 1 }], IsolationKinds = ["Process", "Hypervisor"], CgroupMode = "hybrid",
        })),
        ("ComputeSystemSummary", "minimal") => Json(w => HcsWriter.Write(w, new ComputeSystemSummary { Id = "web", State = "Running", Created = Now, InitProcessId = 77 })),
        ("ComputeSystemSummary", _) => Json(w => HcsWriter.Write(w, new ComputeSystemSummary
        {
            Id = "web", Owner = "me", State = "Stopped", SystemType = "Container", IsolationType = "Process", Created = Now, InitProcessId = 0, ExitCode = 3,
        })),
        ("ErrorResponse", "minimal") => Json(w => HcsWriter.Write(w, new ErrorResponse { Error = "HCS_E_SYSTEM_NOT_FOUND", Message = "no compute system web" })),
        ("ErrorResponse", _) => Json(w => HcsWriter.Write(w, new ErrorResponse
        {
            Error = "HCS_E_INVALID_JSON", Message = "2 errors in the document", Path = "$.Document.Container.Memory.SizeInMB",
            Errors = [new DocumentError("$.Document.Container.Memory.SizeInMB", "must be at least 6"), new DocumentError("$.Id", "required")],
        })),
        ("Notification", "SystemCreated") => Json(w => HcsWriter.Write(w, new Notification { Type = "SystemCreated", Id = "web", Time = Now })),
        ("Notification", "SystemExited") => Json(w => HcsWriter.Write(w, new Notification { Type = "SystemExited", Id = "web", Time = Now, SystemExitStatus = new SystemExitStatus() })),
        ("Notification", "ProcessCreated") => Json(w => HcsWriter.Write(w, new Notification { Type = "ProcessCreated", Id = "web", Time = Now, ProcessId = 12 })),
        ("Notification", "ProcessExited") => Json(w => HcsWriter.Write(w, new Notification
        {
            Type = "ProcessExited", Id = "web", Time = Now, ProcessId = 12, ProcessStatus = new ProcessStatus { ProcessId = 12, Exited = true, ExitCode = 1 },
        })),
        _ => throw new ArgumentException($"{schema} {variant}"),
    };

    private static Properties FullProperties() => new()
    {
        Id = "web", Owner = "me", RuntimeId = "0f6cf5c6-8a0e-4d58-9a1f-3a2f1b6c7d8e", State = "Stopped", Stopped = true,
        ExitType = "GracefulExit", HostingSystemId = "uvm", IsolationType = "Hypervisor", Created = Now, InitProcessId = 0, ExitCode = 0,
        Statistics = new Statistics
        {
            Timestamp = Now, ContainerStartTime = Now.AddMinutes(-5), Uptime100ns = 3_000_000_000,
            Processor = new ProcessorStats { TotalRuntime100ns = 30, RuntimeUser100ns = 20, RuntimeKernel100ns = 10 },
            Memory = new MemoryStats { MemoryUsageCommitBytes = 1 << 20, MemoryUsageCommitPeakBytes = 2 << 20, MemoryUsagePrivateWorkingSetBytes = 1 << 19 },
            Storage = new StorageStats { ReadCountNormalized = 1, ReadSizeBytes = 4096, WriteCountNormalized = 2, WriteSizeBytes = 8192 },
        },
        ProcessList = [new ProcessDetails
        {
            ProcessId = 1234, ImageName = "sh", CreateTimestamp = Now, UserTime100ns = ulong.MaxValue, KernelTime100ns = 5,
            MemoryCommitBytes = 6, MemoryWorkingSetPrivateBytes = 7, MemoryWorkingSetSharedBytes = 8,
        }],
        Memory = new MemoryInformation { TotalPhysicalBytes = 1, TotalUsage = 2, CommittedBytes = 3, SharedCommittedBytes = 4, CommitLimitBytes = 5, PeakCommitmentBytes = 6 },
    };

    [Theory]
    [MemberData(nameof(WrittenResponses))]
    public void WrittenResponse_Validates(string schema, string variant)
    {
        var errors = Contract.Validate(schema, Written(schema, variant));
        Assert.True(errors.Count == 0, $"{schema} ({variant}) as HcsWriter writes it:\n{Encoding.UTF8.GetString(Written(schema, variant))}\n" + string.Join("\n", errors));
    }

    /// <summary>What the writer writes even when nothing optional is set is what the schema requires:
    /// dropping any of it breaks the document.</summary>
    [Theory]
    [MemberData(nameof(WrittenResponses))]
    public void WrittenResponse_WithoutAnyMemberTheWriterAlwaysWrites_Fails(string schema, string variant)
    {
        if (variant == "full" && WrittenResponses().Any(x => (string)x[0] == schema && (string)x[1] == "minimal")) return;
        var doc = JsonNode.Parse(Written(schema, variant))!;
        foreach (var (path, name) in Members(doc, "$"))
        {
            var broken = doc.DeepClone();
            Locate(broken, path[..path.LastIndexOf('.')])!.AsObject().Remove(name);
            Assert.True(Contract.Validate(schema, broken.ToJsonString()).Count > 0, $"{schema} without {path} still validates: {broken.ToJsonString()}");
        }
    }

    /// <summary>Every member of a fully written document, given a value of another JSON type (or an
    /// impossible one), fails; so does an unknown member at every depth.</summary>
    [Theory]
    [MemberData(nameof(WrittenResponses))]
    public void WrittenResponse_WithAWrongValueOrAnUnknownMember_Fails(string schema, string variant)
    {
        var doc = JsonNode.Parse(Written(schema, variant))!;
        var cases = new List<(string What, JsonNode Broken)>();
        foreach (var (path, value) in Values(doc, "$"))
            foreach (var wrong in WrongValues(value))
                cases.Add(($"{path} = {wrong.ToJsonString()}", Replace(doc, path, wrong)));
        foreach (var path in Objects(doc, "$"))
        {
            var broken = doc.DeepClone();
            Locate(broken, path)!.AsObject()["Unexpected"] = 1;
            cases.Add(($"{path}.Unexpected", broken));
        }
        Assert.NotEmpty(cases);
        foreach (var (what, broken) in cases)
            Assert.True(Contract.Validate(schema, broken.ToJsonString()).Count > 0, $"{schema} with {what} still validates: {broken.ToJsonString()}");
    }

    [Fact]
    public void FullyWrittenResponses_DeclareNoMemberTheWriterNeverWrites()
    {
        foreach (var schema in new[] { "Properties", "SystemExitStatus", "ProcessStatus", "ServiceInfo", "ComputeSystemSummary", "ErrorResponse" })
        {
            var written = JsonNode.Parse(Written(schema, "full"))!;
            var declared = DeclaredMembers(Contract.ComponentSchemas[schema]!, "$").Order().ToList();
            var present = Members(written, "$").Select(m => Regex.Replace(m.Path, @"\[\d+\]", "[]")).Distinct().Order().ToList();
            Assert.Equal(declared, present);
        }
        // a notification carries all its optional members only in ProcessExited/SystemExited taken together
        var notificationMembers = new[] { "SystemExited", "ProcessExited" }
            .SelectMany(v => Members(JsonNode.Parse(Written("Notification", v))!, "$")).Select(m => m.Path).Where(p => p.Count(c => c == '.') == 1)
            .Distinct().Order();
        Assert.Equal(DeclaredMembers(Contract.ComponentSchemas["Notification"]!, "$", deep: false).Order(), notificationMembers);
    }

    [Theory]
    [InlineData("Properties", "Created", "\"0001-01-01T00:00:00\"")]        // a DateTime of unspecified kind: no zone
    [InlineData("Properties", "Created", "\"June 1, 2025\"")]
    [InlineData("Properties", "State", "\"Creating\"")]                     // hcsd's internal state, never shown
    [InlineData("Properties", "ExitType", "\"Reboot\"")]
    [InlineData("Properties", "InitProcessId", "-1")]
    [InlineData("Properties", "InitProcessId", "4294967296")]
    [InlineData("Properties", "ExitCode", "2147483648")]
    [InlineData("ServiceInfo", "CgroupMode", "\"cgroup2\"")]
    [InlineData("ServiceInfo", "IsolationKinds", "[\"Process\",\"Vm\"]")]
    [InlineData("ComputeSystemSummary", "IsolationType", "\"process\"")]
    [InlineData("ComputeSystemSummary", "State", "\"\"")]
    [InlineData("ErrorResponse", "Error", "\"E_FAIL\"")]
    [InlineData("ErrorResponse", "Errors", "[]")]
    [InlineData("ErrorResponse", "Errors", "[{\"Path\":\"$.x\"}]")]
    [InlineData("Notification", "Type", "\"SystemBooted\"")]
    [InlineData("Notification", "SystemExitStatus", null)]                 // SystemExited must say how
    [InlineData("SystemExitStatus", "Status", "4294967295")]
    [InlineData("ProcessStatus", "ExitCode", "-1")]
    public void ImpossibleResponseValues_Fail(string schema, string member, string? json)
    {
        var doc = JsonNode.Parse(Written(schema, schema == "Notification" ? "SystemExited" : "full"))!.AsObject();
        if (json is null) doc.Remove(member);
        else doc[member] = JsonNode.Parse(json);
        Assert.True(Contract.Validate(schema, doc.ToJsonString()).Count > 0, $"{schema} with {member}={json ?? "(absent)"} still validates");
    }

    // ---- requests: what HcsReader accepts --------------------------------------------------

    /// <summary>Permissive: subtrees read by the OCI rules (unknown members ignored), not entered;
    /// Opaque: members the reader passes on unread (Settings is read per ResourcePath later).</summary>
    private sealed record RequestKind(string Schema, Func<byte[], object> Read, string[] Permissive, string[]? OpaqueMembers = null)
    {
        public string[] Opaque => OpaqueMembers ?? [];
    }

    private static readonly Dictionary<string, RequestKind> Requests = new()
    {
        ["create"] = new("CreateComputeSystemRequest", b => HcsReader.ReadCreateRequest(b), ["$.Document.Container.OciSpecification"]),
        ["process"] = new("ProcessParameters", b => HcsReader.ReadProcessParameters(b), ["$.OciProcess"]),
        ["modify"] = new("ModifySettingRequest", b => HcsReader.ReadModifySettingRequest(b), ["$.Settings"], ["$.Settings"]),
        ["process-modify"] = new("ProcessModifyRequest", b => HcsReader.ReadProcessModifyRequest(b), []),
        ["signal"] = new("SignalRequest", b => HcsReader.ReadSignal(b), []),
    };

    public static TheoryData<string, string> WrittenRequests() => new()
    {
        { "create", "full" }, { "create", "minimal" }, { "create", "oci-only" },
        { "process", "args" }, { "process", "command-line" },
        { "modify", "memory" }, { "modify", "processor" }, { "modify", "add-directory" }, { "modify", "remove-directory" },
        { "process-modify", "console-size" }, { "process-modify", "close-stdin" },
        { "signal", "number" },
    };

    private static byte[] WrittenRequest(string kind, string variant) => (kind, variant) switch
    {
        ("create", "full") => Json(w => HcsWriter.Write(w, new CreateComputeSystemRequest { Id = "web-1", Document = FullComputeSystem() })),
        ("create", "minimal") => Json(w => HcsWriter.Write(w, new CreateComputeSystemRequest
        {
            Id = "a", Document = new ComputeSystem { Container = new Container { Storage = new Storage { Layers = [new Layer { Path = "/layers/base" }] } } },
        })),
        ("create", _) => Json(w => HcsWriter.Write(w, new CreateComputeSystemRequest
        {
            Id = "oci.1", Document = new ComputeSystem { Container = new Container { OciSpecification = new Oci.Spec { OciVersion = "1.2.0", Root = new Oci.Root { Path = "/bundles/x/rootfs" } } } },
        })),
        ("process", "args") => Json(w => HcsWriter.Write(w, new ProcessParameters
        {
            CommandArgs = ["sh", "-c", "echo hi"], User = "1000:1000", WorkingDirectory = "/tmp", Environment = new() { ["PATH"] = "/bin", ["A B"] = "c" },
            ApplicationName = "sh", RestrictedToken = true, EmulateConsole = true, CreateStdInPipe = true, CreateStdOutPipe = true, CreateStdErrPipe = true,
            ConsoleSize = [24, 80], OciProcess = new Oci.Process { NoNewPrivileges = true },
        })),
        ("process", _) => Json(w => HcsWriter.Write(w, new ProcessParameters { CommandLine = "sh -c 'echo hi'" })),
        ("modify", "memory") => Json(w => HcsWriter.Write(w, Modify("Container/Memory/SizeInMB", "Update", "512"))),
        ("modify", "processor") => Json(w => HcsWriter.Write(w, Modify("Container/Processor", "Update", """{"Weight":200}"""))),
        ("modify", "add-directory") => Json(w => HcsWriter.Write(w, Modify("Container/MappedDirectories", "Add", """{"HostPath":"/srv","ContainerPath":"/srv","ReadOnly":true}"""))),
        ("modify", _) => Json(w => HcsWriter.Write(w, Modify("Container/MappedDirectories", "Remove", """{"ContainerPath":"/srv"}"""))),
        ("process-modify", "console-size") => Json(w => HcsWriter.Write(w, new ProcessModifyRequest { Operation = "ConsoleSize", ConsoleSize = new ConsoleSize { Height = 50, Width = 132 } })),
        ("process-modify", _) => Json(w => HcsWriter.Write(w, new ProcessModifyRequest { Operation = "CloseHandle", CloseHandle = new CloseHandle { Handle = "StdIn" } })),
        ("signal", _) => Json(w => HcsWriter.Write(w, new SignalProcessOptions { Signal = 15 })),
        _ => throw new ArgumentException($"{kind} {variant}"),
    };

    private static ModifySettingRequest Modify(string path, string type, string settings) =>
        new() { ResourcePath = path, RequestType = type, Settings = JsonDocument.Parse(settings).RootElement.Clone() };

    private static ComputeSystem FullComputeSystem() => new()
    {
        Owner = "tests", SchemaVersion = new SchemaVersion { Major = 2, Minor = 1 }, HostingSystemId = "uvm", ShouldTerminateOnLastHandleClosed = true,
        Container = new Container
        {
            GuestOs = new GuestOs { HostName = "web-1.example" },
            Storage = new Storage { Layers = [new Layer { Id = "l1", Path = "/layers/l1", PathType = "AbsolutePath" }, new Layer { Path = "/layers/l2" }], Path = "/scratch/web-1" },
            MappedDirectories = [new MappedDirectory { HostPath = "/srv/data", HostPathType = "AbsolutePath", ContainerPath = "/data", ReadOnly = true }],
            Memory = new ContainerMemory { SizeInMB = 256 },
            Processor = new ContainerProcessor { Count = 2 },
            Networking = new Networking { Namespace = "/var/run/netns/blue", NetworkAdapters = [] },
            IsolationType = "Process",
            OciSpecification = new Oci.Spec { OciVersion = "1.2.0", Hostname = "x", Process = new Oci.Process { Args = ["sh"], Cwd = "/" } },
        },
    };

    [Theory]
    [MemberData(nameof(WrittenRequests))]
    public void WrittenRequest_IsReadAndValidates(string kind, string variant)
    {
        var body = WrittenRequest(kind, variant);
        Requests[kind].Read(body);
        var errors = Contract.Validate(Requests[kind].Schema, body);
        Assert.True(errors.Count == 0, $"{kind} ({variant}):\n{Encoding.UTF8.GetString(body)}\n" + string.Join("\n", errors));
    }

    /// <summary>The strict reader takes null for "absent"; so does the schema, wherever a member is optional.</summary>
    [Theory]
    [MemberData(nameof(WrittenRequests))]
    public void WrittenRequest_WithAnOptionalMemberNull_IsReadAndValidates(string kind, string variant)
    {
        var r = Requests[kind];
        var doc = JsonNode.Parse(WrittenRequest(kind, variant))!;
        // (a null environment value the reader takes as ""; the schema asks for a string)
        foreach (var (path, _) in Values(doc, "$", r.Permissive).Where(v => !v.Path.EndsWith(']') && !v.Path.Contains(".Environment.")))
        {
            if (IsRequired(r.Schema, doc, path)) continue;
            var broken = Replace(doc, path, null);
            var bytes = Encoding.UTF8.GetBytes(broken.ToJsonString());
            r.Read(bytes);
            var errors = Contract.Validate(r.Schema, bytes);
            Assert.True(errors.Count == 0, $"{kind} with {path} = null: the reader takes it, the schema does not:\n" + string.Join("\n", errors));
        }
    }

    /// <summary>Every member given a value of another JSON type, and an unknown member in every
    /// object: the strict reader reports the error at that path, and the schema refuses it too.</summary>
    [Theory]
    [MemberData(nameof(WrittenRequests))]
    public void WrittenRequest_WithAWrongTypeOrUnknownMember_IsRefusedByReaderAndSchema(string kind, string variant)
    {
        var r = Requests[kind];
        var doc = JsonNode.Parse(WrittenRequest(kind, variant))!;
        var cases = new List<(string Path, JsonNode Broken)>();
        foreach (var (path, value) in Values(doc, "$", r.Permissive).Where(v => !r.Opaque.Contains(v.Path)))
            foreach (var wrong in WrongTypes(value!))
                cases.Add((path, Replace(doc, path, wrong)));
        foreach (var path in Objects(doc, "$", r.Permissive).Where(p => !p.EndsWith(".Environment")))
            foreach (var name in new[] { "Bogus", "id", "__proto__" })
            {
                var broken = doc.DeepClone();
                Locate(broken, path)!.AsObject()[name] = "x";
                cases.Add((JsonMapper.Child(path, name), broken));
            }
        Assert.NotEmpty(cases);
        foreach (var (path, broken) in cases)
        {
            var bytes = Encoding.UTF8.GetBytes(broken.ToJsonString());
            var e = Assert.Throws<DocumentException>(() => r.Read(bytes));
            Assert.True(e.Errors.Any(x => x.Path == path), $"{kind}: reader errors {string.Join("; ", e.Errors)} do not name {path}");
            Assert.True(Contract.Validate(r.Schema, bytes).Count > 0, $"{kind}: the schema takes what the reader refuses at {path}: {broken.ToJsonString()}");
        }
    }

    [Theory]
    [InlineData("create", """{"Document":{"Container":{}}}""")]                                      // no Id
    [InlineData("create", """{"Id":"a"}""")]                                                          // no Document
    [InlineData("create", """{"Id":"","Document":{"Container":{}}}""")]
    [InlineData("create", """{"Id":"..","Document":{"Container":{}}}""")]
    [InlineData("create", """{"Id":"a/b","Document":{"Container":{}}}""")]
    [InlineData("create", """{"Id":"-a","Document":{"Container":{}}}""")]
    [InlineData("create", """{"Id":"a+b","Document":{"Container":{}}}""")]
    [InlineData("create", """{"Id":"a","Document":{}}""")]                                            // no Container
    [InlineData("create", """{"Id":"a","Document":{"Container":null}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{},"VirtualMachine":{}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"SchemaVersion":{"Major":1},"Container":{}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"IsolationType":"HostProcess"}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Memory":{"SizeInMB":5}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Processor":{"Count":1,"Weight":5}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Processor":{"Weight":10001}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Storage":{"Layers":[]}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Storage":{"Layers":[{"Path":"relative"}]}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"MappedDirectories":[{"HostPath":"/a","ContainerPath":"/"}]}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"MappedDirectories":[{"HostPath":"/a","ContainerPath":"/x/../etc"}]}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"GuestOs":{"HostName":"-x"}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Networking":{"Namespace":"blue"}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Networking":{"AllowUnqualifiedDnsQuery":true}}}}""")]
    [InlineData("process", """{}""")]                                                                 // no command
    [InlineData("process", """{"CommandArgs":[]}""")]
    [InlineData("process", """{"CommandArgs":["sh"],"CommandLine":"sh"}""")]
    [InlineData("process", """{"CommandLine":"sh","WorkingDirectory":"tmp"}""")]
    [InlineData("process", """{"CommandLine":"sh","ConsoleSize":[24]}""")]
    [InlineData("modify", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Add","Settings":512}""")]
    [InlineData("modify", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":"512"}""")]
    [InlineData("modify", """{"ResourcePath":"Container/Processor","RequestType":"Update","Settings":{"Bogus":1}}""")]
    [InlineData("modify", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Update","Settings":{"ContainerPath":"/x"}}""")]
    [InlineData("modify", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Add","Settings":{"ContainerPath":"/x"}}""")]
    [InlineData("modify", """{"ResourcePath":"Container/Networking","RequestType":"Update","Settings":{}}""")]
    [InlineData("modify", """{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update"}""")]
    [InlineData("process-modify", """{"Operation":"ConsoleSize"}""")]
    [InlineData("process-modify", """{"Operation":"CloseHandle","CloseHandle":{"Handle":"StdBogus"}}""")]
    [InlineData("process-modify", """{"ConsoleSize":{"Height":1,"Width":1}}""")]
    [InlineData("signal", """{}""")]
    [InlineData("signal", """{"Signal":0}""")]
    [InlineData("signal", """{"Signal":65}""")]
    [InlineData("signal", """{"Signal":""}""")]
    [InlineData("signal", """{"Signal":"SIGBOGUS"}""")]
    [InlineData("signal", """{"Signal":"65"}""")]
    [InlineData("signal", """{"Signal":"SIG"}""")]
    public void ImpossibleRequests_FailTheSchema(string kind, string json)
    {
        Assert.True(Contract.Validate(Requests[kind].Schema, json).Count > 0, $"{kind} schema takes {json}");
    }

    [Theory]
    [InlineData("signal", """{"Signal":"SIGTERM"}""")]
    [InlineData("signal", """{"Signal":64}""")]
    [InlineData("signal", """{"Signal":"term"}""")]
    [InlineData("signal", """{"Signal":"SigKill"}""")]
    [InlineData("signal", """{"Signal":"CtrlC"}""")]
    [InlineData("signal", """{"Signal":"15"}""")]
    [InlineData("create", """{"Id":"A_b-c.d","Document":{"Container":{"Storage":{"Layers":[{"Path":"/l"}],"Path":null},"Memory":null,"IsolationType":null}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Networking":{"Namespace":""}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Networking":{"Namespace":"host","AllowUnqualifiedDnsQuery":false,"DnsSearchList":""}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{"Processor":{"Count":1,"Maximum":null}}}}""")]
    [InlineData("create", """{"Id":"a","Document":{"Container":{},"VirtualMachine":null}}""")]
    [InlineData("modify", """{"ResourcePath":"Container/Processor","RequestType":"Update","Settings":{"Maximum":5000}}""")]
    [InlineData("modify", """{"ResourcePath":"Container/MappedDirectories","RequestType":"Remove","Settings":{"ContainerPath":"/x"},"GuestRequest":null}""")]
    public void PossibleRequests_PassTheSchemaAndTheReader(string kind, string json)
    {
        Requests[kind].Read(Encoding.UTF8.GetBytes(json));
        var errors = Contract.Validate(Requests[kind].Schema, json);
        Assert.True(errors.Count == 0, $"{kind} schema refuses {json}:\n" + string.Join("\n", errors));
    }

    // ---- JSON walking -----------------------------------------------------------------------

    private static void Walk(JsonNode? node, string where, Action<JsonNode, string> visit)
    {
        if (node is null) return;
        visit(node, where);
        if (node is JsonObject o) foreach (var (k, v) in o) Walk(v, where + "/" + k, visit);
        else if (node is JsonArray a) for (int i = 0; i < a.Count; i++) Walk(a[i], $"{where}/{i}", visit);
    }

    /// <summary>Every member value and array element with its path ("$.a.b[0]"), skipping the
    /// subtrees of <paramref name="skip"/> (they are reported themselves, not entered).</summary>
    private static List<(string Path, JsonNode? Value)> Values(JsonNode node, string path, string[]? skip = null)
    {
        var found = new List<(string, JsonNode?)>();
        void Visit(JsonNode? n, string p)
        {
            if (n is JsonObject o && (skip is null || !skip.Contains(p)))
                foreach (var (k, v) in o) { found.Add((JsonMapper.Child(p, k), v)); Visit(v, JsonMapper.Child(p, k)); }
            else if (n is JsonArray a && (skip is null || !skip.Contains(p)))
                for (int i = 0; i < a.Count; i++) { found.Add(($"{p}[{i}]", a[i])); Visit(a[i], $"{p}[{i}]"); }
        }
        Visit(node, path);
        return found;
    }

    /// <summary>The paths of every object, the root included, outside the skipped subtrees.</summary>
    private static List<string> Objects(JsonNode node, string path, string[]? skip = null) =>
        [path, .. Values(node, path, skip).Where(v => v.Value is JsonObject && (skip is null || !skip.Contains(v.Path))).Select(v => v.Path)];

    /// <summary>Every object member (not array element) with its path and name.</summary>
    private static IEnumerable<(string Path, string Name)> Members(JsonNode node, string path) =>
        Values(node, path).Where(v => !v.Path.EndsWith(']')).Select(v => (v.Path, v.Path[(v.Path.LastIndexOf('.') + 1)..]));

    private static JsonNode? Locate(JsonNode root, string path)
    {
        JsonNode? node = root;
        foreach (Match m in Regex.Matches(path, @"\.(\w+)|\[(\d+)\]|\[""([^""]*)""\]"))
        {
            node = m.Groups[2].Success ? node!.AsArray()[int.Parse(m.Groups[2].Value)]
                 : node!.AsObject()[m.Groups[1].Success ? m.Groups[1].Value : m.Groups[3].Value];
        }
        return node;
    }

    private static JsonNode Replace(JsonNode root, string path, JsonNode? value)
    {
        var copy = root.DeepClone();
        var last = Regex.Match(path, @"(\.(\w+)|\[(\d+)\]|\[""([^""]*)""\])$");
        var parent = Locate(copy, path[..last.Index])!;
        if (last.Groups[3].Success) parent.AsArray()[int.Parse(last.Groups[3].Value)] = value;
        else parent.AsObject()[last.Groups[2].Success ? last.Groups[2].Value : last.Groups[4].Value] = value;
        return copy;
    }

    private static bool IsRequired(string schema, JsonNode doc, string path)
    {
        // required-ness from the schema: removing the member makes a valid document invalid
        var without = doc.DeepClone();
        var last = Regex.Match(path, @"(\.(\w+)|\[""([^""]*)""\])$");
        var parent = Locate(without, path[..last.Index])!.AsObject();
        parent.Remove(last.Groups[2].Success ? last.Groups[2].Value : last.Groups[3].Value);
        return Contract.Validate(schema, without.ToJsonString()).Count > 0;
    }

    /// <summary>Values of every other JSON type.</summary>
    private static IEnumerable<JsonNode> WrongTypes(JsonNode value)
    {
        var kind = value.GetValueKind();
        if (kind != JsonValueKind.String) yield return JsonValue.Create("x")!;
        if (kind != JsonValueKind.Number) yield return JsonValue.Create(7)!;
        if (kind is not (JsonValueKind.True or JsonValueKind.False)) yield return JsonValue.Create(true)!;
        if (kind != JsonValueKind.Array) yield return new JsonArray();
        if (kind != JsonValueKind.Object) yield return new JsonObject();
    }

    /// <summary>Other types, and for numbers the impossible ones (fractions, negatives where the
    /// writer writes unsigned ones), for dates a text that is no RFC 3339 time.</summary>
    private static IEnumerable<JsonNode> WrongValues(JsonNode? value)
    {
        if (value is null) yield break;
        foreach (var w in WrongTypes(value)) yield return w;
        if (value.GetValueKind() == JsonValueKind.Number) yield return JsonValue.Create(1.5)!;
        if (value.GetValueKind() == JsonValueKind.String && DateTime.TryParse(value.GetValue<string>(), out _))
            yield return JsonValue.Create("yesterday")!;
    }

    /// <summary>Member paths a schema declares ("$.Statistics.Processor.TotalRuntime100ns", "$.ProcessList[].ImageName").</summary>
    private static List<string> DeclaredMembers(JsonNode schema, string path, bool deep = true)
    {
        var found = new List<string>();
        var obj = ObjectSchema(schema);
        if (obj?["properties"] is not JsonObject props) return found;
        foreach (var (name, sub) in props)
        {
            var at = $"{path}.{name}";
            found.Add(at);
            if (!deep) continue;
            var s = sub!;
            if (s["$ref"] is JsonValue r) s = Contract.Resolve(r.GetValue<string>())!;
            if (s["type"]?.ToJsonString() == "\"array\"") found.AddRange(DeclaredMembers(s["items"]!, at + "[]"));
            else found.AddRange(DeclaredMembers(s, at));
        }
        return found;
    }
}
