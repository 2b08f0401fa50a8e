using System.Text;
using System.Text.Json;
using Hcs.Schema;
using Hcs.Schema.Hcs;

namespace Hcs.Tests.Unit.Schema;

/// <summary>The encoder hcs writes its documents with: what JSON requires is escaped, the rest
/// is written as it is, and whatever goes in reads back the same.</summary>
public class JsonEscapingTests
{
    private static string Written(string value, bool utf8)
    {
        var bytes = HcsWriter.ToUtf8(w =>
        {
            w.WriteStartObject();
            if (utf8) w.WriteString("V"u8, Encoding.UTF8.GetBytes(value));
            else w.WriteString("V", value);
            w.WriteEndObject();
        });
        return Encoding.UTF8.GetString(bytes);
    }

    private static string ReadBack(string json) => JsonDocument.Parse(json).RootElement.GetProperty("V").GetString()!;

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a\"b", "a\\\"b")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("line\nnext\r\ttab\b\f", "line\\nnext\\r\\ttab\\b\\f")]
    [InlineData("nul\0 bell\u0007 esc\u001B", "nul\\u0000 bell\\u0007 esc\\u001B")]
    [InlineData("<tag> & 'q' + `b`", "<tag> & 'q' + `b`")]
    [InlineData("é ü 中文 \u2028", "é ü 中文 \u2028")]
    [InlineData("emoji 😀 pair", "emoji 😀 pair")]
    public void Escapes_only_what_json_requires(string value, string inner)
    {
        foreach (bool utf8 in new[] { false, true })
        {
            var json = Written(value, utf8);
            Assert.Equal("{\"V\":\"" + inner + "\"}", json);
            Assert.Equal(value, ReadBack(json));
        }
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character()
    {
        foreach (var value in new[] { "a\uD800b", "end\uDC00", "\uD83D" })
        {
            var json = Written(value, utf8: false);
            Assert.Equal(value.Replace('\uD800', '\uFFFD').Replace('\uDC00', '\uFFFD').Replace('\uD83D', '\uFFFD'), ReadBack(json));
        }
    }

    [Fact]
    public void Every_character_of_the_bmp_and_beyond_reads_back()
    {
        var all = new StringBuilder();
        for (int c = 0; c < 0x10000; c++)
            if (!char.IsSurrogate((char)c)) all.Append((char)c);
        all.Append("😀\U0010FFFF");
        var text = all.ToString();
        Assert.Equal(text, ReadBack(Written(text, utf8: false)));
        Assert.Equal(text, ReadBack(Written(text, utf8: true)));
    }

    [Fact]
    public void Property_names_are_escaped_too()
    {
        var json = Encoding.UTF8.GetString(HcsWriter.ToUtf8(w =>
        {
            w.WriteStartObject();
            w.WriteString("k\"\n", "v");
            w.WriteEndObject();
        }));
        Assert.Equal("{\"k\\\"\\n\":\"v\"}", json);
    }
}
