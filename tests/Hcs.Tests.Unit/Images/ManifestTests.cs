using System.Text;
using Hcs.Images.Images;

namespace Hcs.Tests.Unit.Images;

/// <summary>Reading OCI and Docker manifests, indexes and configs as registries serve them, and
/// choosing the manifest for linux/amd64 out of an index.</summary>
public sealed class ManifestTests
{
    private static string D(char c) => "sha256:" + new string(c, 64);

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Docker_manifest_v2_schema2()
    {
        var json = $$$"""
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
         "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"{{{D('a')}}}"},
         "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2220094,"digest":"{{{D('b')}}}"}]}
        """;
        var m = OciJson.Read<ImageManifest>(Utf8(json), "test");
        Assert.Equal(MediaTypes.DockerManifest, m.MediaType);
        Assert.Equal(D('a'), m.Config.Digest);
        Assert.Equal(1469, m.Config.Size);
        var layer = Assert.Single(m.Layers);
        Assert.Equal(MediaTypes.DockerLayerGzip, layer.MediaType);
        Assert.True(MediaTypes.IsLayer(layer.MediaType));
        ImageStore.CheckManifest(m, D('f'));
    }

    [Fact]
    public void Oci_manifest_with_unknown_fields_annotations_and_subject()
    {
        var json = $$$"""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":null,
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":7,"digest":"{{{D('a')}}}","data":"e30="},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","size":3,"digest":"{{{D('b')}}}","annotations":{"k":"v"}}],
         "subject":{"mediaType":"x","size":1,"digest":"{{{D('c')}}}"},"annotations":{"org.opencontainers.image.created":"2024"},
         "somethingNew":{"nested":[1,2,3]}}
        """;
        var m = OciJson.Read<ImageManifest>(Utf8(json), "test");
        Assert.Equal("v", m.Layers[0].Annotation("k"));
        Assert.Equal("2024", m.Annotations!["org.opencontainers.image.created"]);
        ImageStore.CheckManifest(m, D('f'));
    }

    [Fact]
    public void An_artifact_manifest_is_not_an_image()
    {
        var json = $$$"""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","size":7,"digest":"{{{D('a')}}}"},"layers":[]}
        """;
        var e = Assert.Throws<ImageException>(() => ImageStore.CheckManifest(OciJson.Read<ImageManifest>(Utf8(json), "t"), D('f')));
        Assert.Contains("not a container image", e.Message);
    }

    [Fact]
    public void A_layer_that_is_not_a_tar_is_refused()
    {
        var json = $$$"""
        {"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":7,"digest":"{{{D('a')}}}"},
         "layers":[{"mediaType":"application/octet-stream","size":3,"digest":"{{{D('b')}}}"}]}
        """;
        var e = Assert.Throws<ImageException>(() => ImageStore.CheckManifest(OciJson.Read<ImageManifest>(Utf8(json), "t"), D('f')));
        Assert.Contains("application/octet-stream", e.Message);
    }

    [Fact]
    public void Malformed_json_names_the_document_and_path()
    {
        var e = Assert.Throws<ImageException>(() => OciJson.Read<ImageManifest>(Utf8("""{"schemaVersion":"two"}"""), "manifest X"));
        Assert.Equal(ImageError.Invalid, e.Kind);
        Assert.Contains("manifest X", e.Message);
        Assert.Contains("$.schemaVersion", e.Message);
    }

    [Fact]
    public void Image_config_defaults_diff_ids_history_and_lenient_times()
    {
        var json = $$$"""
        {"architecture":"amd64","os":"linux","created":"2023-05-19T20:19:33.694894594Z",
         "config":{"User":"1000:1000","Env":["PATH=/usr/bin","A=b"],"Entrypoint":["/init"],"Cmd":["sh","-c","x"],
                   "WorkingDir":"/app","ExposedPorts":{"80/tcp":{}},"Labels":{"l":"v"},"StopSignal":"SIGTERM","Healthcheck":{"Test":["NONE"]}},
         "rootfs":{"type":"layers","diff_ids":["{{{D('1')}}}","{{{D('2')}}}"]},
         "history":[{"created":"garbage","created_by":"/bin/sh -c #(nop) ADD file"},{"created":"0001-01-01T00:00:00Z","empty_layer":true}]}
        """;
        var c = OciJson.Read<ImageConfig>(Utf8(json), "config");
        Assert.Equal("amd64", c.Architecture);
        Assert.Equal(new DateTimeOffset(2023, 5, 19, 20, 19, 33, TimeSpan.Zero), c.Created!.Value.AddTicks(-(c.Created.Value.Ticks % TimeSpan.TicksPerSecond)));
        Assert.Equal("1000:1000", c.Config!.User);
        Assert.Equal(["PATH=/usr/bin", "A=b"], c.Config.Env!);
        Assert.Equal(["/init"], c.Config.Entrypoint!);
        Assert.Equal(["sh", "-c", "x"], c.Config.Cmd!);
        Assert.Equal("/app", c.Config.WorkingDir);
        Assert.True(c.Config.ExposedPorts!.ContainsKey("80/tcp"));
        Assert.Equal("v", c.Config.Labels!["l"]);
        Assert.Equal([D('1'), D('2')], c.RootFs.DiffIds);
        Assert.Null(c.History![0].Created);             // "garbage" is no reason to refuse an image
        Assert.True(c.History[1].EmptyLayer);
    }

    [Fact]
    public void Chain_ids_follow_the_oci_rule()
    {
        var config = new ImageConfig { RootFs = new RootFs { DiffIds = [D('1'), D('2')] } };
        var manifest = new ImageManifest { Layers = [new Descriptor(), new Descriptor()] };
        var chains = ImageStore.Chains(config, manifest, "m");
        Assert.Equal(D('1'), chains[0]);
        Assert.Equal(Digest.Of(Utf8(D('1') + " " + D('2'))), chains[1]);
    }

    [Fact]
    public void Diff_ids_and_layers_must_agree_in_number()
    {
        var config = new ImageConfig { RootFs = new RootFs { DiffIds = [D('1')] } };
        var manifest = new ImageManifest { Layers = [new Descriptor(), new Descriptor()] };
        Assert.Contains("1 layer DiffIDs, the manifest 2", Assert.Throws<ImageException>(() => ImageStore.Chains(config, manifest, "m")).Message);
    }

    private static ImageIndex Index(params (string Os, string Arch, string? Variant, char Digest)[] entries) => new()
    {
        MediaType = MediaTypes.OciIndex,
        Manifests = [.. entries.Select(e => new Descriptor
        {
            MediaType = MediaTypes.OciManifest, Digest = D(e.Digest), Size = 1,
            Platform = new Platform { Os = e.Os, Architecture = e.Arch, Variant = e.Variant },
        })],
    };

    [Fact]
    public void Index_picks_linux_amd64()
    {
        var index = Index(("linux", "arm64", "v8", 'a'), ("linux", "amd64", null, 'b'), ("windows", "amd64", null, 'c'), ("unknown", "unknown", null, 'd'));
        Assert.Equal(D('b'), PlatformSelector.Choose(index, "linux", "amd64", null, "img").Digest);
    }

    [Fact]
    public void Manifest_list_as_docker_hub_serves_it()
    {
        var json = $$$"""
        {"manifests":[
          {"digest":"{{{D('1')}}}","mediaType":"application/vnd.docker.distribution.manifest.v2+json","platform":{"architecture":"arm","os":"linux","variant":"v7"},"size":527},
          {"digest":"{{{D('2')}}}","mediaType":"application/vnd.docker.distribution.manifest.v2+json","platform":{"architecture":"amd64","os":"linux"},"size":527},
          {"digest":"{{{D('3')}}}","mediaType":"application/vnd.docker.distribution.manifest.v2+json","platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.4974"},"size":527}],
         "mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","schemaVersion":2}
        """;
        var index = OciJson.Read<ImageIndex>(Utf8(json), "list");
        Assert.True(MediaTypes.IsIndex(index.MediaType));
        Assert.Equal("10.0.17763.4974", index.Manifests[2].Platform!.OsVersion);
        Assert.Equal(D('2'), PlatformSelector.Choose(index, "linux", "amd64", null, "img").Digest);
    }

    [Fact]
    public void Variant_preferred_when_asked_else_none()
    {
        var index = Index(("linux", "arm64", "v9", 'a'), ("linux", "arm64", null, 'b'), ("linux", "arm64", "v8", 'c'));
        Assert.Equal(D('c'), PlatformSelector.Choose(index, "linux", "arm64", "v8", "img").Digest);
        Assert.Equal(D('b'), PlatformSelector.Choose(index, "linux", "arm64", null, "img").Digest);
    }

    [Fact]
    public void No_match_lists_the_platforms_there_are()
    {
        var index = Index(("linux", "arm64", "v8", 'a'), ("linux", "s390x", null, 'b'), ("unknown", "unknown", null, 'c'));
        var e = Assert.Throws<ImageException>(() => PlatformSelector.Choose(index, "linux", "amd64", null, "host:5000/x:y"));
        Assert.Equal(ImageError.PlatformNotFound, e.Kind);
        Assert.Equal("host:5000/x:y has no manifest for linux/amd64; it has: linux/arm64/v8, linux/s390x", e.Message);
    }

    [Fact]
    public void Media_type_is_read_from_the_document_when_the_header_is_generic()
    {
        Assert.Equal(MediaTypes.OciIndex, OciJson.MediaTypeOf(Utf8("""{"schemaVersion":2,"x":{"mediaType":"no"},"mediaType":"application/vnd.oci.image.index.v1+json"}""")));
        Assert.Null(OciJson.MediaTypeOf(Utf8("""{"schemaVersion":2}""")));
        Assert.Null(OciJson.MediaTypeOf(Utf8("""[1]""")));
        Assert.Null(OciJson.MediaTypeOf(Utf8("""{"mediaType":""")));
    }

    [Fact]
    public void Layer_media_type_from_the_first_bytes()
    {
        Assert.Equal(MediaTypes.OciLayerGzip, MediaTypes.LayerTypeFor([0x1f, 0x8b, 8, 0], docker: false));
        Assert.Equal(MediaTypes.OciLayerZstd, MediaTypes.LayerTypeFor([0x28, 0xb5, 0x2f, 0xfd], docker: false));
        Assert.Equal(MediaTypes.OciLayer, MediaTypes.LayerTypeFor("abcd"u8, docker: false));
        Assert.Equal(MediaTypes.DockerLayerGzip, MediaTypes.LayerTypeFor([0x1f, 0x8b], docker: true));
    }
}
