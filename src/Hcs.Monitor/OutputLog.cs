using System.Text;
using System.Text.Json;

namespace Hcs.Monitor;

/// <summary>
/// The init's output as NDJSON lines {"Time","Stream","Data"}: the file hcsd serves as
/// /logs. Written by the monitor because it outlives hcsd: output produced while the daemon
/// is down is not lost. Bytes that are not UTF-8 are replaced (as docker's json-file does).
/// </summary>
internal sealed class OutputLog : IDisposable
{
    private readonly FileStream _file;
    private readonly MemoryStream _line = new();

    public OutputLog(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 0);
    }

    public void Append(byte stream, ReadOnlySpan<byte> data)
    {
        _line.SetLength(0);
        using (var w = new Utf8JsonWriter(_line))
        {
            w.WriteStartObject();
            w.WriteString("Time", DateTime.UtcNow);
            w.WriteString("Stream", stream == 2 ? "stderr" : "stdout");
            w.WriteString("Data", Encoding.UTF8.GetString(data));
            w.WriteEndObject();
        }
        _line.WriteByte((byte)'\n');
        try { _file.Write(_line.GetBuffer(), 0, (int)_line.Length); }
        catch (IOException e) { Log.Error($"log write: {e.Message}"); }
    }

    public void Dispose() => _file.Dispose();
}
