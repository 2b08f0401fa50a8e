using Hcs.Linux.Documents;
using Hcs.Schema;

namespace Hcs.Tests.Unit.Documents;

/// <summary>CommandLine is split like a POSIX shell splits words, with no expansion.</summary>
public sealed class CommandLineSplitTests
{
    private static List<string> Split(string line)
    {
        var errors = new DocumentErrors();
        var words = ProcessSpecBuilder.SplitCommandLine(line, "$.CommandLine", errors);
        Assert.Empty(errors.All);
        return words;
    }

    private static DocumentError Error(string line)
    {
        var errors = new DocumentErrors();
        ProcessSpecBuilder.SplitCommandLine(line, "$.CommandLine", errors);
        return Assert.Single(errors.All);
    }

    [Theory]
    [InlineData("ls", new[] { "ls" })]
    [InlineData("  ls \t -l\n/tmp  ", new[] { "ls", "-l", "/tmp" })]
    [InlineData("echo 'a  b' c", new[] { "echo", "a  b", "c" })]
    [InlineData("echo 'it''s'", new[] { "echo", "its" })]
    [InlineData("echo 'a \\ \" b'", new[] { "echo", "a \\ \" b" })]          // nothing escapes inside '…'
    [InlineData("echo \"a 'b' \\\" \\\\ \\$ \\x\"", new[] { "echo", "a 'b' \" \\ $ \\x" })] // \ escapes only " \ $ ` inside "…"
    [InlineData("echo a\\ b \\'c", new[] { "echo", "a b", "'c" })]
    [InlineData("pre'mid'\"end\"", new[] { "premidend" })]
    [InlineData("echo '' \"\"", new[] { "echo", "", "" })]
    [InlineData("a \\\nb", new[] { "a", "b" })]                                // line continuation
    [InlineData("a\\\nb", new[] { "ab" })]
    [InlineData("echo $HOME * ~ | wc; x>y", new[] { "echo", "$HOME", "*", "~", "|", "wc;", "x>y" })] // no expansion, no operators
    [InlineData("", new string[0])]
    public void Words(string line, string[] expected) => Assert.Equal(expected, Split(line));

    [Theory]
    [InlineData("echo 'open", "single quote at offset 5")]
    [InlineData("echo \"open", "double quote at offset 5")]
    [InlineData("echo \"a\\\"", "double quote at offset 5")]
    [InlineData("echo a\\", "backslash")]
    [InlineData("a\0b", "NUL")]
    public void Malformed(string line, string text)
    {
        var e = Error(line);
        Assert.Equal("$.CommandLine", e.Path);
        Assert.Contains(text, e.Message);
    }
}
