using System.Text.Json;
using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>Newer parts of the runtime spec: seccomp user notification, idmapped mounts,
/// execCPUAffinity, and settings runhcs refuses rather than drops.</summary>
public sealed class ExtensionTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    [RootFact]
    public void Seccomp_notify_hands_the_listener_and_the_state_to_the_agent()
    {
        using var b = new TestBundle("sh", "-c", "echo notify-ok");
        using var agent = new ConsoleSocket(b.Dir);
        b.With(s => s.Linux!.Seccomp = new Seccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            ListenerPath = agent.Path,
            ListenerMetadata = "hcs-it-metadata",
            Syscalls = [new SyscallRule { Names = ["mknodat"], Action = "SCMP_ACT_NOTIFY" }],
        });
        var id = Runtime.NewId();
        _rt.Ok("create", "--bundle", b.Dir, id);
        var (fd, payload) = agent.ReceiveFd();
        output.WriteLine(payload);
        try
        {
            Assert.Equal("anon_inode:seccomp notify", new FileInfo($"/proc/self/fd/{fd}").LinkTarget);
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            Assert.Equal("seccompFd", root.GetProperty("fds")[0].GetString());
            Assert.Equal("hcs-it-metadata", root.GetProperty("metadata").GetString());
            Assert.Equal(id, root.GetProperty("state").GetProperty("id").GetString());
            Assert.Equal(_rt.Pid(id), root.GetProperty("pid").GetInt32());
        }
        finally
        {
            Hcs.Linux.Native.Libc.Close(fd);
        }
        _rt.Ok("start", id);
        Tools.WaitUntil(() => _rt.Status(id) == "stopped", "the container to finish");
    }

    [RootFact]
    public void Idmapped_bind_mount_shows_host_ids_through_the_mapping()
    {
        // The mount's user namespace maps containerID -> hostID (uid_map "0 1000 1", as runc
        // builds it): a file owned by 0 on disk is seen as 1000 through the mount, and one owned
        // by an id outside the mapping (1000 on disk) as the overflow id 65534. The container
        // here has no user namespace of its own, so it sees those ids as they are.
        var host = SpecHelpers.HostDir("hcs-idmap");
        try
        {
            File.WriteAllText(Path.Combine(host, "root-owned"), "x");
            File.WriteAllText(Path.Combine(host, "user-owned"), "x");
            Tools.Sh($"chown 0:0 {host}/root-owned && chown 1000:1000 {host}/user-owned").ExitCode.ShouldBe(0, "chown");
            using var b = new TestBundle("stat", "-c", "%n %u:%g", "/data/root-owned", "/data/user-owned").With(s => s.Mounts!.Add(new Mount
            {
                Destination = "/data",
                Type = "bind",
                Source = host,
                Options = ["rbind", "idmap"],
                UidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }],
                GidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }],
            }));
            Assert.Equal("/data/root-owned 1000:1000\n/data/user-owned 65534:65534\n", _rt.RunOk(b));
            // the host's view is untouched: the mapping lives on the container's mount only
            Assert.Equal("0:0\n", Tools.Sh($"stat -c %u:%g {host}/root-owned").Stdout);
        }
        finally
        {
            SpecHelpers.TryDeleteDir(host);
        }
    }

    [RootFact]
    public void Exec_cpu_affinity_final_is_what_the_program_runs_with()
    {
        using var b = new TestBundle("sh", "-c", "grep Cpus_allowed_list /proc/self/status")
            .With(s => s.Process!.ExecCpuAffinity = new CpuAffinity { Initial = "0-1", Final = "1" });
        Assert.Equal("Cpus_allowed_list:\t1\n", _rt.RunOk(b));
    }

    [RootFact]
    public void Apparmor_profile_is_refused_not_dropped()
    {
        using var b = new TestBundle().With(s => s.Process!.ApparmorProfile = "docker-default");
        var r = _rt.Run("run", "--bundle", b.Dir, Runtime.NewId());
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("$.process.apparmorProfile", r.Stderr);
        using var unconfined = new TestBundle("true").With(s => s.Process!.ApparmorProfile = "unconfined");
        Assert.Equal(0, _rt.Run("run", "--bundle", unconfined.Dir, Runtime.NewId()).ExitCode);
    }
}
