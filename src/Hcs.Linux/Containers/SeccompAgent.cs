using System.Text;
using System.Text.Json;
using Hcs.Linux.Native;
using Hcs.Schema.Oci;

namespace Hcs.Linux.Containers;

/// <summary>Hands a seccomp listener fd (SCMP_ACT_NOTIFY) to the agent at listenerPath, with the
/// container process state as the spec describes.</summary>
internal static unsafe class SeccompAgent
{
    public static void Send(Schema.Oci.Seccomp seccomp, int listenerFd, ContainerRecord record, string stateJson)
    {
        using var ms = new MemoryStream(512);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", SpecVersion.Current);
            w.WriteStartArray("fds");
            w.WriteStringValue("seccompFd");
            w.WriteEndArray();
            w.WriteNumber("pid", record.Pid);
            if (seccomp.ListenerMetadata is { } metadata) w.WriteString("metadata", metadata);
            w.WritePropertyName("state");
            w.WriteRawValue(stateJson);
            w.WriteEndObject();
        }
        var bytes = ms.ToArray();
        int sock = Libc.ConnectUnix(seccomp.ListenerPath!);
        try
        {
            fixed (byte* p = bytes)
                if (SpawnAbi.SendFd(sock, listenerFd, p, (uint)bytes.Length) < 0)
                    throw new ErrnoException(Libc.Errno, $"send seccomp listener to {seccomp.ListenerPath}");
        }
        finally
        {
            Libc.Close(sock);
        }
    }
}
