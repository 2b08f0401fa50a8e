using System.Globalization;
using System.Text.Json;

namespace Hcs.Schema;

/// <summary>
/// Reads a <see cref="JsonElement"/> tree into typed objects, recording every type error with
/// its JSON path instead of stopping at the first.
///
/// Why by hand and not System.Text.Json's serializer: the serializer builds its per-type
/// metadata on first use, about 3 ms for the OCI config graph in a NativeAOT process, and its
/// generated code costs memory in every binary. runhcs lives a few milliseconds per command
/// and must beat crun's `run`; JsonDocument costs 0.05 ms. Writing is by hand too
/// (Oci/OciWriter.cs). The source-generated context stays as the reference: a unit test
/// round-trips a fully populated document through both so the two can never drift apart.
/// </summary>
public sealed class JsonMapper(DocumentErrors errors)
{
    public DocumentErrors Errors { get; } = errors;

    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, string source)
    {
        // System.Text.Json checks UTF-8 only when a string is read, and then throws an
        // InvalidOperationException from deep inside a reader: check the whole input up front.
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span))
            throw new DocumentException(source, [new DocumentError("$", "not valid UTF-8")]);
        try
        {
            return JsonDocument.Parse(utf8, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw new DocumentException(source, [new DocumentError(e.Path ?? "$", "malformed JSON" + where)]);
        }
    }

    public bool IsObject(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Object) return true;
        if (e.ValueKind != JsonValueKind.Null) Errors.Add(path, $"expected an object, not {Describe(e)}");
        return false;
    }

    public string? Str(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.String) return e.GetString();
        if (e.ValueKind != JsonValueKind.Null) Errors.Add(path, $"expected a string, not {Describe(e)}");
        return null;
    }

    public bool Bool(JsonElement e, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.True: return true;
            case JsonValueKind.False: case JsonValueKind.Null: return false;
            default: Errors.Add(path, $"expected true or false, not {Describe(e)}"); return false;
        }
    }

    public bool? BoolOpt(JsonElement e, string path) => e.ValueKind == JsonValueKind.Null ? null : Bool(e, path);

    public long? Int64(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v)) return v;
        return NumberError<long>(e, path, "an integer");
    }

    public ulong? UInt64(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out var v)) return v;
        return NumberError<ulong>(e, path, "a non-negative integer");
    }

    public int? Int32(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v)) return v;
        return NumberError<int>(e, path, "a 32-bit integer");
    }

    public uint? UInt32(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetUInt32(out var v)) return v;
        return NumberError<uint>(e, path, "a non-negative 32-bit integer");
    }

    public ushort? UInt16(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetUInt16(out var v)) return v;
        return NumberError<ushort>(e, path, "an integer from 0 to 65535");
    }

    private T? NumberError<T>(JsonElement e, string path, string what) where T : struct
    {
        if (e.ValueKind != JsonValueKind.Null)
            Errors.Add(path, e.ValueKind == JsonValueKind.Number ? $"{e.GetRawText()} is out of range: expected {what}" : $"expected {what}, not {Describe(e)}");
        return null;
    }

    public List<string>? StrList(JsonElement e, string path) => List(e, path, (x, p) => Str(x, p) ?? "");

    public List<T>? List<T>(JsonElement e, string path, Func<JsonElement, string, T> item)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array)
        {
            Errors.Add(path, $"expected an array, not {Describe(e)}");
            return null;
        }
        var list = new List<T>(e.GetArrayLength());
        int i = 0;
        foreach (var x in e.EnumerateArray())
        {
            var at = $"{path}[{i++}]";
            // a null element would reach the engine as a null entry: an error here, with its path
            if (x.ValueKind == JsonValueKind.Null) Errors.Add(at, "null is not allowed here");
            else list.Add(item(x, at));
        }
        return list;
    }

    public Dictionary<string, T>? Map<T>(JsonElement e, string path, Func<JsonElement, string, T> item)
    {
        if (!IsObject(e, path)) return null;
        var map = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject()) map[p.Name] = item(p.Value, Child(path, p.Name));
        return map;
    }

    public Dictionary<string, string>? StrMap(JsonElement e, string path) => Map(e, path, (x, p) => Str(x, p) ?? "");

    /// <summary>"$.a" + "b" → "$.a.b"; names that are not identifiers use ["..."].</summary>
    public static string Child(string path, string name)
    {
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
                return $"{path}[\"{name}\"]";
        return name.Length > 0 ? $"{path}.{name}" : $"{path}[\"\"]";
    }

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "the number " + e.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => e.ValueKind.ToString().ToLower(CultureInfo.InvariantCulture),
    };
}
