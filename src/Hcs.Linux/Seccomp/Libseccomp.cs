using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hcs.Linux.Seccomp;

/// <summary>
/// The part of libseccomp 2.5 the compiler uses: build a filter in memory and export its BPF.
/// Nothing here loads a filter into the kernel; the C child does that with the exported bytes.
/// </summary>
/// <remarks>
/// <see cref="LibraryImportAttribute"/> binds each entry point on its first call (also under
/// NativeAOT, unless a host opts into DirectPInvoke), so a process that never compiles a
/// profile (no seccomp section, or a cache hit) never maps libseccomp.so.2.
/// Return codes are negative errno values; <c>SCMP_FLTATR_API_SYSRAWRC</c> asks 2.5 to pass
/// the kernel's errno through instead of folding system failures into -ECANCELED.
/// </remarks>
internal static partial class Libseccomp
{
    private const string Library = "libseccomp.so.2";

    /// <summary>seccomp_syscall_resolve_name's answer for a name it does not know
    /// (__NR_SCMP_ERROR). Names known but absent on this architecture get other negative
    /// "pseudo syscall" numbers, which libseccomp maps per architecture when adding rules.</summary>
    internal const int NrError = -1;

    internal const int EEXIST = 17, EDOM = 33;

    // enum scmp_filter_attr
    internal const int AttrOptimize = 8;       // SCMP_FLTATR_CTL_OPTIMIZE: 1 = priority order, 2 = binary tree
    internal const int AttrSysRawRc = 9;       // SCMP_FLTATR_API_SYSRAWRC

    /// <summary>struct scmp_arg_cmp.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ArgCmp
    {
        public uint Arg;
        public int Op;
        public ulong DatumA;
        public ulong DatumB;
    }

    /// <summary>A scmp_filter_ctx; released with seccomp_release.</summary>
    internal sealed class FilterHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public FilterHandle() : base(ownsHandle: true) { }

        protected override bool ReleaseHandle()
        {
            seccomp_release(handle);
            return true;
        }
    }

    [LibraryImport(Library)]
    internal static partial FilterHandle seccomp_init(uint defaultAction);

    [LibraryImport(Library)]
    private static partial void seccomp_release(nint ctx);

    [LibraryImport(Library)]
    internal static partial int seccomp_attr_set(FilterHandle ctx, int attribute, uint value);

    [LibraryImport(Library)]
    internal static partial int seccomp_arch_add(FilterHandle ctx, uint archToken);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int seccomp_syscall_resolve_name(string name);

    [LibraryImport(Library)]
    internal static unsafe partial int seccomp_rule_add_array(FilterHandle ctx, uint action, int syscall, uint argCount, ArgCmp* args);

    [LibraryImport(Library)]
    internal static partial int seccomp_export_bpf(FilterHandle ctx, int fd);

    private const uint MfdCloexec = 1;

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, uint flags);

    /// <summary>Exports the filter as struct sock_filter[]. libseccomp 2.5 can only write BPF
    /// to an fd, so it goes through an anonymous memory file: no disk, nothing to clean up.</summary>
    internal static byte[] ExportBpf(FilterHandle ctx)
    {
        int fd = memfd_create("hcs-seccomp", MfdCloexec);
        if (fd < 0)
            throw new IOException($"memfd_create: {Marshal.GetLastPInvokeErrorMessage()}");
        using var memory = new SafeFileHandle(fd, ownsHandle: true);
        int rc = seccomp_export_bpf(ctx, fd);
        if (rc < 0)
            throw new IOException($"seccomp_export_bpf: {Marshal.GetPInvokeErrorMessage(-rc)}");
        var bpf = new byte[RandomAccess.GetLength(memory)];
        int read = 0;
        while (read < bpf.Length)
        {
            int n = RandomAccess.Read(memory, bpf.AsSpan(read), read);
            if (n == 0) throw new IOException("seccomp_export_bpf: short read from memfd");
            read += n;
        }
        return bpf;
    }
}
