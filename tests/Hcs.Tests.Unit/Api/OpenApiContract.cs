using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Hcs.Tests.Api;

/// <summary>
/// docs/api/openapi.json as a test oracle: finds the operation behind a request, says whether a
/// status is declared for it, and validates bodies against the declared schemas (JSON Schema
/// 2020-12, as OpenAPI 3.1 uses it, with formats such as date-time enforced). Shared by the unit
/// tests (the document against HcsWriter's output) and the integration tests (the document
/// against a running hcsd), so both judge by the same rules.
/// </summary>
public sealed class OpenApiContract
{
    public const string RelativePath = "docs/api/openapi.json";
    public const string NdJson = "application/x-ndjson";

    private static readonly EvaluationOptions Evaluation = new()
    {
        OutputFormat = OutputFormat.List,
        RequireFormatValidation = true,
    };

    private readonly Dictionary<string, JsonSchema> _schemas = [];
    private readonly string _defsJson;
    private int _built;

    public JsonObject Root { get; }
    public string Text { get; }

    public OpenApiContract(string text)
    {
        Text = text;
        Root = JsonNode.Parse(text)!.AsObject();
        // OpenAPI keeps schemas under #/components/schemas; a standalone JSON Schema finds them
        // under #/$defs. Every schema built here carries all of them, so references resolve.
        _defsJson = Root["components"]!["schemas"]!.ToJsonString().Replace("\"#/components/schemas/", "\"#/$defs/");
    }

    public static OpenApiContract Load() => new(File.ReadAllText(FindRepoFile(RelativePath)));

    public static string FindRepoFile(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"cannot find {relative} above {AppContext.BaseDirectory}");
    }

    public JsonObject Paths => Root["paths"]!.AsObject();
    public JsonObject ComponentSchemas => Root["components"]!["schemas"]!.AsObject();

    /// <summary>The node a local reference ("#/components/...") points at, or null.</summary>
    public JsonNode? Resolve(string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal)) return null;
        JsonNode? node = Root;
        foreach (var raw in reference[2..].Split('/'))
        {
            var token = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            node = node switch
            {
                JsonObject o => o.TryGetPropertyValue(token, out var v) ? v : null,
                JsonArray a => int.TryParse(token, out var i) && i >= 0 && i < a.Count ? a[i] : null,
                _ => null,
            };
            if (node is null) return null;
        }
        return node;
    }

    /// <summary>Follows a "$ref" object (response, parameter) to what it names.</summary>
    public JsonNode Deref(JsonNode node)
    {
        for (int hops = 0; node is JsonObject o && o["$ref"] is JsonValue r; hops++)
        {
            if (hops > 10) throw new InvalidOperationException("reference loop at " + r);
            node = Resolve(r.GetValue<string>()) ?? throw new InvalidOperationException("unresolved reference " + r);
        }
        return node;
    }

    public JsonSchema Component(string name) => Schema(new JsonObject { ["$ref"] = "#/components/schemas/" + name });

    /// <summary>A schema (as it appears in the document) made evaluable on its own.</summary>
    public JsonSchema Schema(JsonNode schemaNode)
    {
        var key = schemaNode.ToJsonString();
        lock (_schemas)
        {
            if (_schemas.TryGetValue(key, out var cached)) return cached;
            var wrapper = JsonNode.Parse(key.Replace("\"#/components/schemas/", "\"#/$defs/")) as JsonObject
                          ?? new JsonObject { ["allOf"] = new JsonArray(JsonNode.Parse(key)) };
            wrapper["$schema"] = "https://json-schema.org/draft/2020-12/schema";
            wrapper["$defs"] = JsonNode.Parse(_defsJson);
            // every build gets its own registry and id: schemas of one document never collide
            var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
            var schema = JsonSchema.FromText(wrapper.ToJsonString(), options, new Uri($"https://hcs.test/openapi/{++_built}"));
            _schemas[key] = schema;
            return schema;
        }
    }

    /// <summary>Every error of <paramref name="instance"/> against the schema ("/Created: format ..."); empty when valid.</summary>
    public static List<string> Validate(JsonSchema schema, JsonElement instance)
    {
        var result = schema.Evaluate(instance, Evaluation);
        if (result.IsValid) return [];
        var errors = new List<string>();
        foreach (var d in (result.Details ?? []).Prepend(result))
            if (d.Errors is { } es)
                foreach (var (keyword, message) in es)
                    errors.Add($"{(d.InstanceLocation.ToString() is { Length: > 0 } at ? at : "/")} ({keyword} at {d.EvaluationPath}): {message}");
        if (errors.Count == 0) errors.Add("invalid (no detail)");
        return errors;
    }

    public List<string> Validate(string component, string json)
    {
        using var doc = JsonDocument.Parse(json);
        return Validate(Component(component), doc.RootElement);
    }

    public List<string> Validate(string component, byte[] utf8) => Validate(component, Encoding.UTF8.GetString(utf8));

    /// <summary>The path template and operation serving METHOD PATH ("/v2/compute-systems/web/start" →
    /// "/v2/compute-systems/{id}/start"), or null for a route the document does not describe.</summary>
    public (string Template, JsonObject Operation, JsonObject PathItem)? FindOperation(string method, string path)
    {
        var q = path.IndexOf('?');
        if (q >= 0) path = path[..q];
        var segments = path.Split('/');
        (string, JsonObject, JsonObject)? best = null;
        int bestLiterals = -1;
        foreach (var (template, item) in Paths)
        {
            var t = template.Split('/');
            if (t.Length != segments.Length) continue;
            int literals = 0;
            bool match = true;
            for (int i = 0; i < t.Length && match; i++)
            {
                if (t[i].StartsWith('{') && t[i].EndsWith('}')) match = segments[i].Length > 0;
                else if (t[i] == segments[i]) literals++;
                else match = false;
            }
            if (!match || literals <= bestLiterals) continue;
            if (item![method.ToLowerInvariant()] is JsonObject op)
            {
                best = (template, op, item.AsObject());
                bestLiterals = literals;
            }
        }
        return best;
    }

    /// <summary>The declared response for a status, dereferenced; null when the status is not declared.</summary>
    public JsonObject? DeclaredResponse(JsonObject operation, int status)
    {
        var responses = operation["responses"]!.AsObject();
        return responses[status.ToString()] is { } r ? Deref(r).AsObject() : null;
    }

    public static IEnumerable<int> DeclaredStatuses(JsonObject operation) =>
        operation["responses"]!.AsObject().Select(kv => int.Parse(kv.Key));

    /// <summary>
    /// Everything wrong with a response to METHOD PATH: a status the route does not declare, a
    /// content type it does not declare, a body that does not match the declared schema (each
    /// line for NDJSON), or a body where none is declared. Empty when the response conforms.
    /// </summary>
    public List<string> CheckResponse(string method, string path, int status, string? contentType, byte[] body)
    {
        var problems = new List<string>();
        var found = FindOperation(method, path);
        if (found is not { } f)
        {
            problems.Add($"{method} {path}: no such operation in {RelativePath}");
            return problems;
        }
        var where = $"{method} {f.Template} → {status}";
        var response = DeclaredResponse(f.Operation, status);
        if (response is null)
        {
            problems.Add($"{where}: status not declared (declared: {string.Join(", ", DeclaredStatuses(f.Operation))})");
            // still judge an error body by the common error shape
            if (status >= 400) problems.AddRange(CheckJson(Component("ErrorResponse"), body).Select(e => $"{where}: {e}"));
            return problems;
        }
        if (response["content"] is not JsonObject content)
        {
            if (body.Length > 0) problems.Add($"{where}: a body where none is declared: {Preview(body)}");
            return problems;
        }
        var mediaType = (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        if (content[mediaType] is not JsonObject media)
        {
            problems.Add($"{where}: content type \"{contentType}\" not declared (declared: {string.Join(", ", content.Select(kv => kv.Key))})");
            return problems;
        }
        // an archive (application/x-tar) is described by its media type only
        if (mediaType is not ("application/json" or NdJson)) return problems;
        var schema = Schema(media["schema"]!);
        if (mediaType == NdJson)
        {
            int line = 0;
            foreach (var text in Encoding.UTF8.GetString(body).Split('\n'))
            {
                line++;
                if (text.Trim().Length == 0) continue;
                problems.AddRange(CheckJson(schema, Encoding.UTF8.GetBytes(text)).Select(e => $"{where} line {line}: {e}"));
            }
        }
        else problems.AddRange(CheckJson(schema, body).Select(e => $"{where}: {e}"));
        return problems;
    }

    private static List<string> CheckJson(JsonSchema schema, byte[] body)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body); }
        catch (JsonException e) { return [$"body is not JSON ({e.Message}): {Preview(body)}"]; }
        using (doc)
        {
            var errors = Validate(schema, doc.RootElement);
            if (errors.Count > 0) errors.Add("body: " + Preview(body));
            return errors;
        }
    }

    public static string Preview(byte[] body, int max = 600)
    {
        var s = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, max));
        return body.Length > max ? s + $"... ({body.Length} bytes)" : s;
    }
}
