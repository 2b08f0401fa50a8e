using System.Runtime.InteropServices;
using System.Text;

namespace Hcs.Linux.Native;

/// <summary>
/// Unmanaged memory for one spawn plan: every string, array and struct the C library reads.
/// A bump allocator over a few chunks, freed all at once; the plan lives only for one call.
/// Or over one fixed region it does not own (a waiting child's shared region, see
/// <see cref="Containers.SpawnPool"/>), where running out is an error rather than a new chunk.
/// </summary>
public sealed unsafe class NativeArena : IDisposable
{
    private const int ChunkSize = 64 * 1024;
    private readonly List<nint> _chunks = [];
    private readonly bool _fixed;
    private byte* _next;
    private nint _left;

    public NativeArena() { }

    /// <summary>An arena over [region, region + length): nothing is allocated or freed.</summary>
    public NativeArena(byte* region, nint length)
    {
        _fixed = true;
        _next = region;
        _left = length;
    }

    public void* Alloc(nint size, int align = 8)
    {
        nint pad = (nint)(((ulong)_next + (ulong)align - 1) & ~((ulong)align - 1)) - (nint)_next;
        if (_next == null || pad + size > _left)
        {
            if (_fixed) throw new RegionFullException();
            nint chunk = Math.Max(ChunkSize, size + align);
            var p = (byte*)NativeMemory.AllocZeroed((nuint)chunk);
            _chunks.Add((nint)p);
            _next = p;
            _left = chunk;
            pad = (nint)(((ulong)_next + (ulong)align - 1) & ~((ulong)align - 1)) - (nint)_next;
        }
        var result = _next + pad;
        _next += pad + size;
        _left -= pad + size;
        return result;
    }

    public T* Array<T>(int count) where T : unmanaged => (T*)Alloc(Math.Max(1, count) * sizeof(T));

    /// <summary>A NUL-terminated UTF-8 copy of s; null stays null.</summary>
    public byte* Str(string? s)
    {
        if (s is null) return null;
        int n = Encoding.UTF8.GetByteCount(s);
        var p = (byte*)Alloc(n + 1, 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    /// <summary>A NULL-terminated array of strings (argv/envp shape).</summary>
    public byte** StrArray(IReadOnlyList<string>? items)
    {
        int n = items?.Count ?? 0;
        var a = (byte**)Alloc((n + 1) * sizeof(nint));
        for (int i = 0; i < n; i++) a[i] = Str(items![i]);
        a[n] = null;
        return a;
    }

    public byte* Bytes(ReadOnlySpan<byte> data)
    {
        var p = (byte*)Alloc(Math.Max(1, data.Length));
        data.CopyTo(new Span<byte>(p, data.Length));
        return p;
    }

    public void Dispose()
    {
        foreach (var c in _chunks) NativeMemory.Free((void*)c);
        _chunks.Clear();
        _next = null;
        _left = 0;
    }
}

/// <summary>A plan did not fit in a fixed region (the caller falls back to an ordinary spawn).</summary>
public sealed class RegionFullException() : Exception("the plan does not fit in the waiting child's region");
