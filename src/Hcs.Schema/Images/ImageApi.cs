using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hcs.Schema.Images;

// The wire types of hcsd's /v2/images and /v2/layers (docs/design/0006-layers-and-images.md,
// "API"). PascalCase as the rest of the v2 API. Requests are read strictly (unknown fields are
// errors at their JSON path); responses leniently, so a newer daemon does not break a client.

/// <summary>An image in the store, as listed.</summary>
public sealed class ImageSummary
{
    /// <summary>The image ID: the digest of its config ("sha256:...").</summary>
    public string Id { get; set; } = "";
    /// <summary>Normalised references naming it, e.g. "docker.io/library/busybox:latest".</summary>
    public List<string> RepoTags { get; set; } = [];
    /// <summary>The digest of its manifest ("sha256:..."), as a registry knows it.</summary>
    public string ManifestDigest { get; set; } = "";
    public DateTime? Created { get; set; }
    /// <summary>Bytes of the unpacked layers.</summary>
    public long Size { get; set; }
}

/// <summary>An image with its config defaults and layers (GET /v2/images/{reference}).</summary>
public sealed class ImageDetails
{
    public string Id { get; set; } = "";
    public List<string> RepoTags { get; set; } = [];
    public string ManifestDigest { get; set; } = "";
    public DateTime? Created { get; set; }
    public long Size { get; set; }
    public string Architecture { get; set; } = "";
    public string Os { get; set; } = "";
    public string? Author { get; set; }
    public ImageDefaults Config { get; set; } = new();
    /// <summary>Chain IDs of its layers, lowest first.</summary>
    public List<string> Layers { get; set; } = [];
    /// <summary>The directories those layers are unpacked in, lowest first (what Storage.Layers
    /// would name; the CLI reads /etc/passwd from them to resolve -u NAME).</summary>
    public List<string> LayerPaths { get; set; } = [];
}

/// <summary>What a container started from the image gets unless told otherwise (the OCI image
/// config's "config" object).</summary>
public sealed class ImageDefaults
{
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public List<string>? Entrypoint { get; set; }
    public string? WorkingDir { get; set; }
    public string? User { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public List<string>? ExposedPorts { get; set; }
    public string? StopSignal { get; set; }
}

/// <summary>A layer in the store (GET /v2/layers).</summary>
public sealed class LayerSummary
{
    public string ChainId { get; set; } = "";
    public string DiffId { get; set; } = "";
    public string? Parent { get; set; }
    public long Size { get; set; }
    /// <summary>How many images and containers use it; 0 = prune removes it.</summary>
    public int References { get; set; }
    public string Path { get; set; } = "";
}

/// <summary>POST /v2/images/pull.</summary>
public sealed class PullRequest
{
    public string? Reference { get; set; }
    /// <summary>Credentials for this registry (basic, or to obtain a bearer token); never stored.</summary>
    public string? Username { get; set; }
    public string? Password { get; set; }
}

/// <summary>POST /v2/compute-systems/{id}/commit.</summary>
public sealed class CommitRequest
{
    public string? Reference { get; set; }
    public string? Author { get; set; }
    public string? Comment { get; set; }
}

/// <summary>POST /v2/images/{reference}/tag.</summary>
public sealed class TagRequest
{
    public string? Reference { get; set; }
}

/// <summary>One line of a pull's or an import's NDJSON progress stream. Per-layer lines carry
/// Layer (a blob or chain digest) and bytes; the last line is Status "Complete" with the Image,
/// or Status "Error" with Error.</summary>
public sealed class ImageProgress
{
    /// <summary>Resolving, Waiting, Downloading, Verifying, Extracting, Done, AlreadyExists,
    /// Complete, Error.</summary>
    public string Status { get; set; } = "";
    public string? Layer { get; set; }
    public long Current { get; set; }
    public long Total { get; set; }
    public ImageDetails? Image { get; set; }
    /// <summary>With Status "Error": the HCS error name, message and path.</summary>
    public Hcs.ErrorResponse? Error { get; set; }
}

/// <summary>POST /v2/images/prune and /v2/layers/prune.</summary>
public sealed class PruneResponse
{
    public List<string> ImagesDeleted { get; set; } = [];
    public List<string> LayersDeleted { get; set; } = [];
    public long SpaceReclaimed { get; set; }
}

public static class ImageProgressStatus
{
    public const string Resolving = "Resolving", Waiting = "Waiting", Downloading = "Downloading",
        Verifying = "Verifying", Extracting = "Extracting", Done = "Done", AlreadyExists = "AlreadyExists",
        Complete = "Complete", Error = "Error";
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageSummary))]
[JsonSerializable(typeof(List<ImageSummary>))]
[JsonSerializable(typeof(ImageDetails))]
[JsonSerializable(typeof(LayerSummary))]
[JsonSerializable(typeof(List<LayerSummary>))]
[JsonSerializable(typeof(PullRequest))]
[JsonSerializable(typeof(CommitRequest))]
[JsonSerializable(typeof(TagRequest))]
[JsonSerializable(typeof(ImageProgress))]
[JsonSerializable(typeof(PruneResponse))]
public sealed partial class ImageJsonContext : JsonSerializerContext;

/// <summary>Reading and writing the image API's documents.</summary>
public static class ImageJson
{
    private static readonly ImageJsonContext Lenient = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });

    private static readonly ImageJsonContext Strict = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    });

    public static byte[] ToUtf8<T>(T value) =>
        JsonSerializer.SerializeToUtf8Bytes(value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)Lenient.GetTypeInfo(typeof(T))!);

    /// <summary>A response (lenient: unknown fields are skipped).</summary>
    public static T Read<T>(ReadOnlySpan<byte> utf8) where T : class =>
        JsonSerializer.Deserialize(utf8, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)Lenient.GetTypeInfo(typeof(T))!)
        ?? throw new DocumentException("response", [new DocumentError("$", "must be an object, not null")]);

    /// <summary>A request: strict, and a failure is a <see cref="DocumentException"/> at the JSON
    /// path of the fault.</summary>
    public static T ReadRequest<T>(ReadOnlySpan<byte> utf8) where T : class
    {
        var info = (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)Strict.GetTypeInfo(typeof(T))!;
        // checked first: the serializer reports invalid UTF-8 in a member name as an InvalidOperationException
        if (!System.Text.Unicode.Utf8.IsValid(utf8))
            throw new DocumentException("request body", [new DocumentError("$", "the body is not valid UTF-8")]);
        try
        {
            // unknown members first, each at its path as the rest of the API names them
            // ($["a.b"], $[""]); the serializer's own message names only the first, in its notation
            using (var doc = JsonDocument.Parse(utf8.ToArray()))
            {
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    var known = info.Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
                    var unknown = doc.RootElement.EnumerateObject().Where(p => !known.Contains(p.Name))
                        .Select(p => new DocumentError(JsonMapper.Child("$", p.Name), "unknown member")).ToList();
                    if (unknown.Count > 0) throw new DocumentException("request body", unknown);
                }
            }
            return JsonSerializer.Deserialize(utf8, info)
                   ?? throw new DocumentException("request body", [new DocumentError("$", "must be an object, not null")]);
        }
        catch (JsonException e)
        {
            var path = e.Path is { Length: > 0 } p ? p : "$";
            var why = e.Message.Split(" Path:", 2)[0];
            throw new DocumentException("request body", [new DocumentError(path, why)]);
        }
    }
}
