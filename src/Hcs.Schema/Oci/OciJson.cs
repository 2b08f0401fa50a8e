using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hcs.Schema.Oci;

/// <summary>Source-generated System.Text.Json metadata for OCI documents (AOT-safe, no reflection).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    WriteIndented = false)]
[JsonSerializable(typeof(Spec))]
[JsonSerializable(typeof(State))]
[JsonSerializable(typeof(Process))]
[JsonSerializable(typeof(Resources))]
[JsonSerializable(typeof(List<State>))]
[JsonSerializable(typeof(ContainerProcessState))]
public sealed partial class OciJsonContext : JsonSerializerContext;

/// <summary>Reads OCI documents and turns every parse failure into a <see cref="DocumentException"/>
/// that names the JSON path, so "config.json: $.process.args[0]: ..." reaches the user.</summary>
public static class OciJson
{
    // Reading goes through OciReader (JsonDocument + a hand mapper): see JsonMapper for why.
    public static Spec ReadSpec(ReadOnlyMemory<byte> utf8, string source) => OciReader.ReadSpec(utf8, source);

    public static Process ReadProcess(ReadOnlyMemory<byte> utf8, string source) => OciReader.ReadProcess(utf8, source);

    public static Resources ReadResources(ReadOnlyMemory<byte> utf8, string source) => OciReader.ReadResources(utf8, source);

    public static T Read<T>(ReadOnlySpan<byte> utf8, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string source)
    {
        try
        {
            return JsonSerializer.Deserialize(utf8, type)
                ?? throw new DocumentException(source, [new DocumentError("$", "the document is null")]);
        }
        catch (JsonException e)
        {
            throw new DocumentException(source, [new DocumentError(e.Path ?? "$", Describe(e))]);
        }
    }

    /// <summary>STJ messages carry the path and position themselves; keep only the problem.</summary>
    private static string Describe(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        if (e.LineNumber is { } line)
            message += $" (line {line + 1}, byte {e.BytePositionInLine + 1})";
        return message;
    }
}
