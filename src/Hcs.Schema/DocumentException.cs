namespace Hcs.Schema;

/// <summary>One problem in a document, located by its JSON path ("$.linux.namespaces[2].type").</summary>
public readonly record struct DocumentError(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>A document that could not be read or is invalid; carries every error found, each with its path.</summary>
public sealed class DocumentException(string source, IReadOnlyList<DocumentError> errors)
    : Exception(Format(source, errors))
{
    public string DocumentName { get; } = source;
    public IReadOnlyList<DocumentError> Errors { get; } = errors;

    private static string Format(string source, IReadOnlyList<DocumentError> errors) =>
        errors.Count == 1
            ? $"{source}: {errors[0]}"
            : $"{source}: {errors.Count} errors:\n  " + string.Join("\n  ", errors);
}

/// <summary>Collects validation errors while walking a document; paths are built as the walk descends.</summary>
public sealed class DocumentErrors
{
    private readonly List<DocumentError> _errors = [];
    public IReadOnlyList<DocumentError> All => _errors;
    public bool Any => _errors.Count > 0;
    public void Add(string path, string message) => _errors.Add(new DocumentError(path, message));
    public void ThrowIfAny(string source)
    {
        if (_errors.Count > 0) throw new DocumentException(source, _errors);
    }
}
