using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>/dev in the container (config-linux.md "Default Devices", "Devices", "Device
/// whitelist"): the nodes the runtime must supply, the ones linux.devices adds, and the device
/// cgroup that decides which of them may be opened.</summary>
public sealed class DeviceTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();

    public void Dispose() => _rt.Dispose();

    /// <summary>busybox stat: name, type, major and minor in hex, octal mode, owner.</summary>
    private const string StatFormat = "stat -c '%n %t:%T %a %u:%g %F'";

    [RootFact]
    public void Default_devices_exist_with_the_right_numbers()
    {
        using var b = new TestBundle("sh", "-c", $"{StatFormat} /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty");
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 5)).ToList();
        var expected = new[] { ("/dev/null", "1:3"), ("/dev/zero", "1:5"), ("/dev/full", "1:7"), ("/dev/random", "1:8"), ("/dev/urandom", "1:9"), ("/dev/tty", "5:0") };
        Assert.Equal(expected.Length, lines.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Item1, lines[i][0]);
            Assert.Equal(expected[i].Item2, lines[i][1]);
            Assert.Equal("0:0", lines[i][3]);
            Assert.Equal("character special file", lines[i][4]);
        }
    }

    [RootFact]
    public void Default_devices_work()
    {
        using var b = new TestBundle("sh", "-c",
            "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | od -An -tx1; head -c 16 /dev/urandom | wc -c; echo x > /dev/full; echo full=$?");
        var r = _rt.RunFg(b);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
        Assert.Equal(["null-ok", "00 00 00", "16", "full=1"], lines);
        Assert.Contains("No space left on device", r.Stderr);
    }

    [RootFact]
    public void Default_devices_are_usable_by_a_non_root_user()
    {
        using var b = new TestBundle("sh", "-c", "stat -c '%n %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; echo x > /dev/null; echo write=$?")
            .With(s => s.Process!.User = new User { Uid = 1000, Gid = 1000 });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(7, lines.Length);
        // 0666 whatever the runtime's umask, so a non-root process can write /dev/null
        Assert.All(lines.Take(6), l => Assert.EndsWith(" 666", l));
        Assert.Equal("write=0", lines[6]);
    }

    [RootFact]
    public void Dev_has_the_standard_symlinks_and_a_private_devpts()
    {
        using var b = new TestBundle("sh", "-c",
            "for l in ptmx fd stdin stdout stderr; do echo $l $(readlink /dev/$l); done; ls /dev/pts; grep ' /dev/pts ' /proc/self/mountinfo");
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("ptmx pts/ptmx", lines[0]);
        Assert.Equal("fd /proc/self/fd", lines[1]);
        Assert.Equal("stdin /proc/self/fd/0", lines[2]);
        Assert.Equal("stdout /proc/self/fd/1", lines[3]);
        Assert.Equal("stderr /proc/self/fd/2", lines[4]);
        Assert.Equal("ptmx", lines[5]); // a new devpts instance: none of the host's terminals
        Assert.Contains(" - devpts ", lines[6]);
    }

    [RootFact]
    public void Linux_devices_are_created_with_type_numbers_mode_and_owner()
    {
        using var b = new TestBundle("sh", "-c", $"{StatFormat} /dev/fuse /dev/net/tun /dev/hcs-blk")
            .With(s => s.Linux!.Devices =
            [
                new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229, FileMode = 0x1a0 /* 0640 */, Uid = 1000, Gid = 1001 },
                new Device { Path = "/dev/net/tun", Type = "c", Major = 10, Minor = 200, FileMode = 0x1b6 /* 0666 */ },
                new Device { Path = "/dev/hcs-blk", Type = "b", Major = 7, Minor = 0, FileMode = 0x180 /* 0600 */ },
            ]);
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 5)).ToList();
        Assert.Equal(["/dev/fuse", "a:e5", "640", "1000:1001", "character special file"], lines[0]);
        Assert.Equal(["/dev/net/tun", "a:c8"], lines[1][..2]);
        Assert.Equal("666", lines[1][2]);
        Assert.Equal(["0:0", "character special file"], lines[1][3..]);
        Assert.Equal(["/dev/hcs-blk", "7:0", "600", "0:0", "block special file"], lines[2]);
    }

    [RootFact]
    public void Linux_devices_are_allowed_by_the_device_cgroup()
    {
        if (!File.Exists("/dev/fuse")) { output.WriteLine("SKIP: the host has no /dev/fuse (no fuse driver to open)"); return; }
        using var b = new TestBundle("sh", "-c", "exec 3<>/dev/fuse && echo opened; sleep 100")
            .With(s => s.Linux!.Devices = [new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229, FileMode = 0x1b6 }]);
        var (id, pid) = _rt.RunDetached(b);
        Assert.Equal("opened\n", _rt.ExecOk(id, "sh", "-c", "exec 3<>/dev/fuse && echo opened").Stdout);
        var v1 = File.ReadAllLines($"/proc/{pid}/cgroup").FirstOrDefault(l => l.Split(':')[1] == "devices");
        if (v1 is null) { output.WriteLine("no devices v1 controller: the eBPF filter is not readable from here"); return; }
        var list = File.ReadAllLines(Path.Combine("/sys/fs/cgroup/devices", v1.Split(':', 3)[2].TrimStart('/'), "devices.list"));
        output.WriteLine(string.Join('\n', list));
        Assert.Contains("c 10:229 rwm", list);
        Assert.DoesNotContain("a *:* rwm", list);
    }

    [RootFact]
    public void Device_cgroup_denies_a_node_made_inside_the_container()
    {
        using var b = new TestBundle("sh", "-c",
            "mknod /tmp/mem c 1 1 && echo mknod-ok; head -c 1 /tmp/mem; echo rc=$?; mknod /tmp/null2 c 1 3 && echo x > /tmp/null2 && echo null2-ok")
            .With(s => s.AddCaps("CAP_MKNOD"));
        var r = _rt.RunFg(b);
        Assert.Equal("mknod-ok\nrc=1\nnull2-ok\n", r.Stdout);
        Assert.Contains("Operation not permitted", r.Stderr);
    }

    [RootFact]
    public void Device_cgroup_rule_from_resources_allows_only_the_listed_access()
    {
        // c 1:1 (/dev/mem) allowed for reading only: opening it for reading gets past the cgroup
        // (then the driver answers, or ENXIO where there is none), opening it for writing does not.
        using var b = new TestBundle("sh", "-c",
            "mknod /tmp/mem c 1 1; (exec 3</tmp/mem); echo read=$?; (exec 4>/tmp/mem); echo write=$?")
            .With(s =>
            {
                s.AddCaps("CAP_MKNOD");
                s.Linux!.Resources!.Devices!.Add(new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 1, Access = "r" });
            });
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        var stderr = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("write=", r.Stdout);
        // the write open is refused by the cgroup
        Assert.Contains(stderr, l => l.Contains("/tmp/mem") && l.Contains("Operation not permitted"));
        // the read open is not refused by the cgroup (the driver may still refuse it differently)
        Assert.True(r.Stdout.Contains("read=0") || stderr.Count(l => l.Contains("Operation not permitted")) == 1,
            "reading c 1:1 was refused by the cgroup too:\n" + r);
    }

    [RootFact]
    public void Invalid_device_type_is_refused_with_its_json_path()
    {
        using var b = new TestBundle().With(s => s.Linux!.Devices = [new Device { Path = "/dev/x", Type = "q", Major = 1, Minor = 3 }]);
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("$.linux.devices[0]", r.Stderr);
        leaks.AssertClean(_rt, id);
    }
}
