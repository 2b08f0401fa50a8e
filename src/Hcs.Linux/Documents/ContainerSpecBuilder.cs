using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;
using OciSpec = Hcs.Schema.Oci.Spec;

namespace Hcs.Linux.Documents;

/// <summary>Where the daemon keeps one container: the bundle (config.json) and the directory an
/// overlay root is mounted on.</summary>
public sealed record ContainerLayout(string BundleDir, string RootfsPath);

/// <summary>The spec to run, and how its root comes to be: <see cref="Rootfs"/> is null when
/// the root is the OciSpecification's own root.path; otherwise an overlay plan is to be mounted
/// on <see cref="ContainerLayout.RootfsPath"/> before the container is created, and a directory
/// plan needs nothing (the spec's root.path is that directory).</summary>
public sealed record ContainerPlan(OciSpec Spec, RootfsPlan? Rootfs);

/// <summary>
/// An HCS ComputeSystem document (Container) → the OCI spec the engine runs, with every semantic
/// check the strict reader cannot make, each error at its JSON path under "$.Document", all
/// reported at once. No host side effects; the only host reads are the documented existence
/// checks (layers, scratch parent, mapped host paths, a network namespace path) and the OCI
/// spec's validation. The contract is docs/design/0003-hcsd-api.md ("The Container document
/// on Linux"); the default spec is docs/design/0005-default-container.md.
/// </summary>
public static class ContainerSpecBuilder
{
    /// <summary>Annotation naming the init hcs supplies; value <see cref="PauseInit"/>: the
    /// monitor runs the host's pause binary as the init.</summary>
    public const string InitAnnotation = "io.hcs.init";
    public const string PauseInit = "pause";

    public const long CpuPeriod = 100_000;
    public const ulong MinMemoryMB = 6;

    private const string Source = "document";
    private const string Doc = "$.Document";
    private const string C = "$.Document.Container";
    private const string Oci = C + ".OciSpecification";

    /// <summary>Validates <paramref name="doc"/> and returns the OCI spec the engine runs.</summary>
    /// <exception cref="DocumentException">Every problem in the document, each with its path.</exception>
    /// <exception cref="HcsException">HCS_E_SERVICE_NOT_AVAILABLE: Hypervisor isolation or a
    /// hosting system, which this host cannot provide yet.</exception>
    public static OciSpec Build(string id, ComputeSystem doc, ContainerLayout layout) => Plan(id, doc, layout).Spec;

    /// <summary>As <see cref="Build"/>, also returning the root filesystem plan.</summary>
    public static ContainerPlan Plan(string id, ComputeSystem doc, ContainerLayout layout)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(doc);
        ArgumentNullException.ThrowIfNull(layout);

        var errors = new DocumentErrors();
        if (doc.SchemaVersion is { Major: not 2 } version)
            errors.Add($"{Doc}.SchemaVersion.Major", $"only schema version 2 is supported, not {version.Major}");
        if (doc.Container is not { } c)
        {
            errors.Add($"{Doc}.Container", "required (the only kind of compute system hcs runs)");
            throw new DocumentException(Source, errors.All);
        }

        // Nothing else in the document matters if this host cannot run it at all.
        if (c.IsolationType == "Hypervisor")
            throw new HcsException(HcsError.ServiceNotAvailable,
                "Hypervisor isolation is not available yet (the utility-VM backend does not exist)", $"{C}.IsolationType");
        if (!string.IsNullOrEmpty(doc.HostingSystemId))
            throw new HcsException(HcsError.ServiceNotAvailable,
                "hosting systems (utility VMs) are not available yet", $"{Doc}.HostingSystemId");
        if (c.IsolationType is not (null or "Process"))
            errors.Add($"{C}.IsolationType", $"must be \"Process\" or \"Hypervisor\", not \"{c.IsolationType}\"");

        bool fromOci = c.OciSpecification is not null;
        var spec = fromOci ? OverDefaults(Clone(c.OciSpecification!), id) : DefaultSpec.Create(id);
        spec.Linux ??= new OciLinux();
        spec.Annotations ??= [];

        var rootfs = Root(c, spec, layout, errors);
        Init(spec, fromOci, errors);
        Hostname(id, c.GuestOs, spec, errors);
        MappedDirectories(c.MappedDirectories, spec, errors);
        Memory(c.Memory, spec, errors);
        Processor(c.Processor, spec, errors);
        Networking(c.Networking, spec, errors);
        spec.Linux.CgroupsPath = "/hcs/" + id;

        if (fromOci) ValidateOci(spec, errors, compileSeccomp: c.OciSpecification!.Linux?.Seccomp is not null);
        errors.ThrowIfAny(Source);
        return new ContainerPlan(spec, rootfs);
    }

    // ---- root ---------------------------------------------------------------------------

    private static RootfsPlan? Root(Container c, OciSpec spec, ContainerLayout layout, DocumentErrors errors)
    {
        spec.Root ??= new Root();
        if (c.Storage is { } storage)
        {
            var plan = StoragePlanner.Plan(storage, $"{C}.Storage", errors);
            spec.Root.Path = plan.IsOverlay ? layout.RootfsPath : plan.Directory;
            // Layers without a scratch stack read-only; the spec says so, so nothing tries to write.
            if (plan.IsOverlay && plan.Upper is null) spec.Root.Readonly = true;
            return plan;
        }
        var own = c.OciSpecification?.Root?.Path;
        if (own is { Length: > 0 } && own[0] == '/' && Directory.Exists(own))
            return null;
        errors.Add($"{C}.Storage", own is { Length: > 0 }
            ? $"required: OciSpecification.root.path \"{own}\" is not an absolute path to an existing directory"
            : "required: the layers the container's root is made of");
        spec.Root.Path = layout.RootfsPath; // a placeholder, so the OCI validation does not repeat the error
        return null;
    }

    // ---- the init -----------------------------------------------------------------------

    private static void Init(OciSpec spec, bool fromOci, DocumentErrors errors)
    {
        if (fromOci && spec.Annotations!.ContainsKey(InitAnnotation))
            errors.Add(JsonMapper.Child($"{Oci}.annotations", InitAnnotation), "reserved: hcs sets it when it supplies the init");
        if (spec.Process is not null) return;
        spec.Process = DefaultSpec.PauseProcess();
        spec.Annotations![InitAnnotation] = PauseInit;
    }

    // ---- hostname -------------------------------------------------------------------------

    private static void Hostname(string id, GuestOs? guest, OciSpec spec, DocumentErrors errors)
    {
        var namespaces = spec.Linux!.Namespaces ??= [];
        var uts = namespaces.Find(n => n.Type == "uts");
        if (guest?.HostName is { Length: > 0 } name)
        {
            var at = $"{C}.GuestOs.HostName";
            if (!IsValidHostname(name))
                errors.Add(at, $"not a valid hostname: \"{name}\" (letters, digits and '-' in dot-separated labels of 1 to 63, at most 64 in all, no label starting or ending with '-')");
            else if (uts?.Path is { Length: > 0 } joined)
                errors.Add(at, $"the OciSpecification joins the uts namespace at {joined}; setting the hostname would rename that one");
            else
            {
                if (uts is null) namespaces.Add(new Namespace { Type = "uts" });
                spec.Hostname = name;
            }
        }
        else if (string.IsNullOrEmpty(spec.Hostname) && uts is { Path: null or "" })
        {
            spec.Hostname = DefaultHostname(id);
        }
    }

    /// <summary>RFC 1123 labels (letters, digits, '-', not at either end, 1..63), dot-separated,
    /// at most 64 characters (HOST_NAME_MAX).</summary>
    public static bool IsValidHostname(string name)
    {
        if (name.Length is 0 or > 64) return false;
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-') return false;
            foreach (var ch in label)
                if (!char.IsAsciiLetterOrDigit(ch) && ch != '-') return false;
        }
        return true;
    }

    /// <summary>The first 12 characters of the id, as docker names a container's host; characters
    /// a hostname cannot have become '-'.</summary>
    public static string DefaultHostname(string id)
    {
        var chars = id[..Math.Min(12, id.Length)].Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '-').ToArray();
        var name = new string(chars).Trim('-');
        return name.Length > 0 ? name : "container";
    }

    // ---- mapped directories -------------------------------------------------------------------

    private static void MappedDirectories(List<MappedDirectory>? maps, OciSpec spec, DocumentErrors errors)
    {
        if (maps is null) return;
        var mounts = spec.Mounts ??= [];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < maps.Count; i++)
        {
            var at = $"{C}.MappedDirectories[{i}]";
            if (maps[i] is not { } m)
            {
                errors.Add(at, "must be an object, not null");
                continue;
            }
            bool ok = true;
            if (m.HostPathType is not (null or "AbsolutePath"))
            {
                errors.Add($"{at}.HostPathType", $"only \"AbsolutePath\" is supported on Linux, not \"{m.HostPathType}\"");
                ok = false;
            }
            if (string.IsNullOrEmpty(m.HostPath)) { errors.Add($"{at}.HostPath", "required"); ok = false; }
            else if (m.HostPath[0] != '/') { errors.Add($"{at}.HostPath", $"must be an absolute path, not \"{m.HostPath}\""); ok = false; }
            else if (!Path.Exists(m.HostPath)) { errors.Add($"{at}.HostPath", $"\"{m.HostPath}\" does not exist"); ok = false; }

            var target = m.ContainerPath;
            if (string.IsNullOrEmpty(target)) { errors.Add($"{at}.ContainerPath", "required"); ok = false; }
            else if (target[0] != '/') { errors.Add($"{at}.ContainerPath", $"must be an absolute path, not \"{target}\""); ok = false; }
            else if (target.Split('/').Contains("..")) { errors.Add($"{at}.ContainerPath", $"must not contain \"..\": \"{target}\""); ok = false; }
            else if ((target = Normalize(target)) == "/") { errors.Add($"{at}.ContainerPath", "must not be \"/\" (the root is Storage)"); ok = false; }
            else if (seen.TryGetValue(target, out var first)) { errors.Add($"{at}.ContainerPath", $"\"{target}\" is already mapped by MappedDirectories[{first}]"); ok = false; }
            else seen[target] = i;

            if (!ok) continue;
            // rprivate: mounts made later under the host directory stay out of the container
            // (docker's default). Read-only is recursive (rro) so submounts are read-only too.
            List<string> options = m.ReadOnly ? ["rbind", "rprivate", "ro", "rro"] : ["rbind", "rprivate"];
            mounts.Add(new Mount { Destination = target!, Type = "bind", Source = m.HostPath, Options = options });
        }
    }

    /// <summary>"/a//b/./c/" → "/a/b/c" (".." is refused before this).</summary>
    private static string Normalize(string path) =>
        "/" + string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != "."));

    // ---- resources --------------------------------------------------------------------------

    private static void Memory(ContainerMemory? memory, OciSpec spec, DocumentErrors errors)
    {
        if (memory is null) return;
        const ulong MiB = 1024 * 1024;
        var at = $"{C}.Memory.SizeInMB";
        if (memory.SizeInMB < MinMemoryMB)
            errors.Add(at, $"must be at least {MinMemoryMB} (MB), not {memory.SizeInMB}");
        else if (memory.SizeInMB > long.MaxValue / MiB)
            errors.Add(at, $"{memory.SizeInMB} MB is more than the kernel can count");
        else
        {
            long bytes = (long)(memory.SizeInMB * MiB);
            var m = Resources(spec).Memory ??= new Schema.Oci.Memory();
            m.Limit = bytes;
            m.Swap = bytes; // memory+swap equal to memory: no swap beyond the limit
        }
    }

    private static void Processor(ContainerProcessor? processor, OciSpec spec, DocumentErrors errors)
    {
        if (processor is null) return;
        var at = $"{C}.Processor";
        int given = (processor.Count is null ? 0 : 1) + (processor.Maximum is null ? 0 : 1) + (processor.Weight is null ? 0 : 1);
        if (given > 1)
        {
            errors.Add(at, "Count, Maximum and Weight are mutually exclusive: give one");
            return;
        }
        int cpus = Environment.ProcessorCount;
        if (processor.Count is { } count)
        {
            if (count < 1 || count > cpus)
                errors.Add($"{at}.Count", $"must be between 1 and {cpus} (this host's CPUs), not {count}");
            else
                SetQuota(spec, count * CpuPeriod);
        }
        else if (processor.Maximum is { } maximum)
        {
            if (maximum is < 1 or > 10_000)
                errors.Add($"{at}.Maximum", $"must be between 1 and 10000 (per 10,000 of the host's CPU time), not {maximum}");
            else
                SetQuota(spec, maximum * cpus * CpuPeriod / 10_000);
        }
        else if (processor.Weight is { } weight)
        {
            if (weight is < 1 or > 10_000)
                errors.Add($"{at}.Weight", $"must be between 1 and 10000 (100 is the default share), not {weight}");
            else
                (Resources(spec).Cpu ??= new Cpu()).Shares = SharesFromWeight(weight);
        }
    }

    /// <summary>HCS weight 100 is the default share, cpu.shares 1024; the kernel accepts 2..262144.</summary>
    public static ulong SharesFromWeight(long weight) => (ulong)Math.Clamp(weight * 1024 / 100, 2, 262_144);

    private static void SetQuota(OciSpec spec, long quota)
    {
        var cpu = Resources(spec).Cpu ??= new Cpu();
        cpu.Quota = quota;
        cpu.Period = CpuPeriod;
    }

    private static Resources Resources(OciSpec spec) => spec.Linux!.Resources ??= new Resources();

    // ---- networking -------------------------------------------------------------------------

    private static void Networking(Networking? net, OciSpec spec, DocumentErrors errors)
    {
        if (net is null) return;
        var at = $"{C}.Networking";
        var namespaces = spec.Linux!.Namespaces ??= [];
        int index = namespaces.FindIndex(n => n.Type == "network");
        Namespace? wanted = null;
        switch (net.Namespace)
        {
            case null or "":
                wanted = new Namespace { Type = "network" };
                break;
            case "host":
                break;
            case var path when path[0] == '/':
                if (!Path.Exists(path))
                    errors.Add($"{at}.Namespace", $"\"{path}\" does not exist (a network namespace, e.g. /var/run/netns/NAME)");
                wanted = new Namespace { Type = "network", Path = path };
                break;
            default:
                errors.Add($"{at}.Namespace", $"must be \"\" (a new namespace), \"host\" or the absolute path of a network namespace, not \"{net.Namespace}\"");
                return;
        }
        if (index >= 0) namespaces.RemoveAt(index);
        if (wanted is not null) namespaces.Insert(index >= 0 ? index : namespaces.Count, wanted);

        if (net.AllowUnqualifiedDnsQuery)
            errors.Add($"{at}.AllowUnqualifiedDnsQuery", "not supported on Linux (the container's /etc/resolv.conf decides)");
        if (!string.IsNullOrEmpty(net.DnsSearchList))
            errors.Add($"{at}.DnsSearchList", "not supported on Linux (the container's /etc/resolv.conf decides)");
        if (!string.IsNullOrEmpty(net.NetworkSharedContainerName))
            errors.Add($"{at}.NetworkSharedContainerName", "not supported on Linux: give that container's network namespace path in Namespace");
        if (net.NetworkAdapters is { Count: > 0 })
            errors.Add($"{at}.NetworkAdapters", "not supported on Linux (no host networking service yet): use Namespace");
    }

    // ---- the OCI specification --------------------------------------------------------------

    /// <summary>The merged spec is checked as the engine will check it, and each problem is
    /// reported where the document says it: under OciSpecification.</summary>
    /// <param name="compileSeccomp">the document brought its own profile (the default one is
    /// known to compile; compiling costs milliseconds on every create)</param>
    private static void ValidateOci(OciSpec spec, DocumentErrors errors, bool compileSeccomp)
    {
        var found = new DocumentErrors();
        SpecValidator.Validate(spec, found);
        if (compileSeccomp && spec.Linux?.Seccomp is { } seccomp)
        {
            try
            {
                Seccomp.SeccompCompiler.Compile(seccomp, "$.linux.seccomp");
            }
            catch (DocumentException e)
            {
                foreach (var err in e.Errors) found.Add(err.Path, err.Message);
            }
            catch (InvalidOperationException)
            {
                // libseccomp is missing: the engine reports that when it creates the container.
            }
        }
        foreach (var e in found.All)
            errors.Add(Oci + e.Path[1..], e.Message);
    }

    /// <summary>A deep copy, so the document stays as the client sent it.</summary>
    /// <summary>
    /// An OciSpecification says what it wants different; what it leaves out comes from the
    /// default container (0005-default-container.md), field by field: a spec that only names a
    /// process still gets namespaces, mounts, masked paths, the seccomp profile, the device
    /// rules, and docker's capabilities rather than all of root's.
    /// </summary>
    public static OciSpec OverDefaults(OciSpec given, string id)
    {
        var d = DefaultSpec.Create(id);
        if (string.IsNullOrEmpty(given.OciVersion)) given.OciVersion = d.OciVersion;
        given.Mounts ??= d.Mounts;
        if (given.Process is { } p)
        {
            var dp = d.Process!;
            if (string.IsNullOrEmpty(p.Cwd)) p.Cwd = dp.Cwd;
            p.Env ??= dp.Env;
            p.User ??= dp.User;
            p.Capabilities ??= dp.Capabilities;
        }
        var gl = given.Linux ??= new OciLinux();
        var dl = d.Linux!;
        gl.Namespaces ??= dl.Namespaces;
        // a hostname only where the container has a uts namespace of its own to name
        if (gl.Namespaces!.Exists(n => n.Type == "uts" && string.IsNullOrEmpty(n.Path)))
            given.Hostname ??= d.Hostname;
        gl.MaskedPaths ??= dl.MaskedPaths;
        gl.ReadonlyPaths ??= dl.ReadonlyPaths;
        gl.Seccomp ??= dl.Seccomp;
        gl.Resources ??= new Resources();
        gl.Resources.Devices ??= dl.Resources!.Devices;
        return given;
    }

    public static OciSpec Clone(OciSpec spec) => OciReader.ReadSpec(OciWriter.ToUtf8(spec), "OciSpecification");
}
