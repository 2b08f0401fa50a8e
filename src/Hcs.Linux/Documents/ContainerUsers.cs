namespace Hcs.Linux.Documents;

/// <summary>
/// Resolves an HCS User string ("uid", "uid:gid", "name", "name:group", or mixed) against the
/// container's /etc/passwd and /etc/group, as docker and runc do: a name must exist; a numeric
/// uid needs no entry (gid 0 unless its entry says otherwise); supplementary groups are the
/// groups that list the user by name, looked up only when no group was given.
/// </summary>
public static class ContainerUsers
{
    public sealed record Resolved(uint Uid, uint Gid, List<uint> AdditionalGids);

    /// <summary>The resolved user, or null with <paramref name="problem"/> saying why.</summary>
    public static Resolved? Resolve(string user, Func<string, string?> readContainerFile, out string? problem)
    {
        problem = null;
        int colon = user.IndexOf(':');
        string userPart = colon < 0 ? user : user[..colon];
        string? groupPart = colon < 0 ? null : user[(colon + 1)..];
        if (userPart.Length == 0 || groupPart is { Length: 0 })
        {
            problem = $"\"{user}\" is not a user: give uid, uid:gid, name or name:group";
            return null;
        }

        var passwd = Parse(readContainerFile("/etc/passwd"));
        uint uid, gid = 0;
        string? name = null;
        if (IsNumber(userPart))
        {
            if (!uint.TryParse(userPart, out uid))
            {
                problem = $"uid {userPart} is out of range";
                return null;
            }
            if (passwd?.Find(e => e.Length > 3 && e[2] == userPart) is { } entry)
            {
                name = entry[0];
                uint.TryParse(entry[3], out gid);
            }
        }
        else
        {
            if (passwd is null)
            {
                problem = $"user \"{userPart}\" cannot be looked up: the container has no /etc/passwd";
                return null;
            }
            var entry = passwd.Find(e => e[0] == userPart);
            if (entry is null || entry.Length < 4 || !uint.TryParse(entry[2], out uid) || !uint.TryParse(entry[3], out gid))
            {
                problem = $"no user \"{userPart}\" in the container's /etc/passwd";
                return null;
            }
            name = userPart;
        }

        var groups = Parse(readContainerFile("/etc/group"));
        var additional = new List<uint>();
        if (groupPart is not null)
        {
            if (IsNumber(groupPart))
            {
                if (!uint.TryParse(groupPart, out gid))
                {
                    problem = $"gid {groupPart} is out of range";
                    return null;
                }
            }
            else
            {
                var entry = groups?.Find(e => e[0] == groupPart);
                if (entry is null || entry.Length < 3 || !uint.TryParse(entry[2], out gid))
                {
                    problem = groups is null
                        ? $"group \"{groupPart}\" cannot be looked up: the container has no /etc/group"
                        : $"no group \"{groupPart}\" in the container's /etc/group";
                    return null;
                }
            }
        }
        else if (name is not null && groups is not null)
        {
            foreach (var g in groups)
                if (g.Length > 3 && g[3].Split(',').Contains(name) && uint.TryParse(g[2], out var sgid) && sgid != gid && !additional.Contains(sgid))
                    additional.Add(sgid);
        }
        return new Resolved(uid, gid, additional);
    }

    private static bool IsNumber(string s) => s.All(char.IsAsciiDigit);

    /// <summary>colon-separated lines; comments and blank lines skipped. Null when there is no file.</summary>
    private static List<string[]>? Parse(string? text)
    {
        if (text is null) return null;
        var entries = new List<string[]>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#') continue;
            entries.Add(line.Split(':'));
        }
        return entries;
    }
}
