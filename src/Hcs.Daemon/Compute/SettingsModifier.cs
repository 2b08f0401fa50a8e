using System.Text.Json;
using Hcs.Linux.Documents;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Oci;

namespace Hcs.Daemon.Compute;

/// <summary>
/// Reads a ModifySettingRequest against a system's document: the changed document is rebuilt
/// into a spec by the same ContainerSpecBuilder as at create (one set of rules and limits), and
/// the change is committed to the system only after the backend applied it.
/// </summary>
public static class SettingsModifier
{
    public abstract record Change(Action Commit);
    public sealed record ResourceChange(Resources Resources, Action Commit) : Change(Commit);
    public sealed record MountChange(bool Add, MappedDirectory Directory, Action Commit) : Change(Commit);

    public const string MemoryPath = "Container/Memory/SizeInMB";
    public const string ProcessorPath = "Container/Processor";
    public const string MappedDirectoriesPath = "Container/MappedDirectories";

    public static Change Apply(SystemEntry s, ModifySettingRequest r)
    {
        var errors = new DocumentErrors();
        var reader = new HcsReader(new JsonMapper(errors), strict: true);
        var requestType = r.RequestType ?? "Update";
        if (requestType is not ("Add" or "Remove" or "Update"))
            errors.Add("$.RequestType", "must be \"Add\", \"Remove\" or \"Update\"");
        if (r.Settings is not { } settings || settings.ValueKind == JsonValueKind.Null)
        {
            errors.Add("$.Settings", "required");
            errors.ThrowIfAny("request body");
            throw new InvalidOperationException();
        }
        var doc = Clone(s.Document);
        var container = doc.Container ??= new Container();
        Change change;
        switch (r.ResourcePath)
        {
            case MemoryPath:
                RequireType(requestType, "Update", errors);
                var mb = new JsonMapper(errors).UInt64(settings, "$.Settings");
                errors.ThrowIfAny("request body");
                container.Memory = new ContainerMemory { SizeInMB = mb ?? 0 };
                change = Resources(s, doc, errors, "$.Document.Container.Memory.SizeInMB");
                break;
            case ProcessorPath:
                RequireType(requestType, "Update", errors);
                var processor = reader.Processor(settings, "$.Settings");
                errors.ThrowIfAny("request body");
                container.Processor = processor;
                change = Resources(s, doc, errors, "$.Document.Container.Processor");
                break;
            case MappedDirectoriesPath when requestType == "Add":
                var added = reader.MappedDirectory(settings, "$.Settings");
                errors.ThrowIfAny("request body");
                var list = container.MappedDirectories ??= [];
                if (list.Exists(d => d.ContainerPath == added!.ContainerPath))
                    errors.Add("$.Settings.ContainerPath", $"\"{added!.ContainerPath}\" is already mapped");
                list.Add(added!);
                var spec = Rebuild(s, doc, errors, $"$.Document.Container.MappedDirectories[{list.Count - 1}]");
                change = new MountChange(true, added!, () => { s.Document = doc; s.Spec = spec; });
                break;
            case MappedDirectoriesPath when requestType == "Remove":
                var removed = reader.MappedDirectory(settings, "$.Settings");
                errors.ThrowIfAny("request body");
                var existing = container.MappedDirectories?.FindIndex(d => d.ContainerPath == removed!.ContainerPath) ?? -1;
                if (existing < 0)
                {
                    errors.Add("$.Settings.ContainerPath", $"\"{removed!.ContainerPath}\" is not a mapped directory of this system");
                    errors.ThrowIfAny("request body");
                }
                container.MappedDirectories!.RemoveAt(existing);
                var after = Rebuild(s, doc, errors, null);
                change = new MountChange(false, removed!, () => { s.Document = doc; s.Spec = after; });
                break;
            case MappedDirectoriesPath:
                errors.Add("$.RequestType", "mapped directories are added or removed, not updated");
                errors.ThrowIfAny("request body");
                throw new InvalidOperationException();
            default:
                errors.Add("$.ResourcePath", $"unsupported: one of \"{MemoryPath}\", \"{ProcessorPath}\", \"{MappedDirectoriesPath}\"");
                errors.ThrowIfAny("request body");
                throw new InvalidOperationException();
        }
        return change;
    }

    private static void RequireType(string actual, string expected, DocumentErrors errors)
    {
        if (actual != expected) errors.Add("$.RequestType", $"this resource takes \"{expected}\"");
    }

    /// <summary>changed: the document path whose value is the request's Settings (the memory
    /// number itself, the processor object).</summary>
    private static ResourceChange Resources(SystemEntry s, ComputeSystem doc, DocumentErrors errors, string changed)
    {
        var spec = Rebuild(s, doc, errors, changed);
        var built = spec.Linux?.Resources ?? new Resources();
        var update = new Resources { Memory = built.Memory, Cpu = built.Cpu };
        return new ResourceChange(update, () => { s.Document = doc; s.Spec = spec; });
    }

    /// <summary>Builds the changed document; errors about the changed part (at changedPrefix or
    /// below it) are reported at $.Settings (the caller's input), others where they are.</summary>
    private static Spec Rebuild(SystemEntry s, ComputeSystem doc, DocumentErrors errors, string? changedPrefix)
    {
        errors.ThrowIfAny("request body");
        try
        {
            return ContainerSpecBuilder.Build(s.Id, doc, new ContainerLayout(s.Bundle, s.Spec.Root?.Path ?? Path.Combine(s.Bundle, "rootfs")));
        }
        catch (DocumentException e)
        {
            var mapped = e.Errors.Select(x => changedPrefix is not null && x.Path.StartsWith(changedPrefix, StringComparison.Ordinal)
                ? new DocumentError("$.Settings" + x.Path[changedPrefix.Length..], x.Message) : x).ToList();
            throw HcsException.From(new DocumentException("request body", mapped));
        }
    }

    private static ComputeSystem Clone(ComputeSystem doc) =>
        HcsReader.ReadComputeSystem(HcsWriter.ToUtf8(w => HcsWriter.Write(w, doc)), strict: false);
}
