using System.Runtime.InteropServices;
using Hcs.Linux.Containers;
using Hcs.Linux.Native;

namespace Hcs.Linux.Rootfs;

/// <summary>
/// Mounts added to or removed from a running container (HCS modify: a mapped directory). The
/// work is in libhcsspawn (hcs_mount_into, hcs_unmount_in): the host tree is cloned here and a
/// forked child attaches it inside the container's user and mount namespaces.
/// </summary>
public static unsafe class LiveMounts
{
    /// <summary>Attaches the host directory or file <paramref name="source"/> at
    /// <paramref name="target"/> (a path inside the container, created if missing) in the mount
    /// namespace of <paramref name="pid"/>, recursively read-only if asked.</summary>
    public static void MountInto(int pid, string source, string target, bool readOnly)
    {
        SpawnAbi.Error e;
        if (SpawnAbi.MountInto(pid, source, target, readOnly ? SpawnAbi.MountReadonly : 0, &e) < 0)
            throw Failure($"mount {source} on {target} in process {pid}", e);
    }

    /// <summary>Detaches the mount at <paramref name="target"/> in the mount namespace of
    /// <paramref name="pid"/> (lazily: open files keep it alive until they close).</summary>
    public static void UnmountIn(int pid, string target)
    {
        SpawnAbi.Error e;
        if (SpawnAbi.UnmountIn(pid, target, &e) < 0)
            throw Failure($"unmount {target} in process {pid}", e);
    }

    private static RuntimeError Failure(string what, in SpawnAbi.Error e)
    {
        var text = e.DetailText.Length > 0 ? $"{what}: {e.StepText} {e.DetailText}" : $"{what}: {e.StepText}";
        if (e.Err != 0) text += ": " + Marshal.GetPInvokeErrorMessage(e.Err);
        var kind = e.Err switch
        {
            Libc.ESRCH => RuntimeErrorKind.InvalidState, // the container's process is gone
            Libc.ENOENT when e.StepText == "open mount source" => RuntimeErrorKind.NotFound,
            _ => RuntimeErrorKind.Other,
        };
        return new RuntimeError(text, kind);
    }
}
