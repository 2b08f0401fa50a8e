using System.Net.Sockets;

namespace Hcs.Daemon.Api;

/// <summary>
/// Who may call: root, or (with --group) members of that group, asked of the kernel per
/// connection with SO_PEERCRED. The socket's mode already keeps others out; this check holds
/// even if someone loosens the mode or passes the socket on.
/// </summary>
public sealed class PeerCredentials(uint? allowedGid)
{
    private const int SOL_SOCKET = 1, SO_PEERCRED = 17;

    public readonly record struct Peer(int Pid, uint Uid, uint Gid);

    public static Peer? Of(Socket? socket)
    {
        if (socket is null) return null;
        Span<byte> cred = stackalloc byte[12];
        try
        {
            if (socket.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, cred) != 12) return null;
        }
        catch (SocketException)
        {
            return null;
        }
        return new Peer(BitConverter.ToInt32(cred), BitConverter.ToUInt32(cred[4..]), BitConverter.ToUInt32(cred[8..]));
    }

    public bool Allows(Peer peer)
    {
        if (peer.Uid == 0) return true;
        if (allowedGid is not { } gid) return false;
        if (peer.Gid == gid) return true;
        // supplementary groups of the calling process
        try
        {
            foreach (var line in File.ReadLines($"/proc/{peer.Pid}/status"))
            {
                if (!line.StartsWith("Groups:")) continue;
                foreach (var g in line[7..].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                    if (uint.TryParse(g, out var x) && x == gid) return true;
            }
        }
        catch (IOException) { }
        return false;
    }

    /// <summary>The gid of a group name from /etc/group; null if there is none.</summary>
    public static uint? GroupId(string name)
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var f = line.Split(':');
            if (f.Length >= 3 && f[0] == name && uint.TryParse(f[2], out var gid)) return gid;
        }
        return null;
    }
}
