using System.Runtime.InteropServices;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Daemon;

/// <summary>
/// Descriptors left open (without close-on-exec) by whoever started hcsd, e.g. flock(1)'s lock
/// around a test run, must not reach hcs-monitor: the monitor lives on after hcsd, and a
/// container init forked from it holds all of the monitor's descriptors until its start. A
/// leaked lock held that way blocked every later holder of the lock. Container processes hold
/// only their stdio.
/// </summary>
public sealed class DescriptorTests
{
    private const int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int cmd, int arg);

    [RootFact]
    public async Task DescriptorsInheritedByHcsd_DoNotReachTheMonitorOrContainers()
    {
        var marker = Path.Combine("/run/hcs-tests", "inherited-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(marker, "");
        Hcsd? d = null;
        try
        {
            using (var handle = File.OpenHandle(marker))
            {
                // .NET opens everything close-on-exec: make this one inheritable, as flock(1) does
                int fd = (int)handle.DangerousGetHandle();
                Assert.Equal(0, Fcntl(fd, F_SETFD, 0));
                Assert.Equal(0, Fcntl(fd, F_GETFD, 0) & FD_CLOEXEC);
                d = await Hcsd.StartAsync();
            }
            Assert.True(OpenFiles(d.Pid).Contains(marker), "the test's descriptor did not even reach hcsd: the test proves nothing");
            Assert.DoesNotContain(marker, OpenFiles(d.MonitorPid));

            var id = DaemonApi.NewId("fds");
            var created = (await d.CreateSystemAsync(id, Hcsd.ContainerDocument())).Expect(201)!;
            var init = created["InitProcessId"]!.GetValue<int>();
            Assert.DoesNotContain(marker, OpenFiles(init)); // forked from the monitor, not yet exec'd

            (await d.PostAsync($"v2/compute-systems/{id}/start")).Expect(200);
            var sleeper = await d.ExecAsync(id, "sleep", "1000");
            foreach (var pid in new[] { init, sleeper })
            {
                var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(f => int.Parse(Path.GetFileName(f))).Order().ToList();
                Assert.True(fds.SequenceEqual([0, 1, 2]), $"process {pid} holds descriptors {string.Join(",", fds)}, not just stdio");
            }
            (await d.DeleteAsync($"v2/compute-systems/{id}?force=true")).Expect(204);
        }
        finally
        {
            if (d is not null) await d.DisposeAsync();
            File.Delete(marker);
        }
    }

    /// <summary>hcsd reads no appsettings file, so it must not watch for one. ASP.NET's default
    /// watches the content root (the working directory, / here as under a service manager)
    /// recursively: 14,000 inotify watches, and an event for every file written on the host.</summary>
    [RootFact]
    public async Task Hcsd_started_from_the_root_directory_watches_no_files()
    {
        await using var d = await Hcsd.StartAsync();
        Assert.Equal("/", new DirectoryInfo($"/proc/{d.Pid}/cwd").LinkTarget);
        var watches = Directory.GetFileSystemEntries($"/proc/{d.Pid}/fdinfo")
            .Sum(f => { try { return File.ReadLines(f).Count(l => l.StartsWith("inotify wd:", StringComparison.Ordinal)); } catch (IOException) { return 0; } });
        Assert.Equal(0, watches);
    }

    private static List<string> OpenFiles(int pid)
    {
        var files = new List<string>();
        foreach (var fd in Directory.GetFileSystemEntries($"/proc/{pid}/fd"))
        {
            try { files.Add(new FileInfo(fd).LinkTarget ?? ""); }
            catch (IOException) { }
        }
        return files;
    }
}
