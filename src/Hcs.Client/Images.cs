using System.Net.Http.Headers;
using Hcs.Schema.Hcs;
using Hcs.Schema.Images;

namespace Hcs.Client;

/// <summary>
/// hcsd's image and layer store (docs/design/0006-layers-and-images.md): pull, import, export,
/// list, inspect, tag, remove, prune. Reached through <see cref="HostComputeService.Images"/>.
/// References are normalised by hcsd as docker does ("busybox" = docker.io/library/busybox:latest).
/// Pulls and imports report progress line by line; their last line carries the image, or the
/// error, which is thrown as an <see cref="HcsException"/>.
/// </summary>
public sealed class ImageStoreClient
{
    private static readonly MediaTypeHeaderValue Tar = new("application/x-tar");
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private readonly HcsConnection _connection;

    internal ImageStoreClient(HcsConnection connection) => _connection = connection;

    private static string Q(string value) => Uri.EscapeDataString(value);

    public async Task<IReadOnlyList<ImageSummary>> ListAsync(CancellationToken ct = default)
    {
        var body = await _connection.SendAsync(HttpMethod.Get, "v2/images", null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, b => ImageJson.Read<List<ImageSummary>>(b.Span), ct);
    }

    /// <summary>HCS_E_IMAGE_NOT_FOUND when the store has no such image. With
    /// <paramref name="unpacked"/>, answers once the image's layers are unpacked (a pull returns
    /// when every blob is fetched and verified; hcsd unpacks them after), so that the files under
    /// <see cref="ImageDetails.LayerPaths"/> can be read.</summary>
    public async Task<ImageDetails> InspectAsync(string reference, bool unpacked = false, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        var body = await _connection.SendAsync(HttpMethod.Get, "v2/images/inspect?reference=" + Q(reference) + (unpacked ? "&unpacked=true" : ""),
                                               null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, b => ImageJson.Read<ImageDetails>(b.Span), ct);
    }

    /// <summary>Pulls from the reference's registry; layers already stored are not fetched again.</summary>
    public async Task<ImageDetails> PullAsync(string reference, IProgress<ImageProgress>? progress = null,
                                              string? username = null, string? password = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        var request = ImageJson.ToUtf8(new PullRequest { Reference = reference, Username = username, Password = password });
        var content = new ByteArrayContent(request);
        content.Headers.ContentType = Json;
        return await ProgressAsync("v2/images/pull", content, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Imports an OCI image layout (as a tar) or a `docker save` tarball.
    /// <paramref name="reference"/> names the image when the archive does not, or renames a single one.</summary>
    public async Task<ImageDetails> ImportAsync(Stream archive, string? reference = null, IProgress<ImageProgress>? progress = null,
                                                CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        var content = new StreamContent(archive, 1 << 20);
        content.Headers.ContentType = Tar;
        var path = "v2/images/import" + (reference is { Length: > 0 } r ? "?reference=" + Q(r) : "");
        return await ProgressAsync(path, content, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Writes the image as an OCI image layout tar (blobs exactly as stored: digests kept).</summary>
    public async Task ExportAsync(string reference, Stream destination, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        using var response = await _connection.SendStreamingAsync(HttpMethod.Get, "v2/images/export?reference=" + Q(reference), ct)
            .ConfigureAwait(false);
        await CopyAsync(response, destination, ct).ConfigureAwait(false);
    }

    public async Task TagAsync(string source, string target, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(target);
        await _connection.SendAsync(HttpMethod.Post, $"v2/images/tag?source={Q(source)}&target={Q(target)}", null, ct).ConfigureAwait(false);
    }

    /// <summary>Removes a reference (the image goes when its last reference does). An image a
    /// container uses is refused (HCS_E_INVALID_STATE) unless <paramref name="force"/>: its layers
    /// then stay until the container is deleted.</summary>
    public async Task RemoveAsync(string reference, bool force = false, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        await _connection.SendAsync(HttpMethod.Delete, "v2/images?reference=" + Q(reference) + (force ? "&force=true" : ""), null, ct)
            .ConfigureAwait(false);
    }

    /// <summary>Removes untagged images, then every layer and blob nothing refers to.</summary>
    public async Task<PruneResponse> PruneAsync(CancellationToken ct = default)
    {
        var body = await _connection.SendAsync(HttpMethod.Post, "v2/images/prune", null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, b => ImageJson.Read<PruneResponse>(b.Span), ct);
    }

    // ---- layers ----

    public async Task<IReadOnlyList<LayerSummary>> ListLayersAsync(CancellationToken ct = default)
    {
        var body = await _connection.SendAsync(HttpMethod.Get, "v2/layers", null, ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, b => ImageJson.Read<List<LayerSummary>>(b.Span), ct);
    }

    /// <summary>Imports one layer tar (plain, gzip or zstd) on top of <paramref name="parentChainId"/>.</summary>
    public async Task<LayerSummary> ImportLayerAsync(Stream layer, string? parentChainId = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var content = new StreamContent(layer, 1 << 20);
        content.Headers.ContentType = Tar;
        using var response = await _connection.SendStreamingAsync(HttpMethod.Post,
            "v2/layers" + (parentChainId is { Length: > 0 } p ? "?parent=" + Q(p) : ""), ct, content).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        return Responses.Read(_connection, body, b => ImageJson.Read<LayerSummary>(b.Span), ct);
    }

    /// <summary>Writes a stored layer as an uncompressed OCI layer tar (whiteouts as .wh. files).</summary>
    public async Task ExportLayerAsync(string chainId, Stream destination, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(chainId);
        using var response = await _connection.SendStreamingAsync(HttpMethod.Get, $"v2/layers/{Q(chainId)}/export", ct).ConfigureAwait(false);
        await CopyAsync(response, destination, ct).ConfigureAwait(false);
    }

    // ---- plumbing ----

    private async Task<ImageDetails> ProgressAsync(string path, HttpContent content, IProgress<ImageProgress>? progress, CancellationToken ct)
    {
        using var response = await _connection.SendStreamingAsync(HttpMethod.Post, path, ct, content).ConfigureAwait(false);
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await foreach (var line in Ndjson.ReadAsync(_connection, stream, b => ImageJson.Read<ImageProgress>(b.Span), ct).ConfigureAwait(false))
        {
            if (line.Status == ImageProgressStatus.Error && line.Error is { } e)
            {
                var known = HcsError.ByName(e.Error);
                throw new HcsException(known ?? new HcsError(e.Error, 0x80004005, 500), e.Message, e.Path, e.Errors);
            }
            progress?.Report(line);
            if (line.Status == ImageProgressStatus.Complete && line.Image is { } image) return image;
        }
        throw _connection.ConnectionLost(new IOException("the progress stream ended before the image was complete"));
    }

    private async Task CopyAsync(HttpResponseMessage response, Stream destination, CancellationToken ct)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await stream.CopyToAsync(destination, 1 << 20, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (_connection.Translate(e, ct) is { } hcs)
        {
            throw hcs;
        }
    }
}
