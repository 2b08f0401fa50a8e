using System.Text;
using System.Text.Json;
using Hcs.Schema.Hcs;

namespace Hcs.Cli;

/// <summary>
/// Standard output and error as UTF-8 byte streams (no System.Console text machinery: it costs
/// start-up time and would re-encode container output), plus tables and JSON.
/// </summary>
internal static class Output
{
    private static Stream? _stdout, _stderr;
    public static Stream StdoutStream => _stdout ??= Console.OpenStandardOutput();
    public static Stream StderrStream => _stderr ??= Console.OpenStandardError();

    private static bool? _stdoutIsTerminal;
    public static bool StdoutIsTerminal => _stdoutIsTerminal ??= Terminal.IsTerminal(1);

    public static void Out(string text) => StdoutStream.Write(Encoding.UTF8.GetBytes(text));
    public static void Line(string text) => Out(text + "\n");

    public static void Error(string text)
    {
        // a message starts on its own line even when container output left the cursor mid-line
        StderrStream.Write(Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n"));
    }

    /// <summary>One document as indented JSON (HcsWriter: the shapes the API serves).</summary>
    public static void Json(Action<Utf8JsonWriter> write)
    {
        StdoutStream.Write(HcsWriter.ToUtf8(write, indented: true));
        StdoutStream.Write("\n"u8);
    }

    /// <summary>A list of documents as one indented JSON array.</summary>
    public static void JsonArray<T>(IEnumerable<T> items, Action<Utf8JsonWriter, T> write) => Json(w =>
    {
        w.WriteStartArray();
        foreach (var item in items) write(w, item);
        w.WriteEndArray();
    });

    /// <summary>A table: Spectre.Console's when a person is looking (stdout is a terminal), plain
    /// aligned columns otherwise (scripts, pipes: stable, no escape sequences).</summary>
    public static void Table(string[] headers, IReadOnlyList<string[]> rows)
    {
        if (StdoutIsTerminal) FancyTable.Write(headers, rows);
        else Out(PlainTable(headers, rows));
    }

    /// <summary>docker's layout: columns padded to the widest cell, three spaces apart.</summary>
    public static string PlainTable(string[] headers, IReadOnlyList<string[]> rows)
    {
        var widths = new int[headers.Length];
        for (int c = 0; c < headers.Length; c++)
        {
            widths[c] = headers[c].Length;
            foreach (var r in rows) widths[c] = Math.Max(widths[c], r[c].Length);
        }
        var sb = new StringBuilder();
        void Row(string[] cells)
        {
            for (int c = 0; c < cells.Length; c++)
            {
                if (c == cells.Length - 1) sb.Append(cells[c]);
                else sb.Append(cells[c].PadRight(widths[c] + 3));
            }
            sb.Append('\n');
        }
        Row(headers);
        foreach (var r in rows) Row(r);
        return sb.ToString();
    }
}
