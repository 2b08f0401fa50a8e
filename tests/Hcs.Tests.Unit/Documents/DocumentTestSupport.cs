using Hcs.Linux.Documents;
using Hcs.Schema;
using Hcs.Schema.Hcs;

namespace Hcs.Tests.Unit.Documents;

/// <summary>A temporary directory tree for the existence checks (layers, scratch, host paths),
/// removed at dispose, and short builders for documents.</summary>
internal sealed class TempTree : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("hcs-doc-").FullName;

    public string Dir(string name) => Directory.CreateDirectory(Path.Combine(Root, name)).FullName;

    public string File(string name)
    {
        var path = Path.Combine(Root, name);
        System.IO.File.WriteAllText(path, "x");
        return path;
    }

    public string Missing(string name) => Path.Combine(Root, name);

    public ContainerLayout Layout => new(Path.Combine(Root, "bundle"), Path.Combine(Root, "bundle", "rootfs"));

    /// <summary>A document whose root is one existing layer directory.</summary>
    public ComputeSystem Doc(Action<Container>? change = null)
    {
        var c = new Container { Storage = new Storage { Layers = [new Layer { Path = Dir("layer0") }] } };
        change?.Invoke(c);
        return new ComputeSystem { Container = c };
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

internal static class Errors
{
    public const string Id = "0123456789abcdef0123";
    public const string C = "$.Document.Container";

    /// <summary>The document's errors (it must be invalid).</summary>
    public static IReadOnlyList<DocumentError> Of(TempTree t, ComputeSystem doc) =>
        Assert.Throws<DocumentException>(() => ContainerSpecBuilder.Build(Id, doc, t.Layout)).Errors;

    /// <summary>Exactly one error, at <paramref name="path"/>, whose message contains <paramref name="text"/>.</summary>
    public static void Single(IReadOnlyList<DocumentError> errors, string path, string text = "")
    {
        var e = Assert.Single(errors);
        Assert.Equal(path, e.Path);
        Assert.Contains(text, e.Message);
    }
}
