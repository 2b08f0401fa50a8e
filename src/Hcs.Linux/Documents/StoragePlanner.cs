using Hcs.Schema;
using Hcs.Schema.Hcs;

namespace Hcs.Linux.Documents;

/// <summary>
/// How a container's root comes to be. Either one directory used as it is
/// (<see cref="Directory"/>, writable), or an overlayfs mount: <see cref="LowerDirs"/> in the
/// order the <c>lowerdir=</c> option wants them (top-most first), with a writable
/// <see cref="Upper"/>/<see cref="Work"/> pair, or none (a read-only stack of two or more layers).
/// </summary>
public sealed record RootfsPlan(string? Directory, IReadOnlyList<string> LowerDirs, string? Upper, string? Work)
{
    public bool IsOverlay => Directory is null;

    /// <summary>The data argument for mount("overlay", target, "overlay", 0, data).</summary>
    public string OverlayOptions()
    {
        if (!IsOverlay) throw new InvalidOperationException("not an overlay plan: the root is " + Directory);
        var options = "lowerdir=" + string.Join(':', LowerDirs);
        if (Upper is not null) options += $",upperdir={Upper},workdir={Work}";
        return options;
    }
}

/// <summary>
/// Storage.Layers (lowest first) + Storage.Path (the scratch) → a <see cref="RootfsPlan"/>.
/// Pure except for existence checks: layers must be existing directories, the scratch's parent
/// must exist (the daemon creates the scratch, and upper/ and work/ in it).
/// </summary>
public static class StoragePlanner
{
    /// <summary>overlayfs refuses more lower layers than this (OVL_MAX_STACK).</summary>
    public const int MaxLayers = 500;

    /// <summary>mount(2) copies at most one page of option data; a longer lowerdir= list is cut.</summary>
    private const int MaxOptionBytes = 4095;

    public static RootfsPlan Plan(Storage storage, string path, DocumentErrors errors)
    {
        ArgumentNullException.ThrowIfNull(storage);
        if (storage.Image is not null)
            errors.Add($"{path}.Image", "image references need the image store (not available yet)");

        var layers = new List<string>();
        if (storage.Layers is not { Count: > 0 })
        {
            if (storage.Image is null)
                errors.Add($"{path}.Layers", "at least one layer is required (a directory that becomes the root)");
        }
        else
        {
            if (storage.Layers.Count > MaxLayers)
                errors.Add($"{path}.Layers", $"overlayfs stacks at most {MaxLayers} layers, not {storage.Layers.Count}");
            for (int i = 0; i < storage.Layers.Count; i++)
            {
                var at = $"{path}.Layers[{i}]";
                var layer = storage.Layers[i];
                if (layer is null)
                {
                    errors.Add(at, "must be an object, not null");
                    continue;
                }
                if (layer.PathType is not (null or "AbsolutePath"))
                    errors.Add($"{at}.PathType", $"only \"AbsolutePath\" is supported on Linux, not \"{layer.PathType}\"");
                if (CheckPath(layer.Path, $"{at}.Path", errors) && !System.IO.Directory.Exists(layer.Path))
                    errors.Add($"{at}.Path", $"\"{layer.Path}\" is not an existing directory");
                layers.Add(layer.Path ?? "");
            }
        }

        string? scratch = null;
        if (storage.Path is { } p)
        {
            if (CheckPath(p, $"{path}.Path", errors))
            {
                scratch = Path.TrimEndingDirectorySeparator(p);
                var parent = Path.GetDirectoryName(scratch);
                if (File.Exists(scratch))
                    errors.Add($"{path}.Path", $"\"{p}\" is a file; the scratch must be a directory");
                else if (parent is not null && !System.IO.Directory.Exists(parent))
                    errors.Add($"{path}.Path", $"the parent directory \"{parent}\" does not exist");
            }
        }

        if (layers.Count == 1 && scratch is null)
            return new RootfsPlan(layers[0], [], null, null);

        // lowerdir= lists the top-most layer first; the document lists the lowest first.
        var lower = Enumerable.Reverse(layers).ToList();
        var plan = scratch is null
            ? new RootfsPlan(null, lower, null, null)
            : new RootfsPlan(null, lower, Path.Combine(scratch, "upper"), Path.Combine(scratch, "work"));
        if (layers.Count > 0 && plan.OverlayOptions().Length > MaxOptionBytes)
            errors.Add($"{path}.Layers", $"the overlay mount options would be {plan.OverlayOptions().Length} bytes; the kernel takes at most {MaxOptionBytes} (use shorter layer paths or fewer layers)");
        return plan;
    }

    /// <summary>Absolute, and free of the characters that separate overlayfs options
    /// (',' between options, ':' between lower layers).</summary>
    private static bool CheckPath(string? value, string path, DocumentErrors errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            errors.Add(path, "required");
            return false;
        }
        if (value[0] != '/')
        {
            errors.Add(path, $"must be an absolute path, not \"{value}\"");
            return false;
        }
        if (value.IndexOfAny([',', ':', '\0']) >= 0)
        {
            errors.Add(path, $"must not contain ',' or ':' (they separate overlayfs mount options): \"{value}\"");
            return false;
        }
        return true;
    }
}
