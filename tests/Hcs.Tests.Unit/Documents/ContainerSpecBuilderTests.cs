using Hcs.Linux.Documents;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Oci;
using static Hcs.Tests.Unit.Documents.Errors;
using OciLinux = Hcs.Schema.Oci.Linux;

namespace Hcs.Tests.Unit.Documents;

/// <summary>Every rule of "The Container document on Linux" (docs/design/0003-hcsd-api.md),
/// the valid case and each invalid case with the JSON path it is reported at.</summary>
public sealed class ContainerSpecBuilderTests : IDisposable
{
    private readonly TempTree _t = new();
    public void Dispose() => _t.Dispose();

    private Spec Build(ComputeSystem doc) => ContainerSpecBuilder.Build(Id, doc, _t.Layout);

    // ---- the document ---------------------------------------------------------------------

    [Fact]
    public void A_minimal_document_runs_the_pause_init_in_the_default_spec()
    {
        var spec = Build(_t.Doc());

        Assert.Equal([DefaultSpec.PauseArg], spec.Process!.Args);
        Assert.Equal(ContainerSpecBuilder.PauseInit, spec.Annotations![ContainerSpecBuilder.InitAnnotation]);
        Assert.False(spec.Process.Terminal);
        Assert.Equal("/", spec.Process.Cwd);
        Assert.Equal([DefaultSpec.PathVariable], spec.Process.Env);
        Assert.Equal("/hcs/" + Id, spec.Linux!.CgroupsPath);
        Assert.Equal("0123456789ab", spec.Hostname);
        Assert.NotNull(spec.Linux.Seccomp);
        var errors = new DocumentErrors();
        SpecValidator.Validate(spec, errors);
        Assert.Empty(errors.All);
    }

    [Fact]
    public void Container_is_required()
    {
        var errors = Of(_t, new ComputeSystem());
        Single(errors, "$.Document.Container", "required");
    }

    [Fact]
    public void Schema_version_must_be_2()
    {
        var ok = _t.Doc();
        ok.SchemaVersion = new SchemaVersion { Major = 2, Minor = 7 };
        Build(ok);

        var doc = _t.Doc();
        doc.SchemaVersion = new SchemaVersion { Major = 1, Minor = 0 };
        Single(Of(_t, doc), "$.Document.SchemaVersion.Major", "version 2");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Process")]
    public void Process_isolation_is_the_default(string? isolation) =>
        Build(_t.Doc(c => c.IsolationType = isolation));

    [Fact]
    public void Hypervisor_isolation_is_not_available_yet()
    {
        var e = Assert.Throws<HcsException>(() => Build(_t.Doc(c => c.IsolationType = "Hypervisor")));
        Assert.Equal(HcsError.ServiceNotAvailable, e.Error);
        Assert.Equal(501, e.Error.HttpStatus);
        Assert.Equal($"{C}.IsolationType", e.Path);
    }

    [Fact]
    public void A_hosting_system_is_not_available_yet()
    {
        var doc = _t.Doc();
        doc.HostingSystemId = "uvm";
        var e = Assert.Throws<HcsException>(() => Build(doc));
        Assert.Equal(HcsError.ServiceNotAvailable, e.Error);
        Assert.Equal("$.Document.HostingSystemId", e.Path);
    }

    [Fact]
    public void Another_isolation_type_names_the_allowed_values()
    {
        var errors = Of(_t, _t.Doc(c => c.IsolationType = "HostProcess"));
        Single(errors, $"{C}.IsolationType", "\"Process\" or \"Hypervisor\"");
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var doc = _t.Doc(c =>
        {
            c.IsolationType = "Silo";
            c.Memory = new ContainerMemory { SizeInMB = 1 };
            c.Processor = new ContainerProcessor { Weight = 0 };
            c.GuestOs = new GuestOs { HostName = "bad_name" };
            c.Storage!.Layers!.Add(new Layer { Path = "relative" });
            c.Networking = new Networking { DnsSearchList = "example.org" };
        });
        doc.SchemaVersion = new SchemaVersion { Major = 3 };

        var paths = Of(_t, doc).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(
        [
            $"{C}.GuestOs.HostName", $"{C}.IsolationType", $"{C}.Memory.SizeInMB", $"{C}.Networking.DnsSearchList",
            $"{C}.Processor.Weight", $"{C}.Storage.Layers[1].Path", "$.Document.SchemaVersion.Major",
        ], paths);
    }

    [Fact]
    public void The_document_is_not_changed()
    {
        var oci = OciBase();
        var doc = _t.Doc(c =>
        {
            c.OciSpecification = oci;
            c.Memory = new ContainerMemory { SizeInMB = 64 };
            c.GuestOs = new GuestOs { HostName = "web" };
        });
        var before = OciWriter.ToUtf8(oci);
        var spec = Build(doc);
        Assert.Equal(before, OciWriter.ToUtf8(oci));
        Assert.NotSame(oci, spec);
    }

    // ---- storage ------------------------------------------------------------------------------

    [Fact]
    public void One_layer_without_scratch_is_the_writable_root()
    {
        var plan = ContainerSpecBuilder.Plan(Id, _t.Doc(), _t.Layout);
        Assert.False(plan.Rootfs!.IsOverlay);
        Assert.Equal(Path.Combine(_t.Root, "layer0"), plan.Spec.Root!.Path);
        Assert.False(plan.Spec.Root.Readonly);
    }

    [Fact]
    public void Layers_with_a_scratch_are_an_overlay_on_the_layout_rootfs()
    {
        var scratch = _t.Missing("scratch"); // created by the daemon; only its parent must exist
        var doc = _t.Doc(c =>
        {
            c.Storage!.Layers!.Add(new Layer { Path = _t.Dir("layer1") });
            c.Storage.Path = scratch;
        });
        var plan = ContainerSpecBuilder.Plan(Id, doc, _t.Layout);

        Assert.True(plan.Rootfs!.IsOverlay);
        Assert.Equal(_t.Layout.RootfsPath, plan.Spec.Root!.Path);
        Assert.False(plan.Spec.Root.Readonly);
        Assert.Equal($"lowerdir={_t.Root}/layer1:{_t.Root}/layer0,upperdir={scratch}/upper,workdir={scratch}/work",
            plan.Rootfs.OverlayOptions());
    }

    [Fact]
    public void Storage_is_required_without_an_oci_root()
    {
        Single(Of(_t, _t.Doc(c => c.Storage = null)), $"{C}.Storage", "required");
    }

    [Fact]
    public void An_oci_root_path_that_exists_replaces_storage()
    {
        var root = _t.Dir("ociroot");
        var oci = OciBase();
        oci.Root = new Root { Path = root, Readonly = true };
        var plan = ContainerSpecBuilder.Plan(Id, _t.Doc(c => { c.Storage = null; c.OciSpecification = oci; }), _t.Layout);

        Assert.Null(plan.Rootfs);
        Assert.Equal(root, plan.Spec.Root!.Path);
        Assert.True(plan.Spec.Root.Readonly);
    }

    [Theory]
    [InlineData("rootfs")]
    [InlineData("/does/not/exist")]
    public void An_oci_root_path_that_is_relative_or_missing_does_not_replace_storage(string root)
    {
        var oci = OciBase();
        oci.Root = new Root { Path = root };
        Single(Of(_t, _t.Doc(c => { c.Storage = null; c.OciSpecification = oci; })), $"{C}.Storage", root);
    }

    [Fact]
    public void An_image_reference_needs_the_image_store()
    {
        var errors = Of(_t, _t.Doc(c => c.Storage = new Storage { Image = "docker.io/library/busybox:latest" }));
        Single(errors, $"{C}.Storage.Image", "image store (not available yet)");
    }

    [Fact]
    public void Layers_must_not_be_empty()
    {
        Single(Of(_t, _t.Doc(c => c.Storage!.Layers = [])), $"{C}.Storage.Layers", "at least one");
    }

    [Fact]
    public void Each_layer_must_be_an_absolute_existing_directory()
    {
        var file = _t.File("a-file");
        var errors = Of(_t, _t.Doc(c => c.Storage!.Layers!.AddRange(
        [
            new Layer { Path = "layers/1" },
            new Layer { Path = _t.Missing("gone") },
            new Layer { Path = file },
            new Layer { Path = _t.Dir("ok"), PathType = "VirtualSmbShareName" },
            new Layer { Path = _t.Root + "/a:b" },
            new Layer { Path = null },
        ])));

        Assert.Equal(
        [
            ($"{C}.Storage.Layers[1].Path", "absolute"),
            ($"{C}.Storage.Layers[2].Path", "not an existing directory"),
            ($"{C}.Storage.Layers[3].Path", "not an existing directory"),
            ($"{C}.Storage.Layers[4].PathType", "AbsolutePath"),
            ($"{C}.Storage.Layers[5].Path", "':'"),
            ($"{C}.Storage.Layers[6].Path", "required"),
        ], errors.Select(e => (e.Path, Key(e.Message))));

        static string Key(string m) =>
            new[] { "absolute", "not an existing directory", "AbsolutePath", "':'", "required" }.First(m.Contains);
    }

    [Fact]
    public void The_scratch_must_be_absolute_with_an_existing_parent()
    {
        Single(Of(_t, _t.Doc(c => c.Storage!.Path = "scratch")), $"{C}.Storage.Path", "absolute");
        Single(Of(_t, _t.Doc(c => c.Storage!.Path = _t.Missing("no/scratch"))), $"{C}.Storage.Path", "parent directory");
        Single(Of(_t, _t.Doc(c => c.Storage!.Path = _t.File("file-scratch"))), $"{C}.Storage.Path", "is a file");
        Build(_t.Doc(c => c.Storage!.Path = _t.Dir("existing-scratch")));
    }

    // ---- mapped directories ----------------------------------------------------------------

    [Fact]
    public void Mapped_directories_become_bind_mounts_after_the_default_mounts()
    {
        var data = _t.Dir("data");
        var conf = _t.File("app.conf");
        var spec = Build(_t.Doc(c => c.MappedDirectories =
        [
            new MappedDirectory { HostPath = data, ContainerPath = "/data/" },
            new MappedDirectory { HostPath = conf, ContainerPath = "/etc/app.conf", ReadOnly = true, HostPathType = "AbsolutePath" },
        ]));

        var mounts = spec.Mounts!;
        Assert.Equal("/sys/fs/cgroup", mounts[^3].Destination); // the last default mount
        Assert.Equal(("/data", "bind", data), (mounts[^2].Destination, mounts[^2].Type, mounts[^2].Source));
        Assert.Equal(["rbind", "rprivate"], mounts[^2].Options);
        Assert.Equal(("/etc/app.conf", conf), (mounts[^1].Destination, mounts[^1].Source));
        Assert.Contains("ro", mounts[^1].Options!);
        Assert.Contains("rro", mounts[^1].Options!);
    }

    [Fact]
    public void Mapped_directories_plan_as_recursive_binds()
    {
        var data = _t.Dir("data");
        var spec = Build(_t.Doc(c => c.MappedDirectories =
        [
            new MappedDirectory { HostPath = data, ContainerPath = "/rw" },
            new MappedDirectory { HostPath = data, ContainerPath = "/ro", ReadOnly = true },
        ]));
        var host = new Planning.FakeHost().With(data, Hcs.Linux.Rootfs.HostPathKind.Directory);
        var inputs = new Hcs.Linux.Containers.ContainerPlanner.CreateInputs(Id, _t.Layout.BundleDir, spec.Root!.Path!, false, false, 0, false);
        var r = Hcs.Linux.Containers.ContainerPlanner.PlanCreate(spec, inputs, host);

        var rw = Assert.Single(r.Steps, s => s.Target == "/rw" && s.Kind == Hcs.Linux.Containers.MountStepKind.Bind);
        var ro = Assert.Single(r.Steps, s => s.Target == "/ro" && s.Kind == Hcs.Linux.Containers.MountStepKind.Bind);
        Assert.True(rw.Recursive);
        Assert.True(ro.Recursive);
        Assert.DoesNotContain(r.Steps, s => s.Target == "/rw" && (s.AttrSet & Hcs.Linux.Rootfs.MountPlanner.ATTR_RDONLY) != 0);
        Assert.Contains(r.Steps, s => s.Target == "/ro" && (s.AttrSet & Hcs.Linux.Rootfs.MountPlanner.ATTR_RDONLY) != 0);
    }

    [Fact]
    public void Mapped_directories_are_checked()
    {
        var host = _t.Dir("host");
        var errors = Of(_t, _t.Doc(c => c.MappedDirectories =
        [
            new MappedDirectory { HostPath = "relative", ContainerPath = "/a" },
            new MappedDirectory { HostPath = _t.Missing("nothing"), ContainerPath = "/b" },
            new MappedDirectory { HostPath = host, ContainerPath = "c" },
            new MappedDirectory { HostPath = host, ContainerPath = "/" },
            new MappedDirectory { HostPath = host, ContainerPath = "/x/../etc" },
            new MappedDirectory { HostPath = host, ContainerPath = "/d" },
            new MappedDirectory { HostPath = host, ContainerPath = "/d/" },
            new MappedDirectory { HostPath = host, ContainerPath = "/e", HostPathType = "VirtualSmbPipeName" },
            new MappedDirectory { ContainerPath = "/f" },
            new MappedDirectory { HostPath = host },
        ]));

        var at = $"{C}.MappedDirectories";
        Assert.Equal(
        [
            $"{at}[0].HostPath", $"{at}[1].HostPath", $"{at}[2].ContainerPath", $"{at}[3].ContainerPath", $"{at}[4].ContainerPath",
            $"{at}[6].ContainerPath", $"{at}[7].HostPathType", $"{at}[8].HostPath", $"{at}[9].ContainerPath",
        ], errors.Select(e => e.Path));
        Assert.Contains("does not exist", errors[1].Message);
        Assert.Contains("\"/\"", errors[3].Message);
        Assert.Contains("..", errors[4].Message);
        Assert.Contains("MappedDirectories[5]", errors[5].Message);
    }

    // ---- memory and processor --------------------------------------------------------------

    [Fact]
    public void Memory_size_is_the_limit_and_no_swap_beyond_it()
    {
        var m = Build(_t.Doc(c => c.Memory = new ContainerMemory { SizeInMB = 6 })).Linux!.Resources!.Memory!;
        Assert.Equal(6L * 1024 * 1024, m.Limit);
        Assert.Equal(m.Limit, m.Swap);
    }

    [Theory]
    [InlineData(0UL, "at least 6")]
    [InlineData(5UL, "at least 6")]
    [InlineData(ulong.MaxValue, "more than the kernel")]
    public void Memory_size_is_checked(ulong mb, string text) =>
        Single(Of(_t, _t.Doc(c => c.Memory = new ContainerMemory { SizeInMB = mb })), $"{C}.Memory.SizeInMB", text);

    [Fact]
    public void Processor_count_is_cpus_worth_of_time()
    {
        var cpu = Build(_t.Doc(c => c.Processor = new ContainerProcessor { Count = 1 })).Linux!.Resources!.Cpu!;
        Assert.Equal(100_000, cpu.Quota);
        Assert.Equal(100_000UL, cpu.Period);

        int n = Environment.ProcessorCount;
        cpu = Build(_t.Doc(c => c.Processor = new ContainerProcessor { Count = (uint)n })).Linux!.Resources!.Cpu!;
        Assert.Equal(n * 100_000L, cpu.Quota);
    }

    [Fact]
    public void Processor_maximum_is_per_10000_of_the_host()
    {
        int n = Environment.ProcessorCount;
        var cpu = Build(_t.Doc(c => c.Processor = new ContainerProcessor { Maximum = 5000 })).Linux!.Resources!.Cpu!;
        Assert.Equal(5000L * n * 10, cpu.Quota);
        Assert.Equal(100_000UL, cpu.Period);
        cpu = Build(_t.Doc(c => c.Processor = new ContainerProcessor { Maximum = 10_000 })).Linux!.Resources!.Cpu!;
        Assert.Equal(n * 100_000L, cpu.Quota); // the whole host
    }

    [Theory]
    [InlineData(100, 1024UL)]
    [InlineData(1, 10UL)]
    [InlineData(50, 512UL)]
    [InlineData(10_000, 102_400UL)]
    public void Processor_weight_scales_to_cpu_shares(long weight, ulong shares)
    {
        var cpu = Build(_t.Doc(c => c.Processor = new ContainerProcessor { Weight = weight })).Linux!.Resources!.Cpu!;
        Assert.Equal(shares, cpu.Shares);
        Assert.Null(cpu.Quota);
    }

    [Fact]
    public void Shares_are_clamped_to_what_the_kernel_takes()
    {
        Assert.Equal(2UL, ContainerSpecBuilder.SharesFromWeight(0));
        Assert.Equal(262_144UL, ContainerSpecBuilder.SharesFromWeight(1_000_000));
    }

    [Fact]
    public void Processor_values_are_checked()
    {
        uint tooMany = (uint)Environment.ProcessorCount + 1;
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Count = 0 })), $"{C}.Processor.Count", "between 1 and");
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Count = tooMany })), $"{C}.Processor.Count", $"not {tooMany}");
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Maximum = 0 })), $"{C}.Processor.Maximum", "between 1 and 10000");
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Maximum = 10_001 })), $"{C}.Processor.Maximum", "between 1 and 10000");
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Weight = 0 })), $"{C}.Processor.Weight", "between 1 and 10000");
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Weight = 10_001 })), $"{C}.Processor.Weight", "between 1 and 10000");
    }

    [Fact]
    public void Processor_fields_are_mutually_exclusive()
    {
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Count = 1, Weight = 100 })), $"{C}.Processor", "mutually exclusive");
        Single(Of(_t, _t.Doc(c => c.Processor = new ContainerProcessor { Maximum = 1, Weight = 100 })), $"{C}.Processor", "mutually exclusive");
        Assert.Null(Build(_t.Doc(c => c.Processor = new ContainerProcessor())).Linux!.Resources!.Cpu);
    }

    [Fact]
    public void Hcs_resources_override_the_oci_ones()
    {
        var oci = OciBase();
        oci.Linux = new OciLinux
        {
            Resources = new Resources { Memory = new Hcs.Schema.Oci.Memory { Limit = 1 << 30, Reservation = 1 << 20 }, Cpu = new Cpu { Shares = 10, Cpus = "0" } },
        };
        var r = Build(_t.Doc(c =>
        {
            c.OciSpecification = oci;
            c.Memory = new ContainerMemory { SizeInMB = 100 };
            c.Processor = new ContainerProcessor { Weight = 200 };
        })).Linux!.Resources!;

        Assert.Equal(100L << 20, r.Memory!.Limit);
        Assert.Equal(1L << 20, r.Memory.Reservation); // what HCS does not say stays
        Assert.Equal(2048UL, r.Cpu!.Shares);
        Assert.Equal("0", r.Cpu.Cpus);
    }

    // ---- hostname ---------------------------------------------------------------------------

    [Theory]
    [InlineData("web")]
    [InlineData("web-1.example.org")]
    [InlineData("A1")]
    public void A_valid_hostname_is_set(string name) =>
        Assert.Equal(name, Build(_t.Doc(c => c.GuestOs = new GuestOs { HostName = name })).Hostname);

    [Theory]
    [InlineData("-web")]
    [InlineData("web-")]
    [InlineData("we_b")]
    [InlineData("a..b")]
    [InlineData("space here")]
    public void An_invalid_hostname_is_refused(string name) =>
        Single(Of(_t, _t.Doc(c => c.GuestOs = new GuestOs { HostName = name })), $"{C}.GuestOs.HostName", "not a valid hostname");

    [Fact]
    public void A_hostname_is_at_most_64_characters_and_labels_63()
    {
        Assert.True(ContainerSpecBuilder.IsValidHostname(new string('a', 63)));
        Assert.False(ContainerSpecBuilder.IsValidHostname(new string('a', 64)));
        Assert.True(ContainerSpecBuilder.IsValidHostname(new string('a', 32) + "." + new string('b', 31)));
        Assert.False(ContainerSpecBuilder.IsValidHostname(new string('a', 32) + "." + new string('b', 32)));
    }

    [Fact]
    public void The_default_hostname_is_the_ids_first_12_characters()
    {
        Assert.Equal("0123456789ab", ContainerSpecBuilder.DefaultHostname(Id));
        Assert.Equal("short", ContainerSpecBuilder.DefaultHostname("short"));
        Assert.Equal("my-app-1", ContainerSpecBuilder.DefaultHostname("my_app_1"));
        Assert.True(ContainerSpecBuilder.IsValidHostname(ContainerSpecBuilder.DefaultHostname("__")));
    }

    [Fact]
    public void A_hostname_gives_an_oci_spec_its_own_uts_namespace()
    {
        var spec = Build(_t.Doc(c =>
        {
            c.OciSpecification = OciBase();
            c.GuestOs = new GuestOs { HostName = "web" };
        }));
        Assert.Equal("web", spec.Hostname);
        Assert.Contains(spec.Linux!.Namespaces!, n => n.Type == "uts" && n.Path is null);

        // no namespaces said: the default ones, a uts namespace among them, and the default name
        var defaults = Build(_t.Doc(c => c.OciSpecification = OciBase()));
        Assert.Equal(ContainerSpecBuilder.DefaultHostname(Id), defaults.Hostname);

        var withoutUts = OciBase();
        withoutUts.Linux = new OciLinux { Namespaces = [new Namespace { Type = "pid" }, new Namespace { Type = "mount" }] };
        var none = Build(_t.Doc(c => c.OciSpecification = withoutUts));
        Assert.Null(none.Hostname); // no uts namespace of its own: the hostname is not its to set
    }

    [Fact]
    public void A_hostname_does_not_rename_a_joined_uts_namespace()
    {
        var oci = OciBase();
        oci.Linux = new OciLinux { Namespaces = [new Namespace { Type = "uts", Path = "/proc/1/ns/uts" }] };
        var errors = Of(_t, _t.Doc(c => { c.OciSpecification = oci; c.GuestOs = new GuestOs { HostName = "web" }; }));
        Single(errors, $"{C}.GuestOs.HostName", "joins the uts namespace");
    }

    // ---- networking -------------------------------------------------------------------------

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(true, "")]
    public void The_default_is_a_new_network_namespace(bool networking, string? ns)
    {
        var spec = Build(_t.Doc(c => c.Networking = networking ? new Networking { Namespace = ns } : null));
        var net = Assert.Single(spec.Linux!.Namespaces!, n => n.Type == "network");
        Assert.Null(net.Path);
    }

    [Fact]
    public void Host_networking_has_no_network_namespace()
    {
        var spec = Build(_t.Doc(c => c.Networking = new Networking { Namespace = "host" }));
        Assert.DoesNotContain(spec.Linux!.Namespaces!, n => n.Type == "network");
        Assert.Contains(spec.Linux.Namespaces!, n => n.Type == "pid");
    }

    [Fact]
    public void A_namespace_path_is_joined_and_must_exist()
    {
        var path = _t.File("netns");
        var spec = Build(_t.Doc(c => c.Networking = new Networking { Namespace = path }));
        Assert.Equal(path, Assert.Single(spec.Linux!.Namespaces!, n => n.Type == "network").Path);

        Single(Of(_t, _t.Doc(c => c.Networking = new Networking { Namespace = _t.Missing("no-netns") })),
            $"{C}.Networking.Namespace", "does not exist");
        Single(Of(_t, _t.Doc(c => c.Networking = new Networking { Namespace = "bridge" })),
            $"{C}.Networking.Namespace", "\"host\"");
    }

    [Fact]
    public void Networking_overrides_the_oci_namespaces()
    {
        var oci = OciBase();
        oci.Linux = new OciLinux { Namespaces = [new Namespace { Type = "pid" }, new Namespace { Type = "mount" }] };
        var spec = Build(_t.Doc(c => { c.OciSpecification = oci; c.Networking = new Networking(); }));
        Assert.Equal(["pid", "mount", "network"], spec.Linux!.Namespaces!.Select(n => n.Type));

        // Without Networking, the OCI spec's choice (here: the host's network) stands.
        spec = Build(_t.Doc(c => c.OciSpecification = oci));
        Assert.DoesNotContain(spec.Linux!.Namespaces!, n => n.Type == "network");
    }

    [Fact]
    public void Other_networking_fields_are_not_supported_on_linux()
    {
        Build(_t.Doc(c => c.Networking = new Networking { AllowUnqualifiedDnsQuery = false, DnsSearchList = "", NetworkAdapters = [] }));

        var errors = Of(_t, _t.Doc(c => c.Networking = new Networking
        {
            AllowUnqualifiedDnsQuery = true, DnsSearchList = "example.org", NetworkSharedContainerName = "other", NetworkAdapters = ["nic"],
        }));
        Assert.Equal(
        [
            $"{C}.Networking.AllowUnqualifiedDnsQuery", $"{C}.Networking.DnsSearchList",
            $"{C}.Networking.NetworkSharedContainerName", $"{C}.Networking.NetworkAdapters",
        ], errors.Select(e => e.Path));
        Assert.All(errors, e => Assert.Contains("not supported on Linux", e.Message));
    }

    // ---- OciSpecification -----------------------------------------------------------------------

    [Fact]
    public void An_oci_spec_is_the_base_and_its_process_the_init()
    {
        var oci = OciBase();
        oci.Process!.Args = ["/bin/app", "--serve"];
        oci.Hooks = new Hooks { Poststop = [new Hook { Path = "/bin/true" }] };
        var spec = Build(_t.Doc(c => c.OciSpecification = oci));

        Assert.Equal(["/bin/app", "--serve"], spec.Process!.Args);
        Assert.False(spec.Annotations!.ContainsKey(ContainerSpecBuilder.InitAnnotation));
        // what it leaves out comes from the default container (OverDefaults): the default
        // seccomp profile and docker's capabilities, not all of root's
        Assert.Equal(DefaultSpec.Seccomp().Syscalls!.Count, spec.Linux!.Seccomp!.Syscalls!.Count);
        Assert.Equal(DefaultSpec.Capabilities, spec.Process.Capabilities!.Bounding);
        Assert.Equal("/bin/true", spec.Hooks!.Poststop![0].Path);
        Assert.Equal(Path.Combine(_t.Root, "layer0"), spec.Root!.Path); // Storage wins over root.path
        Assert.Equal("/hcs/" + Id, spec.Linux.CgroupsPath);
    }

    [Fact]
    public void An_oci_spec_without_a_process_gets_the_pause_init()
    {
        var oci = OciBase();
        oci.Process = null;
        var spec = Build(_t.Doc(c => c.OciSpecification = oci));
        Assert.Equal([DefaultSpec.PauseArg], spec.Process!.Args);
        Assert.Equal(ContainerSpecBuilder.PauseInit, spec.Annotations![ContainerSpecBuilder.InitAnnotation]);
    }

    [Fact]
    public void The_init_annotation_is_reserved()
    {
        var oci = OciBase();
        oci.Annotations = new() { [ContainerSpecBuilder.InitAnnotation] = "pause" };
        Single(Of(_t, _t.Doc(c => c.OciSpecification = oci)), $"{C}.OciSpecification.annotations[\"io.hcs.init\"]", "reserved");
    }

    [Fact]
    public void Oci_spec_errors_are_reported_under_OciSpecification()
    {
        var oci = OciBase();
        oci.OciVersion = "2.0.0";
        oci.Process!.Cwd = "relative";
        oci.Process.Rlimits = [new Rlimit { Type = "RLIMIT_BOGUS" }];
        oci.Linux = new OciLinux { Namespaces = [new Namespace { Type = "pid" }, new Namespace { Type = "pid" }] };

        var paths = Of(_t, _t.Doc(c => c.OciSpecification = oci)).Select(e => e.Path).ToList();
        Assert.Equal(
        [
            $"{C}.OciSpecification.ociVersion", $"{C}.OciSpecification.process.cwd",
            $"{C}.OciSpecification.process.rlimits[0].type", $"{C}.OciSpecification.linux.namespaces[1].type",
        ], paths);
    }

    [Fact]
    public void Hcs_fields_that_conflict_with_the_oci_spec_are_reported_there()
    {
        var oci = OciBase();
        oci.Linux = new OciLinux
        {
            Namespaces = [new Namespace { Type = "network" }],
            Sysctl = new() { ["net.ipv4.ip_forward"] = "1" },
        };
        var errors = Of(_t, _t.Doc(c => { c.OciSpecification = oci; c.Networking = new Networking { Namespace = "host" }; }));
        Single(errors, $"{C}.OciSpecification.linux.sysctl[\"net.ipv4.ip_forward\"]", "network namespace");
    }

    [Fact]
    public void An_oci_seccomp_profile_is_checked_where_it_is()
    {
        var oci = OciBase();
        oci.Linux = new OciLinux
        {
            Seccomp = new Hcs.Schema.Oci.Seccomp { DefaultAction = "SCMP_ACT_NOPE", Syscalls = [new SyscallRule { Names = ["read"], Action = "SCMP_ACT_ALLOW" }] },
        };
        Single(Of(_t, _t.Doc(c => c.OciSpecification = oci)), $"{C}.OciSpecification.linux.seccomp.defaultAction", "SCMP_ACT_NOPE");

        oci.Linux.Seccomp.DefaultAction = "SCMP_ACT_ERRNO";
        Assert.Equal("SCMP_ACT_ERRNO", Build(_t.Doc(c => c.OciSpecification = oci)).Linux!.Seccomp!.DefaultAction);
    }

    /// <summary>A valid OCI spec with only what the validator requires, and no namespaces.</summary>
    private static Spec OciBase() => new()
    {
        OciVersion = "1.1.0",
        Root = new Root { Path = "rootfs" },
        Process = new Process { Args = ["/bin/sh"], Cwd = "/" },
    };
}
