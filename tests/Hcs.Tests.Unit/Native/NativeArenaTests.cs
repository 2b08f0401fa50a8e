using System.Runtime.InteropServices;
using System.Text;
using Hcs.Linux.Native;

namespace Hcs.Tests.Unit.Native;

/// <summary>The bump allocator the spawn plan lives in: C strings, argv-shaped arrays,
/// alignment, and allocations larger than a chunk.</summary>
public sealed unsafe class NativeArenaTests
{
    private static string? C(byte* p) => Marshal.PtrToStringUTF8((nint)p);

    [Fact]
    public void Strings_are_NUL_terminated_utf8()
    {
        using var a = new NativeArena();
        var p = a.Str("héllo");
        Assert.Equal("héllo", C(p));
        int n = Encoding.UTF8.GetByteCount("héllo");
        Assert.Equal(6, n);
        Assert.Equal(0, p[n]);
        Assert.Equal((byte)'h', p[0]);
        Assert.Equal(0xc3, p[1]);
    }

    [Fact]
    public void Null_stays_null_and_empty_is_an_empty_C_string()
    {
        using var a = new NativeArena();
        Assert.True(a.Str(null) == null);
        var e = a.Str("");
        Assert.True(e != null);
        Assert.Equal(0, e[0]);
    }

    [Fact]
    public void Consecutive_strings_do_not_overlap()
    {
        using var a = new NativeArena();
        var x = a.Str("first");
        var y = a.Str("second");
        Assert.Equal("first", C(x));
        Assert.Equal("second", C(y));
        Assert.True(y >= x + 6);
    }

    [Fact]
    public void String_arrays_are_NULL_terminated()
    {
        using var a = new NativeArena();
        var argv = a.StrArray(["sh", "-c", "echo hi"]);
        Assert.Equal("sh", C(argv[0]));
        Assert.Equal("-c", C(argv[1]));
        Assert.Equal("echo hi", C(argv[2]));
        Assert.True(argv[3] == null);
        Assert.Equal(0, (nint)argv % sizeof(nint));

        var empty = a.StrArray([]);
        Assert.True(empty[0] == null);
        var none = a.StrArray(null);
        Assert.True(none != null && none[0] == null);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(64)]
    public void Allocations_are_aligned(int align)
    {
        using var a = new NativeArena();
        a.Str("x"); // leave the cursor at an odd address
        for (int i = 0; i < 10; i++)
        {
            var p = a.Alloc(3, align);
            Assert.Equal(0, (nint)p % align);
        }
    }

    [Fact]
    public void Arrays_of_structs_are_zeroed_and_aligned()
    {
        using var a = new NativeArena();
        a.Str("odd");
        var steps = a.Array<SpawnAbi.MountStep>(5);
        Assert.Equal(0, (nint)steps % 8);
        var bytes = new ReadOnlySpan<byte>(steps, 5 * sizeof(SpawnAbi.MountStep));
        Assert.True(bytes.IndexOfAnyExcept((byte)0) < 0);
        steps[4].Dev = ulong.MaxValue; // the whole array is usable
        Assert.True(a.Array<SpawnAbi.NsJoin>(0) != null); // zero elements still gives a valid pointer
    }

    [Fact]
    public void Allocations_larger_than_a_chunk()
    {
        using var a = new NativeArena();
        var small = a.Str("before");
        int size = 1 << 20; // 16 chunks' worth
        var big = (byte*)a.Alloc(size);
        new Span<byte>(big, size).Fill(0xab);
        Assert.Equal(0xab, big[size - 1]);
        Assert.Equal("before", C(small)); // earlier allocations are untouched
        var s = new string('x', 200_000);
        Assert.Equal(s, C(a.Str(s)));
        var after = a.Str("after");
        Assert.Equal("after", C(after));
    }

    [Fact]
    public void Many_small_allocations_span_chunks_without_corruption()
    {
        using var a = new NativeArena();
        var ptrs = new List<nint>();
        for (int i = 0; i < 20_000; i++) ptrs.Add((nint)a.Str("item-" + i)); // ~ 200 KB: several chunks
        for (int i = 0; i < ptrs.Count; i++) Assert.Equal("item-" + i, C((byte*)ptrs[i]));
    }

    [Fact]
    public void Bytes_are_copied()
    {
        using var a = new NativeArena();
        byte[] data = [1, 2, 3, 0, 255];
        var p = a.Bytes(data);
        Assert.Equal(data, new ReadOnlySpan<byte>(p, data.Length).ToArray());
        data[0] = 9;
        Assert.Equal(1, p[0]);
        Assert.True(a.Bytes([]) != null);
    }

    [Fact]
    public void Dispose_twice_is_harmless_and_the_arena_is_reusable()
    {
        var a = new NativeArena();
        a.Str("x");
        a.Dispose();
        a.Dispose();
        Assert.Equal("again", C(a.Str("again")));
        a.Dispose();
    }

    [Fact]
    public void A_fixed_region_is_filled_from_its_start_and_refuses_what_does_not_fit()
    {
        var region = (byte*)NativeMemory.AllocZeroed(64);
        try
        {
            using (var a = new NativeArena(region, 64))
            {
                var p = a.Str("abc");
                Assert.True(p == region);
                var q = a.Alloc(16);
                Assert.True((byte*)q == region + 8); // aligned to 8 after the 4 bytes of "abc\0"
                Assert.Throws<RegionFullException>(() => a.Alloc(48));
            }
            Assert.Equal((byte)'a', region[0]); // the arena does not own (or free) the region
        }
        finally
        {
            NativeMemory.Free(region);
        }
    }
}
