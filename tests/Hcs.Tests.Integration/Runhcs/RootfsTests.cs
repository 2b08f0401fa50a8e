using Hcs.Schema.Oci;
using Hcs.Tests.Integration.Support;
using Xunit.Abstractions;
using static Hcs.Tests.Integration.Runhcs.SpecHelpers;

namespace Hcs.Tests.Integration.Runhcs;

/// <summary>root, mounts, maskedPaths and readonlyPaths (config.md "Root", "Mounts";
/// config-linux.md "Masked Paths", "Readonly Paths", "Rootfs Mount Propagation"), and that no
/// path from the config can make a mount land outside the rootfs.</summary>
public sealed class RootfsTests(ITestOutputHelper output) : IDisposable
{
    private readonly Runtime _rt = new();
    private readonly List<string> _hostDirs = [];

    public void Dispose()
    {
        _rt.Dispose();
        foreach (var d in _hostDirs)
        {
            Tools.Sh($"umount -R {d} 2>/dev/null");
            TryDeleteDir(d);
        }
    }

    private string NewHostDir(string prefix)
    {
        var d = HostDir(prefix);
        _hostDirs.Add(d);
        return d;
    }

    private static Mount Bind(string source, string destination, params string[] options) =>
        new() { Destination = destination, Type = "bind", Source = source, Options = ["rbind", .. options] };

    private static Mount Tmpfs(string destination, params string[] options) =>
        new() { Destination = destination, Type = "tmpfs", Source = "tmpfs", Options = [.. options] };

    /// <summary>mountinfo fields of the mount at a point inside the container: (options, optional fields, fs type).</summary>
    private static (string Opts, string Optional, string FsType) MountInfo(string mountinfo, string mountPoint)
    {
        var line = mountinfo.Split('\n').LastOrDefault(l => l.Split(' ').ElementAtOrDefault(4) == mountPoint)
                   ?? throw new Xunit.Sdk.XunitException($"no mount at {mountPoint}:\n{mountinfo}");
        var parts = line.Split(" - ");
        var left = parts[0].Split(' ');
        return (left[5], string.Join(' ', left.Skip(6)), parts[1].Split(' ')[0]);
    }

    [RootFact]
    public void The_hosts_mounts_are_gone_before_the_program_runs()
    {
        // After pivot_root the old root is stacked on the new one until the init detaches it
        // (after READY, before its program or any startContainer hook runs); if it stayed, the
        // host's mounts would show in the container's mountinfo under "/" and this one with them.
        var host = NewHostDir("hostonly");
        Tools.Sh($"mount -t tmpfs hcs-hostonly {host}").ExitCode.ShouldBe(0, "tmpfs on the host");
        using var b = new TestBundle("sh", "-c", "cat /proc/self/mountinfo; echo cwd=$(pwd)")
            .With(s => s.Process!.Cwd = "/tmp");
        var r = _rt.RunFg(b);
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("hcs-hostonly", r.Stdout);
        Assert.DoesNotContain(Path.GetFileName(host), r.Stdout);
        Assert.Contains("cwd=/tmp\n", r.Stdout);
        // one mount at "/": the rootfs
        Assert.Single(r.Stdout.Split('\n'), l => l.Split(' ').ElementAtOrDefault(4) == "/");
    }

    [RootFact]
    public void Readonly_root_refuses_writes_but_tmpfs_mounts_stay_writable()
    {
        using var b = new TestBundle("sh", "-c",
            "touch /newfile 2>&1; echo root=$?; touch /tmp/y && echo tmp-ok; touch /dev/shm/z && echo shm-ok; grep ' / ' /proc/self/mountinfo")
            .With(s => { s.Root!.Readonly = true; s.Mounts!.Add(Tmpfs("/tmp", "nosuid", "nodev", "mode=1777")); });
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("Read-only file system", lines[0]);
        Assert.Equal("root=1", lines[1]);
        Assert.Equal("tmp-ok", lines[2]);
        Assert.Equal("shm-ok", lines[3]);
        Assert.StartsWith("ro", lines[4].Split(' ')[5]);
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "newfile")));
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "tmp/y")), "the /tmp tmpfs wrote through to the rootfs");
    }

    [RootFact]
    public void Writable_root_is_the_bundle_rootfs()
    {
        using var b = new TestBundle("sh", "-c", "cat /marker; echo from-container > /written");
        File.WriteAllText(Path.Combine(b.Rootfs, "marker"), "from-host\n");
        Assert.Equal("from-host\n", _rt.RunOk(b));
        Assert.Equal("from-container\n", File.ReadAllText(Path.Combine(b.Rootfs, "written")));
    }

    [RootFact]
    public void No_pivot_runs_the_container_in_its_rootfs()
    {
        using var b = new TestBundle("sh", "-c", "cat /marker; ls /proc/self/ns >/dev/null && echo proc-ok; touch /tmp/w && echo write-ok");
        File.WriteAllText(Path.Combine(b.Rootfs, "marker"), "no-pivot-root\n");
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("run", "--no-pivot", "--bundle", b.Dir, id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("no-pivot-root\nproc-ok\nwrite-ok\n", r.Stdout);
        leaks.AssertClean(_rt, id);
    }

    [RootFact]
    public void Bind_mounted_directory_is_shared_with_the_host()
    {
        var host = NewHostDir("bind");
        File.WriteAllText(Path.Combine(host, "f"), "from-host\n");
        using var b = new TestBundle("sh", "-c", "cat /data/f; echo from-container > /data/g")
            .With(s => s.Mounts!.Add(Bind(host, "/data")));
        Assert.Equal("from-host\n", _rt.RunOk(b));
        Assert.Equal("from-container\n", File.ReadAllText(Path.Combine(host, "g")));
        Assert.False(Directory.Exists(Path.Combine(b.Rootfs, "data/f")));
    }

    [RootFact]
    public void Bind_mounted_file_replaces_the_rootfs_file()
    {
        var host = NewHostDir("bindfile");
        var file = Path.Combine(host, "resolv.conf");
        File.WriteAllText(file, "nameserver 192.0.2.1\n");
        using var b = new TestBundle("sh", "-c", "cat /etc/resolv.conf; grep -c ' /etc/resolv.conf ' /proc/self/mountinfo")
            .With(s => s.Mounts!.Add(new Mount { Destination = "/etc/resolv.conf", Type = "bind", Source = file, Options = ["bind"] }));
        Assert.Equal("nameserver 192.0.2.1\n1\n", _rt.RunOk(b));
    }

    [RootFact]
    public void Readonly_bind_mount_refuses_writes()
    {
        var host = NewHostDir("bindro");
        File.WriteAllText(Path.Combine(host, "f"), "x\n");
        using var b = new TestBundle("sh", "-c", "cat /data/f; echo y > /data/f; echo rc=$?; grep ' /data ' /proc/self/mountinfo")
            .With(s => s.Mounts!.Add(Bind(host, "/data", "ro")));
        var r = _rt.RunFg(b);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("x", lines[0]);
        Assert.Equal("rc=1", lines[1]);
        Assert.StartsWith("ro", lines[2].Split(' ')[5]);
        Assert.Contains("Read-only file system", r.Stderr);
        Assert.Equal("x\n", File.ReadAllText(Path.Combine(host, "f")));
    }

    [RootFact]
    public void Noexec_bind_mount_refuses_to_run_programs()
    {
        var host = NewHostDir("noexec");
        File.Copy("/bin/busybox", Path.Combine(host, "busybox"));
        File.SetUnixFileMode(Path.Combine(host, "busybox"), (UnixFileMode)0x1ed);
        using var b = new TestBundle("sh", "-c", "/exec/busybox echo exec-ok; /noexec/busybox echo noexec-ran; echo rc=$?")
            .With(s =>
            {
                s.Mounts!.Add(Bind(host, "/exec"));
                s.Mounts.Add(Bind(host, "/noexec", "noexec"));
            });
        var r = _rt.RunFg(b);
        Assert.Equal("exec-ok\nrc=126\n", r.Stdout);
        Assert.Contains("Permission denied", r.Stderr);
    }

    [RootFact]
    public void Nodev_bind_mount_refuses_to_open_device_nodes()
    {
        var host = NewHostDir("nodev");
        Tools.Sh($"mknod -m 666 {host}/null c 1 3").ExitCode.ShouldBe(0, "mknod on the host");
        using var b = new TestBundle("sh", "-c",
            "echo x > /dev-ok/null && echo dev-ok; echo x > /dev-no/null; echo rc=$?; grep -E ' /dev-(ok|no) ' /proc/self/mountinfo")
            .With(s =>
            {
                s.Mounts!.Add(Bind(host, "/dev-ok"));
                s.Mounts.Add(Bind(host, "/dev-no", "nodev", "nosuid"));
            });
        var r = _rt.RunFg(b);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("dev-ok", lines[0]);
        Assert.Equal("rc=1", lines[1]);
        Assert.Contains("Permission denied", r.Stderr);
        var optsOk = MountInfo(r.Stdout, "/dev-ok").Opts.Split(',');
        var optsNo = MountInfo(r.Stdout, "/dev-no").Opts.Split(',');
        Assert.DoesNotContain("nodev", optsOk);
        Assert.Contains("nodev", optsNo);
        Assert.Contains("nosuid", optsNo);
    }

    [RootFact]
    public void Rbind_carries_submounts_and_bind_does_not()
    {
        var host = NewHostDir("rbind");
        Directory.CreateDirectory(Path.Combine(host, "sub"));
        var leaks = LeakCheck.Before();
        Tools.Sh($"mount -t tmpfs hcs-it-sub {host}/sub && touch {host}/sub/in-submount").ExitCode.ShouldBe(0, "host submount");
        try
        {
            using var b = new TestBundle("sh", "-c", "ls /r/sub; echo --; ls /b/sub")
                .With(s =>
                {
                    s.Mounts!.Add(new Mount { Destination = "/r", Type = "bind", Source = host, Options = ["rbind"] });
                    s.Mounts.Add(new Mount { Destination = "/b", Type = "bind", Source = host, Options = ["bind"] });
                });
            Assert.Equal("in-submount\n--\n", _rt.RunOk(b));
        }
        finally
        {
            Tools.Sh($"umount {host}/sub");
        }
        leaks.AssertClean(_rt, "no-such-container");
    }

    [RootFact]
    public void Tmpfs_mount_honours_size_and_mode()
    {
        using var b = new TestBundle("sh", "-c",
            "stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo; dd if=/dev/zero of=/scratch/big bs=1024 count=2048 2>&1; echo rc=$?")
            .With(s => s.Mounts!.Add(Tmpfs("/scratch", "size=1m", "mode=1770", "nosuid")));
        var r = _rt.RunOk(b);
        var lines = r.Split('\n');
        Assert.Equal("1770", lines[0]);
        var (opts, _, fsType) = MountInfo(r, "/scratch");
        Assert.Equal("tmpfs", fsType);
        Assert.Contains("nosuid", opts.Split(','));
        Assert.Contains("size=1024k", lines[1]);
        Assert.Contains("No space left on device", r);
        Assert.EndsWith("rc=1\n", r);
    }

    [RootFact]
    public void Spec_mounts_are_listed_in_proc_mounts()
    {
        using var b = new TestBundle("cat", "/proc/mounts")
            .With(s => s.Mounts!.Add(Tmpfs("/run", "size=64k")));
        var mounts = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')).ToDictionary(f => f[1], f => f, StringComparer.Ordinal);
        Assert.Equal("proc", mounts["/proc"][2]);
        Assert.Equal("tmpfs", mounts["/dev"][2]);
        Assert.Equal("devpts", mounts["/dev/pts"][2]);
        Assert.Equal("tmpfs", mounts["/dev/shm"][2]);
        Assert.Equal("mqueue", mounts["/dev/mqueue"][2]);
        Assert.Equal("sysfs", mounts["/sys"][2]);
        Assert.StartsWith("ro,", mounts["/sys"][3]);
        Assert.Equal("tmpfs", mounts["/run"][2]);
        Assert.Contains("size=64k", mounts["/run"][3]);
        // nothing of the host's own mounts besides what the spec asked for
        Assert.DoesNotContain("/mnt/sandboxing/model_tools_env/v1/python", mounts.Keys);
        Assert.DoesNotContain(mounts.Keys, k => k.StartsWith("/tmp/hcs-it"));
    }

    [RootFact]
    public void Mount_propagation_rslave_receives_host_mounts_and_rprivate_does_not()
    {
        var host = NewHostDir("prop");
        Tools.Sh($"mount -t tmpfs hcs-it-prop {host} && mount --make-shared {host}").ExitCode.ShouldBe(0, "shared host mount");
        using var b = new TestBundle("sleep", "100")
            .With(s =>
            {
                s.AddCaps("CAP_SYS_ADMIN");
                s.Mounts!.Add(Bind(host, "/slave", "rslave"));
                s.Mounts.Add(Bind(host, "/private", "rprivate"));
            });
        var (id, _) = _rt.RunDetached(b);
        var before = _rt.ExecOk(id, "cat", "/proc/self/mountinfo").Stdout;
        Assert.Contains("master:", MountInfo(before, "/slave").Optional);
        Assert.DoesNotContain("master:", MountInfo(before, "/private").Optional);
        Assert.DoesNotContain("shared:", MountInfo(before, "/private").Optional);

        // a mount made on the host afterwards reaches the slave only
        Tools.Sh($"mkdir {host}/sub && mount -t tmpfs hcs-it-sub {host}/sub && touch {host}/sub/new").ExitCode.ShouldBe(0, "host mount");
        var seen = _rt.Exec(id, "sh", "-c", "ls /slave/sub; echo --; ls /private/sub");
        Assert.Equal("new\n--\n", seen.Stdout);

        // and nothing mounted inside the slave goes back to the host
        _rt.ExecOk(id, "sh", "-c", "mkdir -p /slave/back && mount -t tmpfs hcs-it-back /slave/back");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == $"{host}/back");
    }

    [RootFact]
    public void Mount_propagation_rshared_sends_container_mounts_to_the_host()
    {
        var host = NewHostDir("propsh");
        Tools.Sh($"mount -t tmpfs hcs-it-prop {host} && mount --make-shared {host}").ExitCode.ShouldBe(0, "shared host mount");
        using var b = new TestBundle("sleep", "100")
            .With(s =>
            {
                s.AddCaps("CAP_SYS_ADMIN");
                s.Linux!.RootfsPropagation = "rshared";
                s.Mounts!.Add(Bind(host, "/shared", "rshared"));
            });
        var (id, _) = _rt.RunDetached(b);
        Assert.Contains("shared:", MountInfo(_rt.ExecOk(id, "cat", "/proc/self/mountinfo").Stdout, "/shared").Optional);
        _rt.ExecOk(id, "sh", "-c", "mkdir -p /shared/out && mount -t tmpfs hcs-it-out /shared/out && touch /shared/out/made");
        Assert.Contains(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == $"{host}/out");
        Assert.True(File.Exists(Path.Combine(host, "out/made")));
    }

    [RootFact]
    public void Rootfs_propagation_values_are_accepted_and_applied_to_the_root()
    {
        foreach (var (p, expect) in new[] { ("private", ""), ("rprivate", ""), ("slave", ""), ("rslave", ""), ("shared", "shared:"), ("rshared", "shared:") })
        {
            using var b = new TestBundle("cat", "/proc/self/mountinfo").With(s => s.Linux!.RootfsPropagation = p);
            var r = _rt.RunFg(b);
            Assert.True(r.ExitCode == 0, $"rootfsPropagation {p}: {r}");
            var optional = MountInfo(r.Stdout, "/").Optional;
            if (expect.Length > 0) Assert.Contains(expect, optional);
            else Assert.DoesNotContain("shared:", optional);
        }
    }

    [RootFact]
    public void Rootfs_propagation_unbindable_is_accepted()
    {
        foreach (var p in new[] { "unbindable", "runbindable" })
        {
            using var b = new TestBundle("cat", "/proc/self/mountinfo").With(s => s.Linux!.RootfsPropagation = p);
            var r = _rt.RunFg(b);
            output.WriteLine($"{p}: {r}");
            // applied after pivot_root: an unbindable tree could not have been bound onto itself
            Assert.True(r.ExitCode == 0, $"rootfsPropagation {p}: {r}");
            Assert.Contains("unbindable", MountInfo(r.Stdout, "/").Optional);
        }
    }

    [RootFact]
    public void Absolute_symlink_in_the_rootfs_cannot_redirect_a_mount_to_the_host() =>
        SymlinkEscape(target => target, targetInRootfs: true);

    [RootFact]
    public void Relative_symlink_in_the_rootfs_cannot_redirect_a_mount_to_the_host() =>
        SymlinkEscape(target => "../../../../../../../../.." + target, targetInRootfs: true);

    [RootFact]
    public void Dangling_absolute_symlink_cannot_redirect_a_mount_to_the_host() =>
        SymlinkEscape(target => target, targetInRootfs: false);

    [RootFact]
    public void Dangling_relative_symlink_cannot_redirect_a_mount_to_the_host() =>
        SymlinkEscape(target => "../../../../../../../../.." + target, targetInRootfs: false);

    /// <summary>rootfs/escape is a symlink to a host directory; the config mounts a tmpfs at
    /// /escape/x. The symlink must be resolved as if the rootfs were /: the mount lands in the
    /// rootfs's own copy of the target path (when that exists: otherwise the runtime may refuse),
    /// and the host directory stays empty and unmounted in every case.</summary>
    private void SymlinkEscape(Func<string, string> linkText, bool targetInRootfs)
    {
        var target = Path.Combine("/tmp", "hcs-host-target-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(target);
        _hostDirs.Add(target);
        using var b = new TestBundle("sh", "-c", "touch /escape/x/written && sleep 100")
            .With(s => s.Mounts!.Add(Tmpfs("/escape/x", "size=64k")));
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "escape"), linkText(target));
        var inRootfs = Path.Combine(b.Rootfs, target.TrimStart('/'));
        if (targetInRootfs) Directory.CreateDirectory(inRootfs);
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("run", "-d", "--bundle", b.Dir, id);
        output.WriteLine(r.ToString());
        if (targetInRootfs) Assert.True(r.ExitCode == 0, r.ToString());
        if (r.ExitCode == 0)
        {
            // the mount is in the container, on the rootfs's own copy of the path
            Tools.WaitUntil(() => _rt.Exec(id, "test", "-e", "/escape/x/written").ExitCode == 0, "the write into the mount");
            Assert.True(Directory.Exists(Path.Combine(inRootfs, "x")), "the mount point was not made inside the rootfs");
            var inside = File.ReadAllLines($"/proc/{_rt.Pid(id)}/mountinfo").Select(l => l.Split(' ')).ToList();
            Assert.Contains(inside, f => f[4] == target + "/x");
            Assert.False(File.Exists(Path.Combine(inRootfs, "x/written")), "the write went to the rootfs, not the tmpfs");
        }
        // never on the host: the host directory stays empty and unmounted
        Assert.Empty(Directory.GetFileSystemEntries(target));
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4].StartsWith(target));
        _rt.Run("delete", "--force", id);
        leaks.AssertClean(_rt, id);
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [RootFact]
    public void Symlink_chain_in_a_mount_destination_resolves_inside_the_rootfs()
    {
        // /a -> b -> /tmp/hcs-host-target-X: a chain that would end on a host path if followed on the host
        var target = Path.Combine("/tmp", "hcs-host-target-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(target);
        _hostDirs.Add(target);
        var src = NewHostDir("src");
        File.WriteAllText(Path.Combine(src, "payload"), "p\n");
        using var b = new TestBundle("cat", "/a/data/payload")
            .With(s => s.Mounts!.Add(Bind(src, "/a/data")));
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "b"), target);
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "a"), "b");
        Directory.CreateDirectory(Path.Combine(b.Rootfs, target.TrimStart('/')));
        var r = _rt.RunFg(b);
        output.WriteLine(r.ToString());
        Assert.Empty(Directory.GetFileSystemEntries(target));
        Assert.Equal("p\n", r.Stdout);
        Assert.True(Directory.Exists(Path.Combine(b.Rootfs, target.TrimStart('/'), "data")));
    }

    [RootFact]
    public void Masked_paths_read_empty_and_masked_directories_are_empty_and_read_only()
    {
        using var b = new TestBundle("sh", "-c",
            "wc -c < /proc/keys; wc -c < /etc/secret.txt; ls -A /etc/secrets | wc -l; ls -A /proc/acpi | wc -l; " +
            "touch /etc/secrets/new 2>&1; echo rc=$?; grep ' /etc/secrets ' /proc/self/mountinfo")
            .With(s => s.Linux!.MaskedPaths = ["/proc/keys", "/proc/acpi", "/etc/secret.txt", "/etc/secrets", "/does/not/exist"]);
        File.WriteAllText(Path.Combine(b.Rootfs, "etc/secret.txt"), "top secret\n");
        Directory.CreateDirectory(Path.Combine(b.Rootfs, "etc/secrets"));
        File.WriteAllText(Path.Combine(b.Rootfs, "etc/secrets/key"), "k\n");
        var lines = _rt.RunOk(b).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
        Assert.Equal("0", lines[0]);
        Assert.Equal("0", lines[1]);
        Assert.Equal("0", lines[2]);
        Assert.Equal("0", lines[3]);
        Assert.Contains("Read-only file system", lines[4]);
        Assert.Equal("rc=1", lines[5]);
        var mi = lines[6].Split(" - ");
        Assert.StartsWith("ro", mi[0].Split(' ')[5]);
        Assert.StartsWith("tmpfs ", mi[1]);
        // the rootfs itself is untouched
        Assert.Equal("top secret\n", File.ReadAllText(Path.Combine(b.Rootfs, "etc/secret.txt")));
    }

    [RootFact]
    public void Proc_kcore_is_masked_by_default()
    {
        if (!File.Exists("/proc/kcore")) { output.WriteLine("SKIP: this kernel has no /proc/kcore"); return; }
        using var b = new TestBundle("sh", "-c", "wc -c < /proc/kcore");
        Assert.Equal("0", _rt.RunOk(b).Trim());
    }

    [RootFact]
    public void Readonly_paths_refuse_writes_even_with_capabilities()
    {
        using var b = new TestBundle("sh", "-c",
            "echo 0 > /proc/sys/net/ipv4/ip_forward; echo rc=$?; cat /data/f; touch /data/g; echo rc=$?")
            .With(s =>
            {
                s.AddCaps("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_DAC_OVERRIDE");
                s.Linux!.ReadonlyPaths = ["/proc/sys", "/data", "/not/there"];
            });
        Directory.CreateDirectory(Path.Combine(b.Rootfs, "data"));
        File.WriteAllText(Path.Combine(b.Rootfs, "data/f"), "readable\n");
        var r = _rt.RunFg(b);
        Assert.Equal("rc=1\nreadable\nrc=1\n", r.Stdout);
        Assert.Contains("Read-only file system", r.Stderr);
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "data/g")));
    }

    [RootFact]
    public void Missing_bind_source_fails_create_and_leaves_nothing()
    {
        using var b = new TestBundle().With(s => s.Mounts!.Add(Bind("/tmp/hcs-it/does-not-exist-" + Guid.NewGuid().ToString("N"), "/data")));
        var id = Runtime.NewId();
        var leaks = LeakCheck.Before();
        var r = _rt.Run("create", "--bundle", b.Dir, id);
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("does-not-exist", r.Stderr);
        leaks.AssertClean(_rt, id);
    }
}
