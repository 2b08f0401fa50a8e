using Hcs.Linux.Containers;
using Hcs.Schema;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Rootfs;

/// <summary>
/// Turns the OCI mounts, devices and /dev conventions into the ordered mount steps the native
/// child executes. Pure logic: the host facts it needs (does a bind source exist, what does the
/// cgroup tree look like) come in through <see cref="IHostView"/>, so it is unit tested without root.
/// </summary>
public sealed class MountPlanner(IHostView host)
{
    // mount(2) flags
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
        MS_REMOUNT = 32, MS_MANDLOCK = 64, MS_DIRSYNC = 128, MS_NOSYMFOLLOW = 256, MS_NOATIME = 1024,
        MS_NODIRATIME = 2048, MS_BIND = 4096, MS_REC = 16384, MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18,
        MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24, MS_LAZYTIME = 1 << 25;

    // mount_setattr(2) attributes
    public const ulong ATTR_RDONLY = 0x1, ATTR_NOSUID = 0x2, ATTR_NODEV = 0x4, ATTR_NOEXEC = 0x8,
        ATTR__ATIME = 0x70, ATTR_RELATIME = 0x0, ATTR_NOATIME = 0x10, ATTR_STRICTATIME = 0x20,
        ATTR_NODIRATIME = 0x80, ATTR_NOSYMFOLLOW = 0x200000;

    private const uint S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000;

    /// <summary>The devices every container gets (as runc): null, zero, full, random, urandom, tty.</summary>
    public static readonly (string Path, long Major, long Minor)[] DefaultDevices =
    [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
        ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ];

    /// <summary>Parsed mount options: flags for mount(2), attributes for mount_setattr, the rest as data.</summary>
    public sealed class Options
    {
        public ulong Flags, ClearFlags, AttrSet, AttrClear, RecAttrSet, RecAttrClear, Propagation;
        public bool PropagationRecursive, Bind, RecursiveBind, IdMap;
        public List<string> Data { get; } = [];
    }

    public static Options ParseOptions(IReadOnlyList<string>? options)
    {
        var o = new Options();
        if (options is null) return o;
        foreach (var opt in options)
        {
            switch (opt)
            {
                case "ro": o.Flags |= MS_RDONLY; Set(ref o.AttrSet, ref o.AttrClear, ATTR_RDONLY); break;
                case "rw": o.Flags &= ~MS_RDONLY; Clear(ref o.AttrSet, ref o.AttrClear, ATTR_RDONLY); break;
                case "nosuid": o.Flags |= MS_NOSUID; Set(ref o.AttrSet, ref o.AttrClear, ATTR_NOSUID); break;
                case "suid": o.Flags &= ~MS_NOSUID; Clear(ref o.AttrSet, ref o.AttrClear, ATTR_NOSUID); break;
                case "nodev": o.Flags |= MS_NODEV; Set(ref o.AttrSet, ref o.AttrClear, ATTR_NODEV); break;
                case "dev": o.Flags &= ~MS_NODEV; Clear(ref o.AttrSet, ref o.AttrClear, ATTR_NODEV); break;
                case "noexec": o.Flags |= MS_NOEXEC; Set(ref o.AttrSet, ref o.AttrClear, ATTR_NOEXEC); break;
                case "exec": o.Flags &= ~MS_NOEXEC; Clear(ref o.AttrSet, ref o.AttrClear, ATTR_NOEXEC); break;
                case "sync": o.Flags |= MS_SYNCHRONOUS; break;
                case "async": o.Flags &= ~MS_SYNCHRONOUS; break;
                case "dirsync": o.Flags |= MS_DIRSYNC; break;
                case "remount": o.Flags |= MS_REMOUNT; break;
                case "mand": o.Flags |= MS_MANDLOCK; break;
                case "nomand": o.Flags &= ~MS_MANDLOCK; break;
                case "lazytime": o.Flags |= MS_LAZYTIME; break;
                case "nolazytime": o.Flags &= ~MS_LAZYTIME; break;
                case "nosymfollow": o.Flags |= MS_NOSYMFOLLOW; Set(ref o.AttrSet, ref o.AttrClear, ATTR_NOSYMFOLLOW); break;
                case "symfollow": o.Flags &= ~MS_NOSYMFOLLOW; Clear(ref o.AttrSet, ref o.AttrClear, ATTR_NOSYMFOLLOW); break;
                case "atime": Atime(o, 0, ATTR_RELATIME); break;
                case "noatime": Atime(o, MS_NOATIME, ATTR_NOATIME); break;
                case "relatime": Atime(o, MS_RELATIME, ATTR_RELATIME); break;
                case "norelatime": o.Flags &= ~MS_RELATIME; break;
                case "strictatime": Atime(o, MS_STRICTATIME, ATTR_STRICTATIME); break;
                case "nostrictatime": o.Flags &= ~MS_STRICTATIME; break;
                case "diratime": o.Flags &= ~MS_NODIRATIME; Clear(ref o.AttrSet, ref o.AttrClear, ATTR_NODIRATIME); break;
                case "nodiratime": o.Flags |= MS_NODIRATIME; Set(ref o.AttrSet, ref o.AttrClear, ATTR_NODIRATIME); break;
                case "bind": o.Bind = true; break;
                case "rbind": o.Bind = true; o.RecursiveBind = true; break;
                case "private": o.Propagation = MS_PRIVATE; o.PropagationRecursive = false; break;
                case "rprivate": o.Propagation = MS_PRIVATE; o.PropagationRecursive = true; break;
                case "shared": o.Propagation = MS_SHARED; o.PropagationRecursive = false; break;
                case "rshared": o.Propagation = MS_SHARED; o.PropagationRecursive = true; break;
                case "slave": o.Propagation = MS_SLAVE; o.PropagationRecursive = false; break;
                case "rslave": o.Propagation = MS_SLAVE; o.PropagationRecursive = true; break;
                case "unbindable": o.Propagation = MS_UNBINDABLE; o.PropagationRecursive = false; break;
                case "runbindable": o.Propagation = MS_UNBINDABLE; o.PropagationRecursive = true; break;
                case "idmap": case "ridmap": o.IdMap = true; break;
                // recursive attributes (runc 1.1+): applied to the whole bound tree; the later of
                // two opposite options wins, as for the plain ones
                case "rro": Set(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_RDONLY); break;
                case "rrw": Clear(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_RDONLY); break;
                case "rnosuid": Set(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NOSUID); break;
                case "rsuid": Clear(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NOSUID); break;
                case "rnodev": Set(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NODEV); break;
                case "rdev": Clear(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NODEV); break;
                case "rnoexec": Set(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NOEXEC); break;
                case "rexec": Clear(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NOEXEC); break;
                case "rnodiratime": Set(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NODIRATIME); break;
                case "rdiratime": Clear(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NODIRATIME); break;
                case "rnosymfollow": Set(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NOSYMFOLLOW); break;
                case "rsymfollow": Clear(ref o.RecAttrSet, ref o.RecAttrClear, ATTR_NOSYMFOLLOW); break;
                case "rrelatime": o.RecAttrClear |= ATTR__ATIME; o.RecAttrSet = (o.RecAttrSet & ~ATTR__ATIME) | ATTR_RELATIME; break;
                case "rnoatime": o.RecAttrClear |= ATTR__ATIME; o.RecAttrSet = (o.RecAttrSet & ~ATTR__ATIME) | ATTR_NOATIME; break;
                case "rstrictatime": o.RecAttrClear |= ATTR__ATIME; o.RecAttrSet = (o.RecAttrSet & ~ATTR__ATIME) | ATTR_STRICTATIME; break;
                case "ratime": case "rnorelatime": case "rnostrictatime": o.RecAttrClear |= ATTR__ATIME; o.RecAttrSet &= ~ATTR__ATIME; break;
                // engine extensions other runtimes accept; they carry no kernel meaning here
                case "tmpcopyup": case "notmpcopyup": case "z": case "Z": case "U": case "copy": case "nocopy":
                case "defaults":
                    break;
                default:
                    if (!opt.StartsWith("X-", StringComparison.Ordinal) && !opt.StartsWith("x-", StringComparison.Ordinal))
                        o.Data.Add(opt);
                    break;
            }
        }
        return o;

        static void Atime(Options o, ulong flag, ulong attr)
        {
            o.Flags &= ~(MS_NOATIME | MS_RELATIME | MS_STRICTATIME);
            o.Flags |= flag;
            o.AttrClear |= ATTR__ATIME;
            o.AttrSet = (o.AttrSet & ~ATTR__ATIME) | attr;
        }

        // mount_setattr takes a set mask and a clear mask: an attribute is in at most one
        static void Set(ref ulong set, ref ulong clear, ulong bit) { set |= bit; clear &= ~bit; }
        static void Clear(ref ulong set, ref ulong clear, ulong bit) { set &= ~bit; clear |= bit; }
    }

    /// <summary>Plans every mount of the spec plus /dev. Steps that must come last (making a
    /// cgroup tmpfs read-only after its sub-mounts) are appended at the end.</summary>
    public void Plan(Schema.Oci.Spec spec, string bundle, bool newUserns, List<MountStep> steps,
                     DocumentErrors errors)
    {
        var last = new List<MountStep>();
        bool devBound = false;
        var mounts = spec.Mounts ?? [];
        for (int i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            var path = $"$.mounts[{i}]";
            string dest = Normalize(m.Destination);
            var o = ParseOptions(m.Options);
            bool bind = o.Bind || m.Type == "bind";
            if (dest == "/dev" && bind) devBound = true;

            if (m.Type == "cgroup" && !bind)
            {
                int first = steps.Count, firstLast = last.Count;
                PlanCgroup(dest, o, steps, last);
                for (int k = first; k < steps.Count; k++) steps[k] = steps[k] with { ConfigPath = path, Needs = CgroupStage.Made };
                for (int k = firstLast; k < last.Count; k++) last[k] = last[k] with { ConfigPath = path, Needs = CgroupStage.Made };
                continue;
            }
            if (bind)
            {
                string source = m.Source!;
                if (!source.StartsWith('/')) source = Path.Combine(bundle, source);
                var kind = host.Kind(source);
                if (kind == HostPathKind.Missing)
                {
                    errors.Add($"{path}.source", $"bind source \"{m.Source}\" does not exist");
                    continue;
                }
                (string, string)? idmap = null;
                if (m.UidMappings is { Count: > 0 } um && m.GidMappings is { Count: > 0 } gm)
                    idmap = (MapText(um), MapText(gm));
                else if (o.IdMap && spec.Linux?.UidMappings is { Count: > 0 } cu && spec.Linux.GidMappings is { Count: > 0 } cg)
                    idmap = (MapText(cu), MapText(cg));
                steps.Add(new MountStep
                {
                    Kind = MountStepKind.Bind,
                    Source = source,
                    Target = dest,
                    TargetIsFile = kind == HostPathKind.File,
                    // ro/nosuid/... of a recursive bind apply to the whole tree: a read-only volume
                    // must not have writable sub-mounts (the same choice Docker made in v25).
                    AttrSet = o.AttrSet | o.RecAttrSet,
                    AttrClear = o.AttrClear | o.RecAttrClear,
                    Propagation = o.Propagation,
                    Recursive = o.RecursiveBind,
                    IdMap = idmap,
                    ConfigPath = path,
                });
                continue;
            }
            steps.Add(new MountStep
            {
                Kind = MountStepKind.Mount,
                Source = string.IsNullOrEmpty(m.Source) ? m.Type : m.Source,
                Target = dest,
                FsType = m.Type,
                Flags = o.Flags,
                Data = o.Data.Count > 0 ? string.Join(',', o.Data) : null,
                Propagation = o.Propagation,
                Recursive = o.PropagationRecursive,
                ConfigPath = path,
                // a cgroup2 mount shows the cgroup namespace's root: it must follow the unshare
                Needs = m.Type == "cgroup2" ? CgroupStage.Joined : CgroupStage.None,
            });
            if (o.RecAttrSet != 0 || o.RecAttrClear != 0)
                last.Add(new MountStep { Kind = MountStepKind.SetAttr, Target = dest, AttrSet = o.RecAttrSet, AttrClear = o.RecAttrClear, Recursive = true, ConfigPath = path });
        }

        if (!devBound) PlanDev(spec, newUserns, steps);
        steps.AddRange(last);
    }

    private void PlanDev(Schema.Oci.Spec spec, bool newUserns, List<MountStep> steps)
    {
        var seen = new HashSet<string>();
        var devices = spec.Linux?.Devices ?? [];
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            seen.Add(Normalize(d.Path));
            // made in the container's devices cgroup, as runc makes them (the defaults below are
            // allowed by any rules that let a container start)
            steps.Add(Device(Normalize(d.Path), d.Type, d.Major, d.Minor, d.FileMode ?? 0x1b6, d.Uid, d.Gid, newUserns)
                      with { ConfigPath = $"$.linux.devices[{i}]", Needs = CgroupStage.Joined });
        }
        foreach (var (p, major, minor) in DefaultDevices)
            if (!seen.Contains(p))
                steps.Add(Device(p, "c", major, minor, 0x1b6 /* 0666 */, 0, 0, newUserns));
        steps.Add(Symlink("/dev/ptmx", "pts/ptmx"));
        steps.Add(Symlink("/dev/fd", "/proc/self/fd"));
        steps.Add(Symlink("/dev/stdin", "/proc/self/fd/0"));
        steps.Add(Symlink("/dev/stdout", "/proc/self/fd/1"));
        steps.Add(Symlink("/dev/stderr", "/proc/self/fd/2"));
        if (host.Kind("/proc/kcore") != HostPathKind.Missing)
            steps.Add(Symlink("/dev/core", "/proc/kcore"));
    }

    private static MountStep Symlink(string target, string content) =>
        new() { Kind = MountStepKind.Symlink, Target = target, Source = content };

    /// <summary>A device node; in a new user namespace mknod is forbidden, so the host's node is
    /// bind-mounted instead (as runc does).</summary>
    private static MountStep Device(string path, string type, long major, long minor, uint mode, uint? uid, uint? gid, bool newUserns)
    {
        if (newUserns)
            return new MountStep { Kind = MountStepKind.Bind, Source = path, Target = path, TargetIsFile = true };
        uint fmt = type switch { "b" => S_IFBLK, "p" => S_IFIFO, _ => S_IFCHR };
        return new MountStep
        {
            Kind = MountStepKind.Mknod,
            Target = path,
            Mode = fmt | (mode & 0xfff),
            Device = MakeDev((ulong)major, (ulong)minor),
            Uid = uid ?? 0,
            Gid = gid ?? 0,
        };
    }

    /// <summary>glibc's makedev: the 12/20-bit major and minor split.</summary>
    public static ulong MakeDev(ulong major, ulong minor) =>
        ((major & 0xfffff000UL) << 32) | ((major & 0xfffUL) << 8) | ((minor & 0xffffff00UL) << 12) | (minor & 0xffUL);

    /// <summary>
    /// A "cgroup" mount: on cgroup v2 one mount; on v1 (and hybrid) a tmpfs with one mount per
    /// hierarchy, like the host's /sys/fs/cgroup. Each is a bind of the container's own
    /// directory, never a new cgroupfs mount (design 0009): the same superblock, root and
    /// attributes, and with a cgroup namespace the kernel shows that directory as "/", as it
    /// would for a new mount. A bind needs only the directory to exist, not the child in it nor
    /// its cgroup namespace, so the child makes these while the parent joins it. Private, as a
    /// new mount would be: nothing propagates between the container's view and the host's.
    /// </summary>
    private void PlanCgroup(string dest, Options o, List<MountStep> steps, List<MountStep> last)
    {
        var view = host.Cgroups();
        MountStep Bind(string source, string target) => new()
        {
            Kind = MountStepKind.Bind, Source = source, Target = target, AttrSet = o.AttrSet, AttrClear = o.AttrClear,
            Propagation = MS_PRIVATE, Recursive = true,
        };
        if (view.V1.Count == 0 && view.Unified is { } only)
        {
            steps.Add(Bind(only, dest));
            return;
        }
        steps.Add(new MountStep
        {
            Kind = MountStepKind.Mount, Source = "tmpfs", FsType = "tmpfs", Target = dest,
            Flags = (o.Flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, Data = "mode=755",
        });
        foreach (var h in view.V1)
        {
            steps.Add(Bind(h.HostPath, $"{dest}/{h.Name}"));
            if (h.Name.Contains(','))
                foreach (var part in h.Name.Split(','))
                    steps.Add(Symlink($"{dest}/{part}", h.Name));
        }
        if (view.Unified is { } unified)
            steps.Add(Bind(unified, $"{dest}/unified"));
        if ((o.Flags & MS_RDONLY) != 0)
            last.Add(new MountStep { Kind = MountStepKind.SetAttr, Target = dest, AttrSet = ATTR_RDONLY });
    }

    /// <summary>
    /// Orders the steps by what of the cgroup they need (<see cref="MountStep.Needs"/>), keeping
    /// the order within each stage: the child makes the first stage while the parent creates
    /// the cgroup, the second once its directories exist (<see cref="SpawnRequest.EarlySteps"/>).
    /// A step whose target is at, under or above the target of an earlier step that went to a
    /// later stage goes to that stage too (after it), so no mount ever lands on top of, or
    /// under, one that was meant to come first.
    /// </summary>
    public static void OrderByCgroupStage(List<MountStep> steps)
    {
        var stage = new CgroupStage[steps.Count];
        for (int i = 0; i < steps.Count; i++)
        {
            stage[i] = steps[i].Needs;
            for (int k = 0; k < i; k++)
                if (stage[k] > stage[i] && (Nested(steps[i].Target, steps[k].Target) || Nested(steps[k].Target, steps[i].Target)))
                    stage[i] = stage[k];
        }
        var ordered = Enumerable.Range(0, steps.Count).OrderBy(i => stage[i]).Select(i => steps[i]).ToList(); // a stable sort
        steps.Clear();
        steps.AddRange(ordered);
    }

    /// <summary>Whether <paramref name="inner"/> is <paramref name="outer"/> or below it (paths in
    /// the container, compared as written; "/" holds everything).</summary>
    public static bool Nested(string inner, string outer)
    {
        var i = inner.TrimEnd('/');
        var o = outer.TrimEnd('/');
        return i == o || o.Length == 0 || i.StartsWith(o + "/", StringComparison.Ordinal);
    }

    public static string MapText(IReadOnlyList<IdMapping> maps)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var m in maps) sb.Append(m.ContainerId).Append(' ').Append(m.HostId).Append(' ').Append(m.Size).Append('\n');
        return sb.ToString();
    }

    /// <summary>A destination inside the container, cleaned: absolute ("dev" is "/dev"), no
    /// empty, "." or ".." components, no trailing slash ("/dev/" is "/dev"). ".." cannot climb
    /// above "/" (and the child resolves in the root anyway).</summary>
    public static string Normalize(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }
}

public enum HostPathKind { Missing, Directory, File }

/// <summary>The facts about the host that mount planning needs.</summary>
public interface IHostView
{
    HostPathKind Kind(string path);
    CgroupMountView Cgroups();
}

/// <summary>What a "cgroup" mount must reproduce: each v1 hierarchy (its mount name like
/// "cpu,cpuacct", the -o options for a fresh mount, the container's own directory in it), and the
/// v2 directory of the container if there is a v2 hierarchy.</summary>
public sealed record CgroupMountView(IReadOnlyList<CgroupHierarchyMount> V1, string? Unified);

public sealed record CgroupHierarchyMount(string Name, string Options, string HostPath);
