using Hcs.Schema.Oci;

namespace Hcs.Tests.Integration.Support;

/// <summary>
/// Drives the installed runhcs binary (the NativeAOT build, as podman and containerd use it)
/// with a state root of its own, so tests never see each other's containers. Everything a test
/// created is deleted (--force) when it is disposed.
/// </summary>
public sealed class Runtime : IDisposable
{
    public static string Binary =>
        Environment.GetEnvironmentVariable("HCS_RUNHCS") is { Length: > 0 } p ? p : "/usr/local/bin/runhcs";

    public string Root { get; } = Path.Combine("/run/hcs-tests", Guid.NewGuid().ToString("N")[..12]);
    private readonly HashSet<string> _ids = [];

    public Runtime()
    {
        if (!File.Exists(Binary))
            throw new InvalidOperationException($"{Binary} is missing: run scripts/build.sh (it installs runhcs) or set HCS_RUNHCS");
        Directory.CreateDirectory(Root);
    }

    /// <summary>runhcs --root ROOT args...</summary>
    public CommandResult Run(params string[] args) => RunWithInput(null, args);

    public CommandResult RunWithInput(string? stdin, params string[] args)
    {
        TrackIds(args);
        if (stdin is null && Detaches(args)) return Tools.RunDetached(Binary, ["--root", Root, .. args]);
        return Tools.Run(Binary, ["--root", Root, .. args], stdin);
    }

    /// <summary>create, run -d and exec -d leave processes holding the command's stdio.</summary>
    private static bool Detaches(string[] args)
    {
        int i = Array.FindIndex(args, a => !a.StartsWith('-'));
        if (i < 0) return false;
        return args[i] == "create" || (args[i] is "run" or "exec" && args.Any(a => a is "-d" or "--detach"));
    }

    /// <summary>Like Run, but the command must succeed.</summary>
    public CommandResult Ok(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, $"runhcs {string.Join(' ', args)} failed:\n{r}");
        return r;
    }

    public string Status(string id)
    {
        var r = Ok("state", id);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        return doc.RootElement.GetProperty("status").GetString()!;
    }

    public int Pid(string id)
    {
        var r = Ok("state", id);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        return doc.RootElement.GetProperty("pid").GetInt32();
    }

    private void TrackIds(string[] args)
    {
        // the container id is the first positional argument after create/run
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is not ("create" or "run")) continue;
            for (int j = i + 1; j < args.Length; j++)
            {
                if (args[j] is "--bundle" or "-b" or "--pid-file" or "--console-socket" or "--preserve-fds") { j++; continue; }
                if (args[j].StartsWith('-')) continue;
                _ids.Add(args[j]);
                break;
            }
            break;
        }
    }

    public void Dispose()
    {
        foreach (var id in _ids)
        {
            try { Tools.Run(Binary, ["--root", Root, "delete", "--force", id], timeoutMs: 20_000); }
            catch (TimeoutException) { }
        }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    public static string NewId(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(24, prefix.Length + 17)];
}

/// <summary>
/// An OCI bundle with a busybox rootfs (Debian's busybox-static) and the config `runhcs spec`
/// writes, changed through <see cref="Spec"/> and saved with <see cref="Save"/>.
/// </summary>
public sealed class TestBundle : IDisposable
{
    private static readonly string Template = BuildTemplate();
    public string Dir { get; } = Path.Combine("/tmp/hcs-it", Guid.NewGuid().ToString("N")[..12]);
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public Spec Spec { get; private set; }

    public TestBundle(params string[] args)
    {
        Directory.CreateDirectory(Dir);
        Tools.Sh($"cp -a {Template}/rootfs {Dir}/rootfs").ExitCode.ShouldBe(0, "copy rootfs");
        Spec = OciJson.ReadSpec(File.ReadAllBytes(Path.Combine(Template, "config.json")), "template");
        Spec.Process!.Terminal = false;
        Spec.Process.Args = args.Length > 0 ? [.. args] : ["true"];
        Spec.Hostname = "busybox";
        Spec.Root!.Readonly = false; // tests write marker files into the rootfs; read-only root has its own tests
        Save();
    }

    public TestBundle Save()
    {
        File.WriteAllBytes(Path.Combine(Dir, "config.json"), OciWriter.ToUtf8(Spec, indented: true));
        return this;
    }

    /// <summary>Changes the spec and saves it.</summary>
    public TestBundle With(Action<Spec> change)
    {
        change(Spec);
        return Save();
    }

    private static string BuildTemplate()
    {
        var dir = Path.Combine("/tmp/hcs-it", "template-" + Environment.ProcessId);
        if (Directory.Exists(Path.Combine(dir, "rootfs"))) return dir;
        var script = FindRepoFile("scripts/make-bundle.sh");
        var path = $"{Path.GetDirectoryName(Runtime.Binary)}:/usr/sbin:/usr/bin:/sbin:/bin";
        var r = Tools.Run("/bin/sh", [script, dir], env: new Dictionary<string, string> { ["PATH"] = path });
        r.ExitCode.ShouldBe(0, $"make-bundle.sh: {r}");
        return dir;
    }

    public static string FindRepoFile(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"cannot find {relative} above {AppContext.BaseDirectory}");
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public static class AssertExtensions
{
    public static void ShouldBe(this int actual, int expected, string what) =>
        Assert.True(actual == expected, $"{what}: expected {expected}, got {actual}");
}
