using System.Formats.Tar;
using System.Net;
using System.Text;
using System.Text.Json;
using Hcs.Client;
using Hcs.Schema.Hcs;
using Hcs.Schema.Images;
using Hcs.Tests.Integration.Cli;
using Hcs.Tests.Api;
using Hcs.Tests.Integration.Support;
using Oci = Hcs.Schema.Oci;
using ComputeSystem = Hcs.Schema.Hcs.ComputeSystem;

namespace Hcs.Tests.Integration.Images;

/// <summary>
/// The image store as hcsd serves it (docs/design/0006, the /v2/images and /v2/layers routes of
/// 0003), driven through Hcs.Client, raw HTTP and the hcs CLI: import the busybox image
/// scripts/busybox-image.sh makes (as setup does), run containers from it, commit, export,
/// re-import, remove, prune; and bad input refused with the error name and path.
/// </summary>
public sealed class ImageApiTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly Lazy<string> BusyboxArchive = new(MakeBusyboxArchive);

    /// <summary>scripts/busybox-image.sh's OCI layout tar, made once per test run.</summary>
    public static string BusyboxTar => BusyboxArchive.Value;

    private static string MakeBusyboxArchive()
    {
        var path = Path.Combine("/run/hcs-tests", $"busybox-image-{Environment.ProcessId}.tar");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory("/run/hcs-tests");
        var r = Tools.Run(OpenApiContract.FindRepoFile("scripts/busybox-image.sh"), [path]);
        Assert.True(r.ExitCode == 0, "scripts/busybox-image.sh failed:\n" + r);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(path);
        return path;
    }

    private static async Task<ImageDetails> ImportBusyboxAsync(HostComputeService hcs, string reference = "busybox")
    {
        await using var tar = File.OpenRead(BusyboxTar);
        return await hcs.Images.ImportAsync(tar, reference);
    }

    private static ComputeSystem ImageDocument(string image, params string[] args) => new()
    {
        SchemaVersion = new SchemaVersion { Major = 2, Minor = 1 },
        Owner = "tests",
        Container = new Container
        {
            Storage = new Storage { Image = image },
            OciSpecification = args.Length == 0 ? null : new Oci.Spec
            {
                OciVersion = "1.0.2",
                Process = new Oci.Process { Args = [.. args], Cwd = "/", Env = ["PATH=/bin"] },
            },
        },
    };

    private static async Task<(int Code, string Output)> RunToEndAsync(HostComputeService hcs, string id, ComputeSystem doc)
    {
        await using var system = await hcs.CreateComputeSystemAsync(id, doc);
        await system.StartAsync();
        var exit = await system.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var output = new StringBuilder();
        await foreach (var e in system.GetLogsAsync(follow: false)) output.Append(e.Data);
        await system.DeleteAsync();
        return (exit.ExitCode ?? -1, output.ToString());
    }

    [RootFact]
    public async Task An_imported_image_is_listed_inspected_and_runs_with_its_own_scratch()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var image = await ImportBusyboxAsync(hcs);
        Assert.Equal(["docker.io/library/busybox:latest"], image.RepoTags);
        Assert.StartsWith("sha256:", image.Id);
        Assert.Equal(["sh"], image.Config.Cmd);
        Assert.Single(image.Layers);
        Assert.True(File.Exists(Path.Combine(image.LayerPaths[0], "bin/busybox")), "the layer is not unpacked where LayerPaths says");

        var listed = Assert.Single(await hcs.Images.ListAsync());
        Assert.Equal(image.Id, listed.Id);
        Assert.True(listed.Size > 500_000, $"size {listed.Size}");
        Assert.Equal(image.Id, (await hcs.Images.InspectAsync("docker.io/library/busybox")).Id);
        Assert.Equal(image.Id, (await hcs.Images.InspectAsync(image.Id)).Id);

        // no Storage.Path: hcsd gives the container a scratch; what it writes stays its own
        var (code, output) = await RunToEndAsync(hcs, "img-a", ImageDocument("busybox", "sh", "-c", "echo written > /new && cat /new && rm /bin/ls && echo gone"));
        Assert.True(code == 0, output);
        Assert.Equal("written\ngone\n", output);
        Assert.True(File.Exists(Path.Combine(image.LayerPaths[0], "bin/ls")), "a container changed the image's layer");
        var (code2, output2) = await RunToEndAsync(hcs, "img-b", ImageDocument("busybox", "sh", "-c", "test -e /new || echo clean; test -e /bin/ls && echo ls"));
        Assert.Equal(0, code2);
        Assert.Equal("clean\nls\n", output2);
        Assert.False(Directory.Exists(Path.Combine(d.StateDir, "containers", "img-a")), "hcsd's scratch for img-a outlived it");
    }

    [RootFact]
    public async Task Commit_makes_an_image_of_the_changes_deletions_included_and_export_import_keeps_its_digests()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var busybox = await ImportBusyboxAsync(hcs);

        await using (var system = await hcs.CreateComputeSystemAsync("to-commit",
                         ImageDocument("busybox", "sh", "-c", "mkdir -p /app && echo v1 > /app/version && rm /bin/vi")))
        {
            await system.StartAsync();
            Assert.Equal(0, (await system.WaitForExitAsync(TimeSpan.FromSeconds(60))).ExitCode);
            var committed = await system.CommitAsync("mine:1", author: "tests", comment: "add /app");
            Assert.Equal(["docker.io/library/mine:1"], committed.RepoTags);
            Assert.Equal(2, committed.Layers.Count);
            Assert.Equal(busybox.Layers[0], committed.Layers[0]);
            Assert.Equal("tests", committed.Author);
            await system.DeleteAsync();
        }
        var (code, output) = await RunToEndAsync(hcs, "from-commit",
            ImageDocument("mine:1", "sh", "-c", "cat /app/version; test -e /bin/vi && echo vi-still-there || echo vi-gone"));
        Assert.True(code == 0, output);
        Assert.Equal("v1\nvi-gone\n", output);

        // export → import under another name: the same image (config and manifest digests)
        var tar = Path.Combine(d.Dir, "mine.tar");
        await using (var file = File.Create(tar)) await hcs.Images.ExportAsync("mine:1", file);
        using (var reader = new TarReader(File.OpenRead(tar)))
        {
            var names = new List<string>();
            while (reader.GetNextEntry() is { } e) names.Add(e.Name.TrimStart('.', '/'));
            Assert.Contains("oci-layout", names);
            Assert.Contains("index.json", names);
        }
        await hcs.Images.RemoveAsync("mine:1");
        await hcs.Images.PruneAsync();
        await using var again = File.OpenRead(tar);
        var reimported = await hcs.Images.ImportAsync(again, "mine:again");
        var before = await hcs.Images.InspectAsync("busybox");
        Assert.Equal(2, reimported.Layers.Count);
        Assert.Equal(before.Layers[0], reimported.Layers[0]); // the busybox layer was shared, not stored twice
        Assert.Equal(2, (await hcs.Images.ListLayersAsync()).Count);
    }

    [RootFact]
    public async Task An_image_in_use_is_not_removed_and_prune_frees_only_what_nothing_uses()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var image = await ImportBusyboxAsync(hcs);
        await using var system = await hcs.CreateComputeSystemAsync("user", ImageDocument("busybox"));
        await system.StartAsync();

        var refused = await Assert.ThrowsAsync<HcsException>(() => hcs.Images.RemoveAsync("busybox"));
        Assert.Equal(HcsError.InvalidState.Name, refused.Error.Name);
        await hcs.Images.RemoveAsync("busybox", force: true);
        Assert.Empty(await hcs.Images.ListAsync());
        await hcs.Images.PruneAsync();
        var layer = Assert.Single(await hcs.Images.ListLayersAsync());
        Assert.Equal(1, layer.References); // the running container keeps its layer
        Assert.True(Directory.Exists(layer.Path));

        await system.TerminateAsync();
        await system.DeleteAsync();
        var pruned = await hcs.Images.PruneAsync();
        Assert.Contains(image.Layers[0], pruned.LayersDeleted);
        Assert.Empty(await hcs.Images.ListLayersAsync());
        Assert.False(Directory.Exists(layer.Path), "prune left the layer directory");
    }

    [RootFact]
    public async Task A_restarted_hcsd_keeps_the_leases_of_its_systems_and_drops_the_others()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var image = await ImportBusyboxAsync(hcs);
        await using (var system = await hcs.CreateComputeSystemAsync("keeper", ImageDocument("busybox")))
            await system.StartAsync();
        var leases = Path.Combine(d.StateDir, "images", "leases");
        var scratches = Path.Combine(d.StateDir, "containers");
        // what a daemon killed between the monitor's delete and its own bookkeeping leaves
        File.WriteAllLines(Path.Combine(leases, "gone"), image.Layers);
        Directory.CreateDirectory(Path.Combine(scratches, "gone", "upper"));

        await d.KillAsync(); // kill -9: the container lives on in hcs-monitor
        await d.RestartAsync();
        Assert.True(File.Exists(Path.Combine(leases, "keeper")), "the running system lost its lease");
        Assert.False(File.Exists(Path.Combine(leases, "gone")), "a lease of no system survived the restart");
        Assert.False(Directory.Exists(Path.Combine(scratches, "gone")), "a scratch of no system survived the restart");
        await hcs.Images.RemoveAsync("busybox", force: true);
        await hcs.Images.PruneAsync();
        Assert.Single(await hcs.Images.ListLayersAsync()); // still held by "keeper"

        await using var again = await hcs.OpenComputeSystemAsync("keeper");
        await again.TerminateAsync();
        await again.DeleteAsync();
        Assert.False(Directory.Exists(Path.Combine(scratches, "keeper")));
        await hcs.Images.PruneAsync();
        Assert.Empty(await hcs.Images.ListLayersAsync());
    }

    [RootFact]
    public async Task Layers_are_imported_exported_and_removed_through_v2_layers()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var tar = new MemoryStream();
        using (var w = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "etc/") { Mode = (UnixFileMode)0x1ed });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "etc/motd") { DataStream = new MemoryStream("hi\n"u8.ToArray()), Mode = (UnixFileMode)0x1a4 });
        }
        tar.Position = 0;
        var layer = await hcs.Images.ImportLayerAsync(tar);
        Assert.Equal(layer.DiffId, layer.ChainId); // a base layer: chain ID = diff ID
        Assert.Equal("hi\n", File.ReadAllText(Path.Combine(layer.Path, "etc/motd")));

        // export regenerates the tar from the unpacked layer (docs 0006), so the first export
        // need not be the imported bytes; but export is the inverse of import from then on
        var first = new MemoryStream();
        await hcs.Images.ExportLayerAsync(layer.ChainId, first);
        first.Position = 0;
        var again = await hcs.Images.ImportLayerAsync(first);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(first.ToArray())), again.DiffId);
        Assert.Equal("hi\n", File.ReadAllText(Path.Combine(again.Path, "etc/motd")));
        var second = new MemoryStream();
        await hcs.Images.ExportLayerAsync(again.ChainId, second);
        Assert.Equal(first.ToArray(), second.ToArray());
        if (again.ChainId != layer.ChainId)
            using (var r = await d.Http.DeleteAsync($"v2/layers/{again.ChainId}")) Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);

        using var deleted = await d.Http.DeleteAsync($"v2/layers/{layer.ChainId}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var gone = await d.Http.GetAsync($"v2/layers/{layer.ChainId}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal(HcsError.LayerNotFound.Name, gone.Headers.GetValues("Hcs-Error").Single());
    }

    [RootFact]
    public async Task Bad_input_is_refused_with_the_error_name_and_path_and_leaves_nothing()
    {
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);

        async Task<JsonElement> Refused(HttpResponseMessage r, HttpStatusCode status, string error)
        {
            var body = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == status, $"{(int)r.StatusCode} {body}");
            using var doc = JsonDocument.Parse(body);
            Assert.Equal(error, doc.RootElement.GetProperty("Error").GetString());
            return doc.RootElement.Clone();
        }

        var unknown = await Refused(await d.Http.GetAsync("v2/images/inspect?reference=nothing-here"), HttpStatusCode.NotFound, HcsError.ImageNotFound.Name);
        Assert.Contains("nothing-here", unknown.GetProperty("Message").GetString());
        var badRef = await Refused(await d.Http.GetAsync("v2/images/inspect?reference=UPPER/Case"), HttpStatusCode.BadRequest, HcsError.InvalidJson.Name);
        Assert.Equal("reference", badRef.GetProperty("Path").GetString());
        await Refused(await d.Http.GetAsync("v2/images/inspect"), HttpStatusCode.BadRequest, HcsError.InvalidJson.Name);
        var field = await Refused(await d.Http.PostAsync("v2/images/pull", Hcsd.Body("""{"Reference":"busybox","Tag":"x"}""")), HttpStatusCode.BadRequest, HcsError.InvalidJson.Name);
        Assert.Equal("$.Tag", field.GetProperty("Path").GetString());
        await Refused(await d.Http.PostAsync("v2/images/pull", Hcsd.Body("""{"Reference":5}""")), HttpStatusCode.BadRequest, HcsError.InvalidJson.Name);

        // an archive that is not one: refused, nothing stored
        var garbage = new ByteArrayContent(Encoding.UTF8.GetBytes(new string('x', 10_000)));
        garbage.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-tar");
        var ex = await Assert.ThrowsAsync<HcsException>(async () => await hcs.Images.ImportAsync(new MemoryStream(new byte[10_000]), "junk"));
        Assert.Equal(HcsError.InvalidLayer.Name, ex.Error.Name);
        await Refused(await d.Http.PostAsync("v2/layers", garbage), HttpStatusCode.BadRequest, HcsError.InvalidLayer.Name);
        Assert.Empty(await hcs.Images.ListAsync());
        Assert.Empty(await hcs.Images.ListLayersAsync());

        // a container naming an image the store does not have: refused at its JSON path, nothing created
        var noImage = await Assert.ThrowsAsync<HcsException>(() => hcs.CreateComputeSystemAsync("ghost", ImageDocument("not-pulled:1")));
        Assert.Equal("$.Document.Container.Storage.Image", noImage.Path);
        Assert.Empty(await hcs.ListComputeSystemsAsync());
    }

    /// <summary>The busybox image in a real registry (Debian's docker-registry on 127.0.0.1, filled
    /// by skopeo), pulled through hcsd: with progress through Hcs.Client, and by the CLI.</summary>
    [RootFact]
    public async Task Images_are_pulled_through_hcsd_with_progress_and_run_pulls_what_is_missing()
    {
        if (TestRegistry.Missing() is { } why)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        using var registry = new TestRegistry();
        var layout = Path.Combine("/run/hcs-tests", "bb-layout-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(layout);
        try
        {
            Tools.Run("tar", ["-C", layout, "-xf", BusyboxTar]);
            registry.Push(layout, "latest", "tools/bb:1");
        }
        finally
        {
            Directory.Delete(layout, recursive: true);
        }
        await using var d = await Hcsd.StartAsync();
        await using var hcs = new HostComputeService(d.SocketPath);
        var reference = $"{registry.Host}/tools/bb:1";
        var lines = new List<ImageProgress>();
        var image = await hcs.Images.PullAsync(reference, new Recorder(lines));
        Assert.Equal([reference], image.RepoTags);
        Assert.Contains(lines, l => l.Status == ImageProgressStatus.Downloading && l.Layer is not null);
        Assert.Contains(lines, l => l.Status == ImageProgressStatus.Done && l.Total > 0);
        // the pull returns once every blob is verified; hcsd unpacks them after, and says when
        var unpacked = await hcs.Images.InspectAsync(reference, unpacked: true);
        Assert.True(File.Exists(Path.Combine(unpacked.LayerPaths[0], "bin/busybox")), "inspect ?unpacked=true answered before the layer was there");
        var (code, text) = await RunToEndAsync(hcs, "pulled", ImageDocument(reference, "sh", "-c", "echo from the registry"));
        Assert.True(code == 0, text);
        Assert.Equal("from the registry\n", text);

        // pulled again: nothing is fetched, every layer is there already
        lines.Clear();
        await hcs.Images.PullAsync(reference, new Recorder(lines));
        Assert.DoesNotContain(lines, l => l.Status == ImageProgressStatus.Downloading);

        // the CLI: plain progress lines when stderr is not a terminal, and `run` pulls a missing image
        await hcs.Images.RemoveAsync(reference);
        await hcs.Images.PruneAsync();
        var cli = new HcsCli(d);
        var run = cli.Run("run", "--rm", reference, "echo", "auto-pulled");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("auto-pulled\n", run.Stdout);
        Assert.Contains("Unable to find image", run.Stderr);
        var pull = cli.Ok("image", "pull", reference);
        Assert.Contains(image.ManifestDigest, pull.Stdout);
        var unknown = cli.Run("image", "pull", $"{registry.Host}/tools/none:1");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("HCS_E_", unknown.Stderr);
    }

    private sealed class Recorder(List<ImageProgress> lines) : IProgress<ImageProgress>
    {
        public void Report(ImageProgress value)
        {
            lock (lines) lines.Add(value);
        }
    }

    [RootFact]
    public async Task Cli_runs_an_image_with_its_defaults_and_manages_images()
    {
        await using var d = await Hcsd.StartAsync();
        var cli = new HcsCli(d);
        var loaded = cli.Ok("image", "import", BusyboxTar, "--reference", "busybox");
        Assert.Contains("docker.io/library/busybox:latest", loaded.Stdout);

        var hi = cli.Run("run", "--rm", "busybox", "echo", "hi");
        Assert.True(hi.ExitCode == 0, hi.ToString());
        Assert.Equal("hi\n", hi.Stdout);
        // the image's Cmd is the default command; its Env the base of -e
        var env = cli.Run("run", "--rm", "-e", "A=b", "busybox", "sh", "-c", "echo $PATH $A");
        Assert.Equal("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin b\n", env.Stdout);
        var nobody = cli.Run("run", "--rm", "-u", "nobody", "busybox", "id", "-u");
        Assert.Equal("65534\n", nobody.Stdout);

        var ls = cli.Ok("image", "ls");
        Assert.Contains("busybox", ls.Stdout);
        Assert.Contains("latest", ls.Stdout);
        using (var inspect = JsonDocument.Parse(cli.Ok("image", "inspect", "busybox").Stdout))
            Assert.Equal("sh", inspect.RootElement.GetProperty("Config").GetProperty("Cmd")[0].GetString());

        var id = HcsCli.NewName("c");
        cli.Ok("run", "--name", id, "busybox", "sh", "-c", "echo committed > /mark");
        cli.Ok("commit", id, "marked:2");
        cli.Ok("rm", id);
        Assert.Equal("committed\n", cli.Ok("run", "--rm", "marked:2", "cat", "/mark").Stdout);

        var tar = Path.Combine(d.Dir, "marked.tar");
        cli.Ok("image", "export", "marked:2", "-o", tar);
        Assert.True(new FileInfo(tar).Length > 1000);
        cli.Ok("image", "rm", "marked:2");
        Assert.DoesNotContain("marked", cli.Ok("image", "ls").Stdout);
        var pruned = cli.Ok("image", "prune");
        Assert.Contains("Deleted layer", pruned.Stdout);

        var missing = cli.Run("image", "inspect", "nope:1");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("HCS_E_IMAGE_NOT_FOUND", missing.Stderr);
    }
}
