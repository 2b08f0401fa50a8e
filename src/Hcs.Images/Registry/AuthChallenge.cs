namespace Hcs.Images.Registry;

/// <summary>
/// One challenge of a WWW-Authenticate header (RFC 7235): a scheme and its auth-params, e.g.
/// <c>Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"</c>.
/// A header may carry several challenges separated by commas (<c>Basic realm="x", Bearer realm="y"</c>);
/// a comma followed by "name=" continues the current challenge, anything else starts the next.
/// Parameter names are case-insensitive; quoted values may contain commas and \-escapes.
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string name] => Parameters.TryGetValue(name, out var v) ? v : null;

    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every challenge in one header value; malformed trailing text is ignored (a server's
    /// header is not a reason to fail if a usable challenge came before it).</summary>
    public static IReadOnlyList<AuthChallenge> Parse(string header)
    {
        var result = new List<AuthChallenge>();
        int i = 0;
        while (true)
        {
            SkipSeparators(header, ref i);
            var scheme = Token(header, ref i);
            if (scheme.Length == 0) break;
            var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                SkipSpaces(header, ref i);
                int start = i;
                var name = Token(header, ref i);
                SkipSpaces(header, ref i);
                if (name.Length == 0 || i >= header.Length || header[i] != '=')
                {
                    // not a parameter: the next challenge's scheme starts here
                    i = start;
                    break;
                }
                i++; // '='
                SkipSpaces(header, ref i);
                var value = i < header.Length && header[i] == '"' ? Quoted(header, ref i) : Token(header, ref i);
                parameters.TryAdd(name, value);
                SkipSpaces(header, ref i);
                if (i < header.Length && header[i] == ',') i++;
                else break;
            }
            result.Add(new AuthChallenge(scheme, parameters));
        }
        return result;
    }

    private static void SkipSpaces(string s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t') i++;
    }

    private static void SkipSeparators(string s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t' or ',') i++;
    }

    // RFC 7230 tchar
    private static string Token(string s, ref int i)
    {
        int start = i;
        while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || "!#$%&'*+-.^_`|~/:".Contains(s[i]))) i++;
        return s[start..i];
    }

    private static string Quoted(string s, ref int i)
    {
        var value = new System.Text.StringBuilder();
        i++; // opening quote
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length) i++;
            value.Append(s[i++]);
        }
        if (i < s.Length) i++; // closing quote
        return value.ToString();
    }
}
