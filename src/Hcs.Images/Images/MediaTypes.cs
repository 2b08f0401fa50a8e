namespace Hcs.Images.Images;

// Media types of the OCI image spec (v1.1) and of Docker's image manifest v2 schema 2, which
// registries still serve for most images. The two families mean the same things; the code treats
// each pair alike and keeps whichever a blob was stored with, so digests never change.

public static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>The Accept header of a manifest request: every kind this client can use.</summary>
    public static readonly IReadOnlyList<string> AcceptedManifests = [OciIndex, OciManifest, DockerManifestList, DockerManifest];

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsDocker(string? mediaType) => mediaType?.StartsWith("application/vnd.docker.", StringComparison.Ordinal) == true;

    /// <summary>A layer type whose blob is a tar (plain, gzip or zstd); the layer store sniffs which.</summary>
    public static bool IsLayer(string? mediaType) => mediaType is OciLayer or OciLayerGzip or OciLayerZstd
        or OciLayerNonDistributable or OciLayerNonDistributableGzip or DockerLayer or DockerLayerGzip or DockerForeignLayer;

    /// <summary>The OCI layer type of a blob from its first bytes (docker save stores plain tars,
    /// commit writes gzip).</summary>
    public static string LayerTypeFor(ReadOnlySpan<byte> head, bool docker)
    {
        if (head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b) return docker ? DockerLayerGzip : OciLayerGzip;
        if (head.Length >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) return OciLayerZstd;
        return docker ? DockerLayer : OciLayer;
    }
}

/// <summary>Annotation keys this store reads and writes.</summary>
public static class Annotations
{
    /// <summary>OCI layouts: the image's name inside the layout, usually just a tag ("latest").</summary>
    public const string RefName = "org.opencontainers.image.ref.name";
    /// <summary>containerd's annotation for the full image name in an exported layout.</summary>
    public const string ContainerdImageName = "io.containerd.image.name";
}
