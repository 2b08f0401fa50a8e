using System.CommandLine;
using Hcs.Client;
using Hcs.Schema.Hcs;
using Hcs.Schema.Images;

namespace Hcs.Cli;

/// <summary>hcs image pull|import|export|ls|inspect|rm|prune|tag, and hcs commit: the image store
/// through hcsd (docs/design/0006-layers-and-images.md).</summary>
internal static class Images
{
    public static Command Build(Func<ParseResult, CancellationToken, Func<Globals, CancellationToken, Task<int>>, Task<int>> guard)
    {
        var image = new Command("image", "Manage images: pull, import, export, list, inspect, remove, prune");

        var pullRef = new Argument<string>("IMAGE") { Description = "a reference, e.g. busybox, registry:5000/app:1.0, name@sha256:..." };
        var user = new Option<string?>("--username") { Description = "registry user (basic auth, or for a bearer token)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "read the registry password from standard input" };
        var pull = new Command("pull", "Pull an image from its registry") { pullRef, user, passwordStdin };
        pull.SetAction((r, ct) => guard(r, ct, (g, ct) =>
        {
            string? password = null;
            if (r.GetValue(passwordStdin))
            {
                if (r.GetValue(user) is null) throw new UsageException("--password-stdin needs --username");
                password = Console.In.ReadToEnd().TrimEnd('\r', '\n');
            }
            return Pull(g, r.GetValue(pullRef)!, r.GetValue(user), password, ct);
        }));

        var importFile = new Argument<string>("FILE") { Description = "an OCI image layout tar or a `docker save` tar; - for standard input" };
        var importRef = new Option<string?>("--reference", "-r") { Description = "the name to give the image (needed when the archive names none)", HelpName = "NAME[:TAG]" };
        var import = new Command("import", "Import an image from an OCI layout tar or a docker save tarball") { importFile, importRef };
        import.SetAction((r, ct) => guard(r, ct, (g, ct) => Import(g, r.GetValue(importFile)!, r.GetValue(importRef), ct)));

        var exportRef = new Argument<string>("IMAGE");
        var output = new Option<string?>("--output", "-o") { Description = "write to this file (default: standard output, if it is not a terminal)", HelpName = "FILE" };
        var export = new Command("export", "Write an image as an OCI image layout tar") { exportRef, output };
        export.SetAction((r, ct) => guard(r, ct, (g, ct) => Export(g, r.GetValue(exportRef)!, r.GetValue(output), ct)));

        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only the image ids" };
        var ls = new Command("ls", "List images") { quiet };
        ls.Aliases.Add("list");
        ls.SetAction((r, ct) => guard(r, ct, (g, ct) => List(g, r.GetValue(quiet), ct)));

        var inspectRefs = new Argument<string[]>("IMAGE") { Arity = ArgumentArity.OneOrMore };
        var inspect = new Command("inspect", "Show an image's details as JSON (config defaults, layers)") { inspectRefs };
        inspect.SetAction((r, ct) => guard(r, ct, (g, ct) => Inspect(g, r.GetValue(inspectRefs)!, ct)));

        var rmRefs = new Argument<string[]>("IMAGE") { Arity = ArgumentArity.OneOrMore };
        var force = new Option<bool>("--force", "-f") { Description = "remove even if a container uses it (its layers stay until the container goes)" };
        var rm = new Command("rm", "Remove images") { rmRefs, force };
        rm.SetAction((r, ct) => guard(r, ct, (g, ct) => Remove(g, r.GetValue(rmRefs)!, r.GetValue(force), ct)));

        var prune = new Command("prune", "Remove untagged images, and every layer and blob nothing uses");
        prune.SetAction((r, ct) => guard(r, ct, Prune));

        var tagSource = new Argument<string>("SOURCE");
        var tagTarget = new Argument<string>("TARGET");
        var tag = new Command("tag", "Give an image another name") { tagSource, tagTarget };
        tag.SetAction((r, ct) => guard(r, ct, async (g, ct) =>
        {
            await using var hcs = g.Connect();
            await hcs.Images.TagAsync(r.GetValue(tagSource)!, r.GetValue(tagTarget)!, ct);
            return 0;
        }));

        image.Add(pull); image.Add(import); image.Add(export); image.Add(ls); image.Add(inspect); image.Add(rm);
        image.Add(prune); image.Add(tag);
        return image;
    }

    public static Command Commit(Func<ParseResult, CancellationToken, Func<Globals, CancellationToken, Task<int>>, Task<int>> guard)
    {
        var id = new Argument<string>("CONTAINER");
        var reference = new Argument<string>("IMAGE") { Description = "the new image's name, e.g. myapp:1.0" };
        var author = new Option<string?>("--author", "-a") { Description = "the author recorded in the image" };
        var message = new Option<string?>("--message", "-m") { Description = "a comment recorded in the image's history" };
        var c = new Command("commit", "Make a new image from a container's changes") { id, reference, author, message };
        c.SetAction((r, ct) => guard(r, ct, async (g, ct) =>
        {
            await using var hcs = g.Connect();
            await using var system = await hcs.OpenComputeSystemAsync(r.GetValue(id)!, ct);
            var image = await system.CommitAsync(r.GetValue(reference)!, r.GetValue(author), r.GetValue(message), ct);
            Output.Line(image.Id);
            return 0;
        }));
        return c;
    }

    // ---- verbs --------------------------------------------------------------------------

    public static async Task<int> Pull(Globals g, string reference, string? username, string? password, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var image = await PullWithProgress(hcs, reference, username, password, ct);
        Output.Line($"{reference}: {image.ManifestDigest}");
        return 0;
    }

    /// <summary>A pull that shows a bar per layer on a terminal (stderr), plain lines otherwise.</summary>
    public static async Task<ImageDetails> PullWithProgress(HostComputeService hcs, string reference, string? username, string? password,
                                                            CancellationToken ct)
    {
        if (Terminal.IsTerminal(2))
            return await ProgressBars.RunAsync(p => hcs.Images.PullAsync(reference, p, username, password, ct));
        var lines = new PlainProgress();
        return await hcs.Images.PullAsync(reference, lines, username, password, ct);
    }

    private static async Task<int> Import(Globals g, string file, string? reference, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        await using var input = file == "-" ? Console.OpenStandardInput() : OpenFile(file);
        ImageDetails image = Terminal.IsTerminal(2)
            ? await ProgressBars.RunAsync(p => hcs.Images.ImportAsync(input, reference, p, ct))
            : await hcs.Images.ImportAsync(input, reference, new PlainProgress(), ct);
        Output.Line(image.RepoTags.Count > 0 ? $"Loaded image: {string.Join(", ", image.RepoTags)}" : $"Loaded image ID: {image.Id}");
        return 0;
    }

    private static FileStream OpenFile(string file)
    {
        if (!File.Exists(file)) throw new UsageException($"{file}: no such file");
        return new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
    }

    private static async Task<int> Export(Globals g, string reference, string? output, CancellationToken ct)
    {
        if (output is null && Output.StdoutIsTerminal)
            throw new UsageException("refusing to write a tar to a terminal: use -o FILE or redirect standard output");
        await using var hcs = g.Connect();
        if (output is null)
        {
            await hcs.Images.ExportAsync(reference, Output.StdoutStream, ct);
            return 0;
        }
        var temp = output + ".partial";
        try
        {
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
                await hcs.Images.ExportAsync(reference, file, ct);
            File.Move(temp, output, overwrite: true); // a failed export leaves no half-written FILE
        }
        finally
        {
            File.Delete(temp);
        }
        return 0;
    }

    private static async Task<int> List(Globals g, bool quiet, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var images = (await hcs.Images.ListAsync(ct)).OrderByDescending(i => i.Created).ToList();
        if (quiet)
        {
            foreach (var i in images) Output.Line(ShortId(i.Id));
            return 0;
        }
        if (g.Json)
        {
            Output.StdoutStream.Write(ImageJson.ToUtf8(images));
            Output.Line("");
            return 0;
        }
        var rows = new List<string[]>();
        foreach (var i in images)
        {
            var names = i.RepoTags.Count > 0 ? i.RepoTags : ["<none>:<none>"];
            foreach (var name in names)
            {
                var (repo, tag) = SplitTag(name);
                rows.Add([repo, tag, ShortId(i.Id), (i.Created is { } c ? Queries.Ago(DateTime.UtcNow - c.ToUniversalTime()) : "N/A"), Queries.Bytes((ulong)i.Size)]);
            }
        }
        Output.Table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows);
        return 0;
    }

    private static async Task<int> Inspect(Globals g, string[] references, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var found = new List<ImageDetails>();
        int status = 0;
        foreach (var r in references)
        {
            try { found.Add(await hcs.Images.InspectAsync(r, ct: ct)); }
            catch (HcsException e) when (e.Error.Name == HcsError.ImageNotFound.Name)
            {
                Output.Error(Commands.FromDaemon(e));
                status = 1;
            }
        }
        Output.StdoutStream.Write(System.Text.Encoding.UTF8.GetBytes(IndentedJson(found)));
        Output.Line("");
        return status;
    }

    private static string IndentedJson(List<ImageDetails> images)
    {
        // ImageJson writes compact; re-indent for people (the API's shapes, unchanged)
        using var doc = System.Text.Json.JsonDocument.Parse(images.Count == 1 ? ImageJson.ToUtf8(images[0]) : ImageJson.ToUtf8(images));
        using var ms = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(ms, new System.Text.Json.JsonWriterOptions { Indented = true }))
            doc.WriteTo(w);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private static async Task<int> Remove(Globals g, string[] references, bool force, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        int status = 0;
        foreach (var r in references)
        {
            try
            {
                await hcs.Images.RemoveAsync(r, force, ct);
                Output.Line($"Untagged: {r}");
            }
            catch (HcsException e) when (e.Error.HttpStatus != 0)
            {
                Output.Error(Commands.FromDaemon(e));
                status = 1;
            }
        }
        return status;
    }

    private static async Task<int> Prune(Globals g, CancellationToken ct)
    {
        await using var hcs = g.Connect();
        var result = await hcs.Images.PruneAsync(ct);
        foreach (var i in result.ImagesDeleted) Output.Line($"Deleted image: {i}");
        foreach (var l in result.LayersDeleted) Output.Line($"Deleted layer: {l}");
        Output.Line($"Total reclaimed space: {Queries.Bytes((ulong)result.SpaceReclaimed)}");
        return 0;
    }

    // ---- helpers ------------------------------------------------------------------------

    public static string ShortId(string id) => (id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..] : id) is var h && h.Length > 12 ? h[..12] : id;

    /// <summary>"docker.io/library/busybox:latest" → ("busybox", "latest"): docker's short names.</summary>
    public static (string Repository, string Tag) SplitTag(string reference)
    {
        var at = reference.IndexOf('@');
        var name = at >= 0 ? reference[..at] : reference;
        int colon = name.LastIndexOf(':');
        string repo = name, tag = at >= 0 ? reference[(at + 1)..] : "<none>";
        if (colon > name.LastIndexOf('/')) (repo, tag) = (name[..colon], name[(colon + 1)..]);
        if (repo.StartsWith("docker.io/library/", StringComparison.Ordinal)) repo = repo["docker.io/library/".Length..];
        else if (repo.StartsWith("docker.io/", StringComparison.Ordinal)) repo = repo["docker.io/".Length..];
        return (repo, tag);
    }

    /// <summary>Progress as lines (not a terminal): one per change of a layer's state, not per byte.</summary>
    private sealed class PlainProgress : IProgress<ImageProgress>
    {
        private readonly Dictionary<string, string> _last = [];

        public void Report(ImageProgress p)
        {
            if (p.Status == ImageProgressStatus.Complete) return;
            var key = p.Layer ?? "";
            lock (_last)
            {
                if (_last.TryGetValue(key, out var was) && was == p.Status) return;
                _last[key] = p.Status;
            }
            var what = p.Layer is { } l ? ShortId(l) + ": " : "";
            var size = p.Total > 0 && p.Status is ImageProgressStatus.Done or ImageProgressStatus.Downloading ? $" ({Queries.Bytes((ulong)p.Total)})" : "";
            Output.Error($"{what}{p.Status}{size}");
        }
    }
}
