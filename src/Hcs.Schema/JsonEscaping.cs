using System.Text;
using System.Text.Encodings.Web;

namespace Hcs.Schema;

/// <summary>
/// The escaping JSON itself requires and nothing more: '"', '\' and the control characters
/// below U+0020 (as \", \\, \n ... or \u00XX); every other character is written as it is, in
/// UTF-8. A string with a lone surrogate (not text) gets U+FFFD in its place, as with .NET's
/// encoders.
///
/// By hand because every encoder .NET ships is built in one static constructor that fills
/// bitmaps of allowed code points for the whole BMP (TextEncoderSettings.AllowRange): about 3 %
/// of each `hcs` command's samples in perf, to write one request. These documents are never
/// embedded in HTML, so the HTML-sensitive characters the default encoder escapes need no
/// escaping either (the relaxed encoder used before did not escape them).
/// </summary>
public sealed class JsonEscaping : JavaScriptEncoder
{
    public static readonly JsonEscaping Minimal = new();

    private JsonEscaping() { }

    /// <summary>\uXXXX: six characters for one.</summary>
    public override int MaxOutputCharactersPerInputCharacter => 6;

    public override bool WillEncode(int unicodeScalar) => unicodeScalar is < 0x20 or '"' or '\\';

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (int i = 0; i < textLength; i++)
        {
            char c = text[i];
            if (c is < (char)0x20 or '"' or '\\') return i;
            if (!char.IsSurrogate(c)) continue;
            // a pair passes; a lone half is replaced, which the encoder's Encode does
            if (char.IsHighSurrogate(c) && i + 1 < textLength && char.IsLowSurrogate(text[i + 1])) i++;
            else return i;
        }
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        var destination = new Span<char>(buffer, bufferLength);
        numberOfCharactersWritten = 0;
        if (!WillEncode(unicodeScalar))
        {
            if (!Rune.TryCreate(unicodeScalar, out var rune) || !rune.TryEncodeToUtf16(destination, out int written)) return false;
            numberOfCharactersWritten = written;
            return true;
        }
        ReadOnlySpan<char> escape = unicodeScalar switch
        {
            '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '\b' => "\\b", '\f' => "\\f",
            _ => default,
        };
        if (escape.IsEmpty)
        {
            if (destination.Length < 6) return false;
            "\\u00".CopyTo(destination);
            destination[4] = HexDigit(unicodeScalar >> 4);
            destination[5] = HexDigit(unicodeScalar & 0xF);
            numberOfCharactersWritten = 6;
            return true;
        }
        if (!escape.TryCopyTo(destination)) return false;
        numberOfCharactersWritten = escape.Length;
        return true;
    }

    private static char HexDigit(int value) => (char)(value < 10 ? '0' + value : 'A' + value - 10);
}
