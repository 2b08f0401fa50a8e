using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Hcs.Images.Images;

namespace Hcs.Tests.Integration.Images;

// Images made by the tests themselves, byte by byte: layer tars (TarWriter, GZipStream), config,
// manifest and index JSON, digests computed here, written as OCI image layouts (directory or
// tar) or `docker save` tarballs. Nothing comes from the network.

/// <summary>One layer: its blob (gzip or plain tar), the blob's digest and the DiffID.</summary>
public sealed record TestLayer(byte[] Blob, string Digest, string DiffId, string MediaType)
{
    public Descriptor Descriptor => new() { MediaType = MediaType, Digest = Digest, Size = Blob.Length };
}

/// <summary>One image: config and manifest bytes with their digests, and its layers.</summary>
public sealed record TestImage(byte[] Config, string ConfigDigest, byte[] Manifest, string ManifestDigest, string ManifestMediaType,
    IReadOnlyList<TestLayer> Layers, string Architecture)
{
    public Descriptor Descriptor => new()
    {
        MediaType = ManifestMediaType, Digest = ManifestDigest, Size = Manifest.Length,
        Platform = new Platform { Os = "linux", Architecture = Architecture },
    };

    public IEnumerable<(string Digest, byte[] Bytes)> Blobs() =>
        new[] { (ManifestDigest, Manifest), (ConfigDigest, Config) }.Concat(Layers.Select(l => (l.Digest, l.Blob)));
}

/// <summary>An image index over several images.</summary>
public sealed record TestIndex(byte[] Bytes, string Digest, IReadOnlyList<TestImage> Images)
{
    public Descriptor Descriptor => new() { MediaType = MediaTypes.OciIndex, Digest = Digest, Size = Bytes.Length };
}

public static class TestImages
{
    /// <summary>A file entry: content; a directory: Content null; a symlink: Link set.</summary>
    public sealed record Entry(string Path, byte[]? Content = null, string? Link = null, int Mode = 0);

    public static Entry File(string path, string content) => new(path, Encoding.UTF8.GetBytes(content));
    public static Entry File(string path, byte[] content) => new(path, content);
    public static Entry Dir(string path) => new(path);
    public static Entry Symlink(string path, string target) => new(path, Link: target);

    /// <summary>Random (incompressible) bytes, the same for the same seed.</summary>
    public static byte[] Noise(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Tar(params Entry[] entries)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var e in entries)
            {
                TarEntry entry;
                if (e.Link is not null) entry = new PaxTarEntry(TarEntryType.SymbolicLink, e.Path) { LinkName = e.Link };
                else if (e.Content is null) entry = new PaxTarEntry(TarEntryType.Directory, e.Path.TrimEnd('/') + "/");
                else entry = new PaxTarEntry(TarEntryType.RegularFile, e.Path) { DataStream = new MemoryStream(e.Content) };
                entry.Mode = e.Mode != 0 ? (UnixFileMode)e.Mode
                    : e.Content is null && e.Link is null ? (UnixFileMode)0x1ed /* 0755 */ : (UnixFileMode)0x1a4 /* 0644 */;
                entry.ModificationTime = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
                writer.WriteEntry(entry);
            }
        }
        return tar.ToArray();
    }

    public static TestLayer Layer(params Entry[] entries) => LayerFromTar(Tar(entries), gzip: true);

    public static TestLayer LayerFromTar(byte[] tar, bool gzip, bool docker = false)
    {
        var diffId = Digest.Of(tar);
        if (!gzip) return new TestLayer(tar, diffId, diffId, docker ? MediaTypes.DockerLayer : MediaTypes.OciLayer);
        using var compressed = new MemoryStream();
        using (var gz = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(tar);
        var blob = compressed.ToArray();
        return new TestLayer(blob, Digest.Of(blob), diffId, docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip);
    }

    public static TestImage Image(IReadOnlyList<TestLayer> layers, string architecture = "amd64", bool docker = false,
        string[]? cmd = null, string[]? env = null, string? workingDir = null, string? created = "2024-01-02T03:04:05Z")
    {
        var config = new ImageConfig
        {
            Architecture = architecture,
            Os = "linux",
            Created = created is null ? null : DateTimeOffset.Parse(created, System.Globalization.CultureInfo.InvariantCulture),
            Config = new ContainerConfig { Cmd = [.. cmd ?? ["/bin/sh"]], Env = [.. env ?? ["PATH=/usr/bin:/bin"]], WorkingDir = workingDir },
            RootFs = new RootFs { DiffIds = [.. layers.Select(l => l.DiffId)] },
            History = [.. layers.Select((_, i) => new HistoryEntry { CreatedBy = $"test layer {i}" })],
        };
        var configBytes = OciJson.Write(config);
        var manifest = new ImageManifest
        {
            SchemaVersion = 2,
            MediaType = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig, Digest = Digest.Of(configBytes), Size = configBytes.Length },
            Layers = [.. layers.Select(l => l.Descriptor)],
        };
        var manifestBytes = OciJson.Write(manifest);
        return new TestImage(configBytes, Digest.Of(configBytes), manifestBytes, Digest.Of(manifestBytes), manifest.MediaType!, layers, architecture);
    }

    public static TestIndex Index(params TestImage[] images)
    {
        var index = new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex, Manifests = [.. images.Select(i => i.Descriptor)] };
        var bytes = OciJson.Write(index);
        return new TestIndex(bytes, Digest.Of(bytes), images);
    }

    /// <summary>Writes an OCI image layout: each (tag, image or index) an entry of index.json
    /// with org.opencontainers.image.ref.name = tag.</summary>
    public static void WriteLayout(string dir, params (string Tag, object ImageOrIndex)[] entries)
    {
        var blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        System.IO.File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        var index = new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex };
        void Blob(string digest, byte[] bytes) => System.IO.File.WriteAllBytes(Path.Combine(blobs, digest[7..]), bytes);
        foreach (var (tag, thing) in entries)
        {
            Descriptor descriptor;
            if (thing is TestIndex ix)
            {
                Blob(ix.Digest, ix.Bytes);
                foreach (var image in ix.Images) foreach (var (d, b) in image.Blobs()) Blob(d, b);
                descriptor = ix.Descriptor;
            }
            else
            {
                var image = (TestImage)thing;
                foreach (var (d, b) in image.Blobs()) Blob(d, b);
                descriptor = image.Descriptor;
                descriptor.Platform = null;
            }
            descriptor.Annotations = new() { [Annotations.RefName] = tag };
            index.Manifests.Add(descriptor);
        }
        System.IO.File.WriteAllBytes(Path.Combine(dir, "index.json"), OciJson.Write(index));
    }

    /// <summary>A tar of a directory's files (relative names, sorted).</summary>
    public static void TarDirectory(string dir, string tarPath)
    {
        using var file = System.IO.File.Create(tarPath);
        using var writer = new TarWriter(file, TarEntryFormat.Pax);
        foreach (var path in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            writer.WriteEntry(path, Path.GetRelativePath(dir, path));
    }

    /// <summary>A `docker save` tarball (docker before 25: manifest.json, &lt;config hex&gt;.json,
    /// &lt;id&gt;/layer.tar uncompressed, repositories).</summary>
    public static byte[] DockerSave(TestImage image, IReadOnlyList<byte[]> layerTars, params string[] repoTags)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            void Add(string name, byte[] data)
            {
                var e = new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0x1a4 };
                writer.WriteEntry(e);
            }
            var configName = image.ConfigDigest[7..] + ".json";
            var layerNames = new List<string>();
            for (int i = 0; i < layerTars.Count; i++)
            {
                var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("layer" + i)));
                writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, id + "/") { Mode = (UnixFileMode)0x1ed });
                Add(id + "/VERSION", "1.0"u8.ToArray());
                Add(id + "/json", Encoding.UTF8.GetBytes($$"""{"id":"{{id}}"}"""));
                Add(id + "/layer.tar", layerTars[i]);
                layerNames.Add(id + "/layer.tar");
            }
            Add(configName, image.Config);
            var tags = string.Join(",", repoTags.Select(t => $"\"{t}\""));
            var layers = string.Join(",", layerNames.Select(l => $"\"{l}\""));
            Add("manifest.json", Encoding.UTF8.GetBytes($$"""[{"Config":"{{configName}}","RepoTags":[{{tags}}],"Layers":[{{layers}}]}]"""));
            Add("repositories", "{}"u8.ToArray());
        }
        return tar.ToArray();
    }
}
