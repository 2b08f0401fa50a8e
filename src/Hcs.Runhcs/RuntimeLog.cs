using System.Text;

namespace Hcs.Runhcs;

/// <summary>
/// Logging as runc does it, because its callers parse it: with --log, lines go to that file
/// (logrus text or, with --log-format json, {"level","msg","time"} objects that containerd and
/// podman read back for error messages) and the bare error goes to stderr; without --log, the
/// text line goes to stderr.
/// </summary>
public sealed class RuntimeLog(string? path, bool json, bool debug)
{
    public bool DebugEnabled => debug;

    public void Debug(string message)
    {
        if (debug) Write("debug", message, toStderr: path is null);
    }

    public void Warn(string message) => Write("warning", message, toStderr: path is null);

    public void Error(string message)
    {
        Write("error", message, toStderr: path is null);
        if (path is not null) Stdio.Err(message + "\n");
    }

    private void Write(string level, string message, bool toStderr)
    {
        var time = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        string line = json && path is not null
            ? $"{{\"level\":\"{level}\",\"msg\":{Quote(message)},\"time\":\"{time}\"}}"
            : $"time=\"{time}\" level={level} msg={Quote(message)}";
        if (path is not null)
        {
            try { File.AppendAllText(path, line + "\n"); }
            catch (Exception) { Stdio.Err(line + "\n"); }
        }
        if (toStderr) Stdio.Err(line + "\n");
    }

    /// <summary>A JSON string literal; also what logrus' text format prints for msg.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4")); else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
