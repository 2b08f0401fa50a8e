using Hcs.Linux.Containers;
using Hcs.Linux.Native;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Engine;

/// <summary>hcs-pause as the init of a container with no process of its own, run from the host
/// through the spawn plan's exec_fd (CreateOptions.InitExecPath): the image does not have it.</summary>
public sealed class PauseInitTests(ITestOutputHelper output) : IDisposable
{
    private readonly EngineHarness _h = new();

    public void Dispose() => _h.Dispose();

    /// <summary>The freshly built one (artifacts/native, made by the .NET build), else the
    /// installed one; null (the test says why and returns) if neither exists.</summary>
    public static string? PausePath()
    {
        try { return TestBundle.FindRepoFile("artifacts/native/hcs-pause"); }
        catch (FileNotFoundException) { }
        return File.Exists("/usr/local/lib/hcs/hcs-pause") ? "/usr/local/lib/hcs/hcs-pause" : null;
    }

    private string? Pause()
    {
        var p = PausePath();
        if (p is null) output.WriteLine("SKIP: no hcs-pause (build native/ or run scripts/build.sh)");
        return p;
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    [InlineData(1)]  // SIGHUP
    public void Pause_runs_as_pid_1_from_the_host_and_exits_0_on_a_stop_signal(int signal)
    {
        if (!Environment.IsPrivilegedProcess) { output.WriteLine("SKIP: needs root"); return; }
        if (Pause() is not { } pause) return;
        using var b = new TestBundle("hcs-pause");
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "hcs-pause")) || File.Exists(Path.Combine(b.Rootfs, "bin/hcs-pause")),
                     "the image must not contain the pause binary for this test to mean anything");
        var record = _h.Run(b, initExecPath: pause);

        // the kernel's view: the host file runs, as PID 1 of the container's pid namespace
        Assert.Equal(Path.GetFullPath(pause), new FileInfo($"/proc/{record.Pid}/exe").LinkTarget);
        Assert.EndsWith("\t1", Status(record.Pid, "NSpid").Replace(' ', '\t'));
        Assert.Equal("hcs-pause", File.ReadAllText($"/proc/{record.Pid}/cmdline").TrimEnd('\0'));
        int rssKb = int.Parse(Status(record.Pid, "VmRSS").Split(' ')[0]);
        output.WriteLine($"hcs-pause VmRSS {rssKb} kB");
        Assert.InRange(rssKb, 1, 2048);

        // asleep, not spinning: blocked in sigwaitinfo
        Thread.Sleep(200);
        Assert.Equal('S', File.ReadAllText($"/proc/{record.Pid}/stat").Split(") ")[1][0]);

        _h.Engine.Kill(record.Id, signal, all: false);
        int status = EngineHarness.WaitForExit(record.Pid, 10_000);
        Assert.True(status == 0, $"hcs-pause should exit 0 on signal {signal}, wait status {status:x}");
    }

    [RootFact]
    public void Pause_reaps_the_orphans_of_exec_d_processes()
    {
        if (Pause() is not { } pause) return;
        using var b = new TestBundle("hcs-pause");
        var record = _h.Run(b, initExecPath: pause);

        // sh exits at once; its background sleep is orphaned and reparented to the namespace's init
        var r = _h.ExecOk(record.Id, "sh", "-c", "sleep 100 </dev/null >/dev/null 2>&1 & echo $!");
        output.WriteLine(r.ToString());
        int orphan = 0;
        Tools.WaitUntil(() => (orphan = ChildrenOf(record.Pid).FirstOrDefault(c => c.Comm == "sleep").Pid) != 0,
                        "the orphaned sleep to become a child of hcs-pause");
        Assert.EndsWith("\t" + r.Stdout.Trim(), Status(orphan, "NSpid").Replace(' ', '\t'));

        Libc.Kill(orphan, 9);
        // a child nobody reaps stays a zombie (state Z) for ever; reaped, it is gone from /proc
        Tools.WaitUntil(() => !Directory.Exists($"/proc/{orphan}"), "hcs-pause to reap the killed orphan");
        Assert.Empty(ChildrenOf(record.Pid));
        Assert.True(Directory.Exists($"/proc/{record.Pid}"), "hcs-pause keeps running after reaping");
    }

    [RootFact]
    public void Init_exec_path_failures_name_the_file_and_leave_nothing()
    {
        using var b = new TestBundle("hcs-pause");
        var missing = Path.Combine(b.Dir, "no-such-binary");
        var id = Runtime.NewId("e");
        var e = Assert.Throws<SpawnException>(() => _h.Engine.Create(id, b.Dir, new CreateOptions
        {
            StdioFds = _h.DevNull,
            InitExecPath = missing,
        }));
        Assert.Equal($"open executable {missing}: No such file or directory", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_h.Root, id)));

        // opened fine, refused by execveat in the container: reported as exec failures are
        var notExecutable = Path.Combine(b.Dir, "not-executable");
        File.WriteAllText(notExecutable, "\x7fELF");
        e = Assert.Throws<SpawnException>(() => _h.Run(b, initExecPath: notExecutable));
        output.WriteLine(e.Message);
        Assert.Equal(SpawnAbi.Area.Exec, e.Area);
        Assert.Equal("$.process.args[0]: execveat hcs-pause: Permission denied", e.Message);
    }

    [Fact]
    public void Pause_binary_is_static()
    {
        if (Pause() is not { } pause) return;
        // ELF64: e_phoff at 0x20, e_phentsize at 0x36, e_phnum at 0x38; PT_INTERP (3) names the
        // dynamic loader, which a static binary does not have
        var elf = File.ReadAllBytes(pause);
        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F', 2], elf[..5]);
        long phoff = BitConverter.ToInt64(elf, 0x20);
        int phentsize = BitConverter.ToUInt16(elf, 0x36), phnum = BitConverter.ToUInt16(elf, 0x38);
        Assert.True(phnum > 0);
        for (int k = 0; k < phnum; k++)
            Assert.NotEqual(3u, BitConverter.ToUInt32(elf, (int)(phoff + k * phentsize)));
    }

    /// <summary>Children of pid on the host: (pid, comm, state) from /proc/*/stat.</summary>
    private static List<(int Pid, string Comm, char State)> ChildrenOf(int parent)
    {
        var found = new List<(int, string, char)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (IOException) { continue; } // exited while we looked
            int open = stat.IndexOf('('), close = stat.LastIndexOf(')');
            var rest = stat[(close + 2)..].Split(' ');
            if (int.Parse(rest[1]) == parent) found.Add((pid, stat[(open + 1)..close], rest[0][0]));
        }
        return found;
    }
}
