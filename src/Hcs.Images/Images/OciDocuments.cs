using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Hcs.Images.Images;

// The documents of the OCI image spec (descriptor, index, manifest, image config, layout) and
// their Docker v2 schema 2 twins, which have the same shape. They come from the outside world
// (registries, archives), so reading is lenient: unknown fields are skipped. The store never
// re-serialises a document it did not write; blobs keep their bytes, so digests hold.

/// <summary>A pointer to a blob: what it is, its digest and size (OCI image spec, descriptor).</summary>
public sealed class Descriptor
{
    [JsonPropertyName("mediaType")] public string MediaType { get; set; } = "";
    [JsonPropertyName("digest")] public string Digest { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("urls")] public List<string>? Urls { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    /// <summary>Only in an index: the platform the manifest is for.</summary>
    [JsonPropertyName("platform")] public Platform? Platform { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }

    public string? Annotation(string key) => Annotations is { } a && a.TryGetValue(key, out var v) ? v : null;
}

public sealed class Platform
{
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("os")] public string Os { get; set; } = "";
    [JsonPropertyName("os.version")] public string? OsVersion { get; set; }
    [JsonPropertyName("os.features")] public List<string>? OsFeatures { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }

    public override string ToString() => Variant is { Length: > 0 } v ? $"{Os}/{Architecture}/{v}" : $"{Os}/{Architecture}";
}

/// <summary>An OCI image index or a Docker manifest list: one manifest per platform. Also the
/// index.json of an OCI image layout.</summary>
public sealed class ImageIndex
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("manifests")] public List<Descriptor> Manifests { get; set; } = [];
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>An OCI image manifest or a Docker image manifest v2 schema 2.</summary>
public sealed class ImageManifest
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("config")] public Descriptor Config { get; set; } = new();
    [JsonPropertyName("layers")] public List<Descriptor> Layers { get; set; } = [];
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>The image config (OCI "application/vnd.oci.image.config.v1+json", Docker's
/// "container.image.v1"): the run defaults, the layers' DiffIDs and the history.</summary>
public sealed class ImageConfig
{
    [JsonPropertyName("created"), JsonConverter(typeof(LenientTimeConverter))] public DateTimeOffset? Created { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("os")] public string Os { get; set; } = "";
    [JsonPropertyName("variant")] public string? Variant { get; set; }
    [JsonPropertyName("config")] public ContainerConfig? Config { get; set; }
    [JsonPropertyName("rootfs")] public RootFs RootFs { get; set; } = new();
    [JsonPropertyName("history")] public List<HistoryEntry>? History { get; set; }
}

/// <summary>What a container started from the image gets unless told otherwise. Docker's
/// PascalCase names, which the OCI spec kept.</summary>
public sealed class ContainerConfig
{
    [JsonPropertyName("User")] public string? User { get; set; }
    /// <summary>Keys "80/tcp", values empty objects.</summary>
    [JsonPropertyName("ExposedPorts")] public Dictionary<string, JsonElement>? ExposedPorts { get; set; }
    [JsonPropertyName("Env")] public List<string>? Env { get; set; }
    [JsonPropertyName("Entrypoint")] public List<string>? Entrypoint { get; set; }
    [JsonPropertyName("Cmd")] public List<string>? Cmd { get; set; }
    [JsonPropertyName("Volumes")] public Dictionary<string, JsonElement>? Volumes { get; set; }
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; set; }
    [JsonPropertyName("Labels")] public Dictionary<string, string>? Labels { get; set; }
    [JsonPropertyName("StopSignal")] public string? StopSignal { get; set; }
}

public sealed class RootFs
{
    [JsonPropertyName("type")] public string Type { get; set; } = "layers";
    /// <summary>sha256 of each layer's uncompressed tar, lowest first.</summary>
    [JsonPropertyName("diff_ids")] public List<string> DiffIds { get; set; } = [];
}

public sealed class HistoryEntry
{
    [JsonPropertyName("created"), JsonConverter(typeof(LenientTimeConverter))] public DateTimeOffset? Created { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("created_by")] public string? CreatedBy { get; set; }
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    /// <summary>True for history entries that made no layer (ENV, CMD ...).</summary>
    [JsonPropertyName("empty_layer")] public bool? EmptyLayer { get; set; }
}

/// <summary>The "oci-layout" file at the root of an image layout.</summary>
public sealed class OciLayoutFile
{
    [JsonPropertyName("imageLayoutVersion")] public string ImageLayoutVersion { get; set; } = "1.0.0";
}

/// <summary>One entry of a `docker save` tarball's manifest.json.</summary>
public sealed class DockerSaveEntry
{
    [JsonPropertyName("Config")] public string Config { get; set; } = "";
    [JsonPropertyName("RepoTags")] public List<string>? RepoTags { get; set; }
    [JsonPropertyName("Layers")] public List<string> Layers { get; set; } = [];
}

/// <summary>The body of a registry's token endpoint (Docker token auth; "access_token" is the
/// OAuth2 spelling, some servers send only that one).</summary>
public sealed class TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; set; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; set; }
    [JsonPropertyName("expires_in")] public int? ExpiresIn { get; set; }
    [JsonPropertyName("issued_at")] public DateTimeOffset? IssuedAt { get; set; }
}

/// <summary>The body of a registry error response (OCI distribution spec, "Error Codes").</summary>
public sealed class RegistryErrors
{
    [JsonPropertyName("errors")] public List<RegistryError>? Errors { get; set; }
}

public sealed class RegistryError
{
    [JsonPropertyName("code")] public string? Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
}

/// <summary>images.json: every name the store knows and the manifest it points at.</summary>
public sealed class ImageIndexFile
{
    [JsonPropertyName("version")] public int Version { get; set; } = 1;
    [JsonPropertyName("images")] public SortedDictionary<string, ImageRecord> Images { get; set; } = new(StringComparer.Ordinal);
}

public sealed class ImageRecord
{
    /// <summary>The digest of the image manifest (for a pulled index: the one chosen for this host).</summary>
    [JsonPropertyName("manifest")] public string Manifest { get; set; } = "";
    [JsonPropertyName("mediaType")] public string MediaType { get; set; } = "";
    /// <summary>The digest of the index the manifest was chosen from, if it came from one.</summary>
    [JsonPropertyName("index")] public string? Index { get; set; }
    [JsonPropertyName("tagged")] public DateTimeOffset Tagged { get; set; }
}

/// <summary>Timestamps in configs come from many tools: RFC 3339 with nanoseconds, the zero
/// time, sometimes garbage. One that does not parse is treated as absent, not as a broken image.</summary>
public sealed class LenientTimeConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) { reader.Skip(); return null; }
        if (reader.TryGetDateTimeOffset(out var exact)) return exact;
        return DateTimeOffset.TryParse(reader.GetString(), System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : null;
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        if (value is { } v) writer.WriteStringValue(v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture));
        else writer.WriteNullValue();
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = false)]
[JsonSerializable(typeof(Descriptor))]
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(ImageManifest))]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(OciLayoutFile))]
[JsonSerializable(typeof(List<DockerSaveEntry>))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(RegistryErrors))]
[JsonSerializable(typeof(ImageIndexFile))]
internal sealed partial class OciJsonContext : JsonSerializerContext;

/// <summary>Reading and writing the documents above, AOT-safe (source generated).</summary>
public static class OciJson
{
    /// <summary>Reads a document; a malformed one is an <see cref="ImageException"/> naming
    /// <paramref name="what"/> (e.g. "manifest sha256:...") and the JSON path of the fault.</summary>
    public static T Read<T>(ReadOnlySpan<byte> utf8, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(utf8, Info<T>()) ?? throw new ImageException(ImageError.Invalid, $"{what}: is null, not an object");
        }
        catch (JsonException e)
        {
            throw new ImageException(ImageError.Invalid, $"{what}: not valid JSON at {e.Path ?? "$"}: {e.Message.Split(" Path:", 2)[0]}", e);
        }
    }

    public static byte[] Write<T>(T value) where T : class => JsonSerializer.SerializeToUtf8Bytes(value, Info<T>());

    private static JsonTypeInfo<T> Info<T>() =>
        (JsonTypeInfo<T>)(OciJsonContext.Default.GetTypeInfo(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in OciJsonContext"));

    /// <summary>The mediaType field of a manifest-like document, for registries that send a
    /// generic Content-Type. Null when absent or not an object.</summary>
    public static string? MediaTypeOf(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isMediaType = reader.ValueTextEquals("mediaType"u8);
                if (!reader.Read()) return null;
                if (isMediaType) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
        }
        catch (JsonException) { }
        return null;
    }
}
