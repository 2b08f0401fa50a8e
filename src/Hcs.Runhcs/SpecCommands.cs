using System.Text.Json;
using Hcs.Linux.Containers;
using Hcs.Linux.Spec;
using Hcs.Schema.Oci;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Runhcs;

/// <summary>`spec` writes a starting config.json; `features` says what this runtime supports.</summary>
internal static class SpecCommands
{
    public static CommandSpec[] All =>
    [
        new("spec", "create a new specification file (config.json) for a bundle", "",
            [
                new("bundle", FlagKind.String, "path to the root of the bundle directory", ["b"], Default: "."),
                new("rootless", FlagKind.Bool, "generate a configuration for a rootless container"),
            ],
            SpecCommand, 0, 0),
        new("features", "show the enabled features", "", [], Features, 0, 0),
    ];

    private static int SpecCommand(Invocation inv) => Program.Guard(inv, "", (_, _) =>
    {
        var path = Path.Combine(inv.String("bundle")!, "config.json");
        if (File.Exists(path)) throw new RuntimeError("File config.json exists. Remove it first.");
        var spec = Default();
        if (inv.Bool("rootless")) MakeRootless(spec);
        using var f = File.Create(path);
        using var w = new Utf8JsonWriter(f, new JsonWriterOptions { Indented = true });
        OciWriter.Write(w, spec);
        return 0;
    });
    /// <summary>The same starting point `runc spec` gives: an interactive sh, read-only root,
    /// the usual mounts, masked and read-only /proc paths, a small capability set.</summary>
    public static Schema.Oci.Spec Default()
    {
        List<string> caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        return new Schema.Oci.Spec
        {
            OciVersion = SpecVersion.Current,
            Process = new Process
            {
                Terminal = true,
                User = new User { Uid = 0, Gid = 0 },
                Args = ["sh"],
                Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                Cwd = "/",
                Capabilities = new Capabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] },
                Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
                NoNewPrivileges = true,
            },
            Root = new Root { Path = "rootfs", Readonly = true },
            Hostname = "runhcs",
            Mounts =
            [
                new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
                new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
                new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
                new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            ],
            Linux = new OciLinux
            {
                Resources = new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }] },
                Namespaces = [new() { Type = "pid" }, new() { Type = "network" }, new() { Type = "ipc" }, new() { Type = "uts" }, new() { Type = "mount" }, new() { Type = "cgroup" }],
                MaskedPaths = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                               "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        };
    }

    private static void MakeRootless(Schema.Oci.Spec spec)
    {
        var linux = spec.Linux!;
        linux.Resources = null;
        linux.Namespaces!.RemoveAll(n => n.Type == "network");
        linux.Namespaces.Add(new Namespace { Type = "user" });
        uint uid = Hcs.Linux.Native.Libc.GetEuid();
        linux.UidMappings = [new IdMapping { ContainerId = 0, HostId = uid, Size = 1 }];
        linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = uid, Size = 1 }];
        spec.Mounts!.RemoveAll(m => m.Destination is "/sys/fs/cgroup" or "/sys");
        spec.Mounts.Add(new Mount { Destination = "/sys", Type = "none", Source = "/sys", Options = ["rbind", "nosuid", "noexec", "nodev", "ro"] });
        foreach (var m in spec.Mounts) m.Options?.Remove("gid=5");
    }

    private static int Features(Invocation inv) => Program.Guard(inv, "", (engine, _) =>
    {
        Output.Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("ociVersionMin", "1.0.0");
                w.WriteString("ociVersionMax", SpecVersion.Current);
                Strings(w, "hooks", ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
                Strings(w, "mountOptions", ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "idmap",
                    "lazytime", "mand", "noatime", "nodev", "nodiratime", "noexec", "nolazytime", "nomand", "norelatime",
                    "nostrictatime", "nosuid", "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime",
                    "remount", "rexec", "ridmap", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime",
                    "rnostrictatime", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro", "rrw", "rshared",
                    "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw", "shared", "slave", "strictatime",
                    "suid", "symfollow", "sync", "unbindable"]);
                w.WritePropertyName("linux");
                w.WriteStartObject();
                Strings(w, "namespaces", ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]);
                Strings(w, "capabilities", [.. LinuxNames.Capabilities.Keys]);
                w.WritePropertyName("cgroup");
                w.WriteStartObject();
                w.WriteBoolean("v1", true);
                w.WriteBoolean("v2", true);
                w.WriteBoolean("systemd", false);
                w.WriteBoolean("systemdUser", false);
                w.WriteBoolean("rdma", false);
                w.WriteEndObject();
                w.WritePropertyName("seccomp");
                w.WriteStartObject();
                w.WriteBoolean("enabled", true);
                Strings(w, "actions", ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]);
                Strings(w, "operators", ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]);
                Strings(w, "archs", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
                    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
                    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]);
                string[] flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];
                Strings(w, "knownFlags", flags);
                Strings(w, "supportedFlags", flags);
                w.WriteEndObject();
                w.WritePropertyName("apparmor");
                w.WriteStartObject(); w.WriteBoolean("enabled", false); w.WriteEndObject();
                w.WritePropertyName("selinux");
                w.WriteStartObject(); w.WriteBoolean("enabled", false); w.WriteEndObject();
                w.WritePropertyName("intelRdt");
                w.WriteStartObject(); w.WriteBoolean("enabled", false); w.WriteEndObject();
                w.WritePropertyName("mountExtensions");
                w.WriteStartObject();
                w.WritePropertyName("idmap");
                w.WriteStartObject(); w.WriteBoolean("enabled", true); w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WritePropertyName("annotations");
                w.WriteStartObject();
                w.WriteString("io.github.hcs.runhcs.version", Program.Version);
                w.WriteString("io.github.hcs.runhcs.cgroup.mode", engine.Cgroups.Mode switch { Linux.Cgroups.CgroupMode.V1 => "v1", Linux.Cgroups.CgroupMode.V2 => "v2", _ => "hybrid" });
                w.WriteEndObject();
                w.WriteEndObject();
            }, indented: true);
        return 0;
    });

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WritePropertyName(name);
        w.WriteStartArray();
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
