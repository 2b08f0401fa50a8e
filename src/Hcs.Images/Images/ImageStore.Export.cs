using System.Formats.Tar;

namespace Hcs.Images.Images;

// Exporting an image as an OCI image layout, straight from the stored blobs: manifest, config
// and layers keep their bytes, so the manifest digest and the image ID are the ones the image
// was pulled or imported with. Only index.json and oci-layout are written anew.

public sealed partial class ImageStore
{
    /// <summary>Writes the image as an OCI image layout into a directory (created if needed; an
    /// existing layout there gets the image added, replacing an entry of the same tag).</summary>
    public async Task ExportOciLayoutAsync(string reference, string directory, CancellationToken ct = default)
    {
        var image = Inspect(reference);
        var blobs = Path.Combine(directory, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var digest in BlobsFor(image))
        {
            var target = Path.Combine(blobs, Digest.Hex(digest));
            if (File.Exists(target) && new FileInfo(target).Length == Content.SizeOf(digest)) continue;
            var tmp = target + ".tmp";
            await using (var source = Content.OpenRead(digest))
            await using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 0))
                await source.CopyToAsync(file, ContentStore.CopyBufferSize, ct).ConfigureAwait(false);
            File.Move(tmp, target, overwrite: true);
        }

        var indexPath = Path.Combine(directory, "index.json");
        var index = File.Exists(indexPath) ? OciJson.Read<ImageIndex>(File.ReadAllBytes(indexPath), indexPath) : NewLayoutIndex();
        var entry = LayoutEntry(image);
        var tag = entry.Annotation(Annotations.RefName);
        index.Manifests.RemoveAll(d => tag is not null && d.Annotation(Annotations.RefName) == tag);
        index.Manifests.Add(entry);
        await File.WriteAllBytesAsync(Path.Combine(directory, "oci-layout"), OciJson.Write(new OciLayoutFile()), ct).ConfigureAwait(false);
        await File.WriteAllBytesAsync(indexPath + ".tmp", OciJson.Write(index), ct).ConfigureAwait(false);
        File.Move(indexPath + ".tmp", indexPath, overwrite: true);
    }

    /// <summary>Writes the image as a tar of an OCI image layout (deterministic: fixed owners,
    /// modes and times, blobs in manifest order).</summary>
    public async Task ExportOciLayoutAsync(string reference, Stream output, CancellationToken ct = default)
    {
        var image = Inspect(reference);
        var index = NewLayoutIndex();
        index.Manifests.Add(LayoutEntry(image));
        await using var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true);
        await WriteEntryAsync(writer, "oci-layout", OciJson.Write(new OciLayoutFile()), ct).ConfigureAwait(false);
        await WriteEntryAsync(writer, "index.json", OciJson.Write(index), ct).ConfigureAwait(false);
        await writer.WriteEntryAsync(Entry(TarEntryType.Directory, "blobs/"), ct).ConfigureAwait(false);
        await writer.WriteEntryAsync(Entry(TarEntryType.Directory, "blobs/sha256/"), ct).ConfigureAwait(false);
        foreach (var digest in BlobsFor(image))
        {
            await using var blob = Content.OpenRead(digest);
            var entry = Entry(TarEntryType.RegularFile, "blobs/sha256/" + Digest.Hex(digest));
            entry.DataStream = blob;
            await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
        }
    }

    private static ImageIndex NewLayoutIndex() => new() { SchemaVersion = 2, MediaType = MediaTypes.OciIndex };

    /// <summary>index.json's entry: the manifest, tagged as OCI layouts name images (the tag in
    /// ref.name) and as containerd does (the full name).</summary>
    private Descriptor LayoutEntry(ImageInfo image)
    {
        var annotations = new Dictionary<string, string>();
        if (ImageReference.TryParse(image.Reference, out var name, out _))
        {
            annotations[Annotations.ContainerdImageName] = name.ToString();
            if (name.Tag is not null) annotations[Annotations.RefName] = name.Tag;
        }
        return new Descriptor
        {
            MediaType = image.ManifestMediaType,
            Digest = image.ManifestDigest,
            Size = Content.SizeOf(image.ManifestDigest),
            Annotations = annotations.Count > 0 ? annotations : null,
            Platform = string.IsNullOrEmpty(image.Config.Os) ? null
                : new Platform { Os = image.Config.Os, Architecture = image.Config.Architecture, Variant = image.Config.Variant },
        };
    }

    /// <summary>The image's blobs, manifest first, each once.</summary>
    private static IEnumerable<string> BlobsFor(ImageInfo image) =>
        new[] { image.ManifestDigest, image.ConfigDigest }.Concat(image.LayerBlobs.Select(l => l.Digest)).Distinct();

    private static UstarTarEntry Entry(TarEntryType type, string name) => new(type, name)
    {
        Mode = type == TarEntryType.Directory
            ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute
            : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        ModificationTime = DateTimeOffset.UnixEpoch,
        Uid = 0,
        Gid = 0,
    };

    private static async Task WriteEntryAsync(TarWriter writer, string name, byte[] data, CancellationToken ct)
    {
        var entry = Entry(TarEntryType.RegularFile, name);
        entry.DataStream = new MemoryStream(data, writable: false);
        await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
    }
}
