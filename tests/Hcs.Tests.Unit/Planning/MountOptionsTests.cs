using Hcs.Linux.Rootfs;
using static Hcs.Linux.Rootfs.MountPlanner;

namespace Hcs.Tests.Unit.Planning;

/// <summary>MountPlanner.ParseOptions: every option to mount(2) flags, mount_setattr
/// attributes, propagation, or filesystem data.</summary>
public sealed class MountOptionsTests
{
    private static Options P(params string[] o) => ParseOptions(o);

    [Fact]
    public void Kernel_constants_have_their_uapi_values()
    {
        // linux/mount.h (MS_*) and the MOUNT_ATTR_* of mount_setattr(2)
        Assert.Equal(new ulong[] { 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 2048, 4096, 16384 },
            new[] { MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC,
             MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC });
        Assert.Equal(new ulong[] { 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x1000000, 0x2000000 },
            new[] { MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_RELATIME, MS_STRICTATIME, MS_LAZYTIME });
        Assert.Equal(new ulong[] { 1, 2, 4, 8, 0x70, 0, 0x10, 0x20, 0x80, 0x200000 },
            new[] { ATTR_RDONLY, ATTR_NOSUID, ATTR_NODEV, ATTR_NOEXEC, ATTR__ATIME, ATTR_RELATIME, ATTR_NOATIME,
             ATTR_STRICTATIME, ATTR_NODIRATIME, ATTR_NOSYMFOLLOW });
    }

    [Fact]
    public void No_options_is_all_zero()
    {
        foreach (var o in new[] { ParseOptions(null), ParseOptions([]) })
        {
            Assert.Equal(0ul, o.Flags | o.AttrSet | o.AttrClear | o.RecAttrSet | o.RecAttrClear | o.Propagation);
            Assert.False(o.Bind || o.RecursiveBind || o.IdMap || o.PropagationRecursive);
            Assert.Empty(o.Data);
        }
    }

    [Theory]
    [InlineData("ro", MS_RDONLY, ATTR_RDONLY)]
    [InlineData("nosuid", MS_NOSUID, ATTR_NOSUID)]
    [InlineData("nodev", MS_NODEV, ATTR_NODEV)]
    [InlineData("noexec", MS_NOEXEC, ATTR_NOEXEC)]
    [InlineData("nosymfollow", MS_NOSYMFOLLOW, ATTR_NOSYMFOLLOW)]
    [InlineData("nodiratime", MS_NODIRATIME, ATTR_NODIRATIME)]
    [InlineData("sync", MS_SYNCHRONOUS, 0ul)]
    [InlineData("dirsync", MS_DIRSYNC, 0ul)]
    [InlineData("remount", MS_REMOUNT, 0ul)]
    [InlineData("mand", MS_MANDLOCK, 0ul)]
    [InlineData("lazytime", MS_LAZYTIME, 0ul)]
    public void Setting_options(string option, ulong flag, ulong attr)
    {
        var o = P(option);
        Assert.Equal(flag, o.Flags);
        Assert.Equal(attr, o.AttrSet);
        Assert.Empty(o.Data);
    }

    [Theory]
    [InlineData("ro", "rw")]
    [InlineData("nosuid", "suid")]
    [InlineData("nodev", "dev")]
    [InlineData("noexec", "exec")]
    [InlineData("sync", "async")]
    [InlineData("mand", "nomand")]
    [InlineData("lazytime", "nolazytime")]
    [InlineData("nosymfollow", "symfollow")]
    [InlineData("nodiratime", "diratime")]
    public void The_later_of_two_opposite_options_wins(string set, string clear)
    {
        var o = P(set, clear);
        Assert.Equal(0ul, o.Flags);
        Assert.Equal(0ul, o.AttrSet); // BUG for nodiratime,diratime: ATTR_NODIRATIME stays set
        var again = P(clear, set);
        Assert.Equal(P(set).Flags, again.Flags);
        Assert.Equal(P(set).AttrSet, again.AttrSet);
    }

    // mount_setattr applies (old & ~attr_clr) | attr_set: a bit left in both masks ends set,
    // whatever the option order was. BUG: the recursive options only ever add to their masks.
    [Theory]
    [InlineData("rro", "rrw", ATTR_RDONLY)]
    [InlineData("rnosuid", "rsuid", ATTR_NOSUID)]
    [InlineData("rnodiratime", "rdiratime", ATTR_NODIRATIME)]
    public void The_later_of_two_opposite_recursive_options_wins(string set, string clear, ulong attr)
    {
        var o = P(clear, set);
        Assert.Equal(attr, o.RecAttrSet & attr);
        o = P(set, clear);
        Assert.Equal(attr, o.RecAttrClear & attr);
        Assert.Equal(0ul, o.RecAttrSet & attr);
    }

    [Fact]
    public void Diratime_clears_the_attribute()
    {
        var o = P("diratime");
        Assert.Equal(ATTR_NODIRATIME, o.AttrClear);
        Assert.Equal(0ul, o.Flags);
    }

    [Fact]
    public void Several_flags_combine()
    {
        var o = P("nosuid", "noexec", "nodev", "ro");
        Assert.Equal(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, o.Flags);
        Assert.Equal(ATTR_NOSUID | ATTR_NOEXEC | ATTR_NODEV | ATTR_RDONLY, o.AttrSet);
    }

    [Theory]
    [InlineData("noatime", MS_NOATIME, ATTR_NOATIME)]
    [InlineData("relatime", MS_RELATIME, ATTR_RELATIME)]
    [InlineData("strictatime", MS_STRICTATIME, ATTR_STRICTATIME)]
    [InlineData("atime", 0ul, ATTR_RELATIME)]
    public void Atime_options_are_one_choice_and_clear_the_atime_field(string option, ulong flag, ulong attr)
    {
        var o = P(option);
        Assert.Equal(flag, o.Flags);
        Assert.Equal(attr, o.AttrSet & ATTR__ATIME);
        Assert.Equal(ATTR__ATIME, o.AttrClear & ATTR__ATIME);
    }

    [Fact]
    public void The_last_atime_option_wins()
    {
        var o = P("noatime", "strictatime");
        Assert.Equal(MS_STRICTATIME, o.Flags);
        Assert.Equal(ATTR_STRICTATIME, o.AttrSet);
        o = P("strictatime", "noatime", "nosuid");
        Assert.Equal(MS_NOATIME | MS_NOSUID, o.Flags);
        Assert.Equal(ATTR_NOATIME | ATTR_NOSUID, o.AttrSet);
        o = P("noatime", "atime");
        Assert.Equal(0ul, o.Flags);
        Assert.Equal(0ul, o.AttrSet);
        o = P("relatime", "norelatime");
        Assert.Equal(0ul, o.Flags);
        o = P("strictatime", "nostrictatime");
        Assert.Equal(0ul, o.Flags);
    }

    [Fact]
    public void Bind_and_rbind()
    {
        var b = P("bind");
        Assert.True(b.Bind);
        Assert.False(b.RecursiveBind);
        var r = P("rbind");
        Assert.True(r.Bind);
        Assert.True(r.RecursiveBind);
        Assert.Equal(0ul, r.Flags); // binds are made with open_tree, not MS_BIND
    }

    [Theory]
    [InlineData("private", MS_PRIVATE, false)]
    [InlineData("rprivate", MS_PRIVATE, true)]
    [InlineData("shared", MS_SHARED, false)]
    [InlineData("rshared", MS_SHARED, true)]
    [InlineData("slave", MS_SLAVE, false)]
    [InlineData("rslave", MS_SLAVE, true)]
    [InlineData("unbindable", MS_UNBINDABLE, false)]
    [InlineData("runbindable", MS_UNBINDABLE, true)]
    public void Propagation(string option, ulong propagation, bool recursive)
    {
        var o = P(option);
        Assert.Equal(propagation, o.Propagation);
        Assert.Equal(recursive, o.PropagationRecursive);
        Assert.Equal(0ul, o.Flags);
    }

    [Fact]
    public void The_last_propagation_wins() => Assert.Equal(MS_SHARED, P("rprivate", "shared").Propagation);

    [Theory]
    [InlineData("idmap")]
    [InlineData("ridmap")]
    public void Idmap(string option) => Assert.True(P(option).IdMap);

    [Theory]
    [InlineData("rro", ATTR_RDONLY, 0ul)]
    [InlineData("rrw", 0ul, ATTR_RDONLY)]
    [InlineData("rnosuid", ATTR_NOSUID, 0ul)]
    [InlineData("rsuid", 0ul, ATTR_NOSUID)]
    [InlineData("rnodev", ATTR_NODEV, 0ul)]
    [InlineData("rdev", 0ul, ATTR_NODEV)]
    [InlineData("rnoexec", ATTR_NOEXEC, 0ul)]
    [InlineData("rexec", 0ul, ATTR_NOEXEC)]
    [InlineData("rnodiratime", ATTR_NODIRATIME, 0ul)]
    [InlineData("rdiratime", 0ul, ATTR_NODIRATIME)]
    [InlineData("rnosymfollow", ATTR_NOSYMFOLLOW, 0ul)]
    [InlineData("rsymfollow", 0ul, ATTR_NOSYMFOLLOW)]
    [InlineData("rrelatime", ATTR_RELATIME, ATTR__ATIME)]
    [InlineData("rnoatime", ATTR_NOATIME, ATTR__ATIME)]
    [InlineData("rstrictatime", ATTR_STRICTATIME, ATTR__ATIME)]
    [InlineData("ratime", 0ul, ATTR__ATIME)]
    [InlineData("rnorelatime", 0ul, ATTR__ATIME)]
    [InlineData("rnostrictatime", 0ul, ATTR__ATIME)]
    public void Recursive_attributes(string option, ulong set, ulong clear)
    {
        var o = P(option);
        Assert.Equal(set, o.RecAttrSet);
        Assert.Equal(clear, o.RecAttrClear);
        Assert.Equal(0ul, o.Flags | o.AttrSet);
        Assert.Empty(o.Data);
    }

    [Theory]
    [InlineData("tmpcopyup")]
    [InlineData("notmpcopyup")]
    [InlineData("z")]
    [InlineData("Z")]
    [InlineData("U")]
    [InlineData("copy")]
    [InlineData("nocopy")]
    [InlineData("defaults")]
    [InlineData("X-mount.mkdir")]
    [InlineData("x-systemd.automount")]
    public void Engine_extensions_and_userspace_options_are_dropped(string option)
    {
        var o = P(option);
        Assert.Empty(o.Data);
        Assert.Equal(0ul, o.Flags | o.AttrSet | o.AttrClear | o.RecAttrSet | o.RecAttrClear | o.Propagation);
    }

    [Fact]
    public void Everything_else_is_filesystem_data_in_order()
    {
        var o = P("mode=755", "nosuid", "size=65536k", "newinstance", "ptmxmode=0666", "gid=5", "lowerdir=/a:/b");
        Assert.Equal(["mode=755", "size=65536k", "newinstance", "ptmxmode=0666", "gid=5", "lowerdir=/a:/b"], o.Data);
        Assert.Equal(MS_NOSUID, o.Flags);
    }
}
