namespace Hcs.Schema.Hcs;

/// <summary>
/// The HCS error names (and their HRESULTs, from the HCS documentation) hcsd answers with, each
/// with the HTTP status it travels under. One stable name per kind of failure: clients switch on
/// the name, people read the message.
/// </summary>
public sealed record HcsError(string Name, uint HResult, int HttpStatus)
{
    public static readonly HcsError InvalidJson = new("HCS_E_INVALID_JSON", 0x8037010D, 400);
    public static readonly HcsError InvalidState = new("HCS_E_INVALID_STATE", 0x80370105, 409);
    public static readonly HcsError SystemNotFound = new("HCS_E_SYSTEM_NOT_FOUND", 0x8037010E, 404);
    public static readonly HcsError SystemAlreadyExists = new("HCS_E_SYSTEM_ALREADY_EXISTS", 0x8037010F, 409);
    public static readonly HcsError SystemAlreadyStopped = new("HCS_E_SYSTEM_ALREADY_STOPPED", 0x80370110, 409);
    public static readonly HcsError OperationTimeout = new("HCS_E_OPERATION_TIMEOUT", 0x80370118, 408);
    public static readonly HcsError AccessDenied = new("HCS_E_ACCESS_DENIED", 0x8037011B, 403);
    public static readonly HcsError ProcessAlreadyStopped = new("HCS_E_PROCESS_ALREADY_STOPPED", 0x8037011F, 409);
    public static readonly HcsError ProcessInfoNotAvailable = new("HCS_E_PROCESS_INFO_NOT_AVAILABLE", 0x8037011D, 404);
    public static readonly HcsError UnsupportedProtocolVersion = new("HCS_E_UNSUPPORTED_PROTOCOL_VERSION", 0x8037010C, 400);
    public static readonly HcsError ServiceNotAvailable = new("HCS_E_SERVICE_NOT_AVAILABLE", 0x80370114, 501);
    public static readonly HcsError TerminatedDuringStart = new("HCS_E_TERMINATED_DURING_START", 0x80370100, 500);
    public static readonly HcsError UnexpectedExit = new("HCS_E_UNEXPECTED_EXIT", 0x80370106, 500);
    public static readonly HcsError ConnectionClosed = new("HCS_E_CONNECTION_CLOSED", 0x8037010A, 502);
    public static readonly HcsError ProtocolError = new("HCS_E_PROTOCOL_ERROR", 0x80370111, 500);
    public static readonly HcsError InvalidLayer = new("HCS_E_INVALID_LAYER", 0x80370112, 400);
    /// <summary>Not an HCS name: a request HCS has no word for (unknown route, wrong method).</summary>
    public static readonly HcsError NotFound = new("HCS_E_NOT_FOUND", 0x80070490, 404);
    public static readonly HcsError Internal = new("HCS_E_INTERNAL", 0x8000FFFF, 500);
    /// <summary>Not an HCS name: the process could not be started (missing or non-executable
    /// program, bad working directory, unknown user); the message says which, as runc words it.</summary>
    public static readonly HcsError ProcessStartFailed = new("HCS_E_PROCESS_START_FAILED", 0x80004005, 400);
    /// <summary>Not HCS names (HCS has no image store): no image or layer by that reference or
    /// ID, and a registry that failed or sent something that does not verify.</summary>
    public static readonly HcsError ImageNotFound = new("HCS_E_IMAGE_NOT_FOUND", 0x80070002, 404);
    public static readonly HcsError LayerNotFound = new("HCS_E_LAYER_NOT_FOUND", 0x80070003, 404);
    public static readonly HcsError RegistryError = new("HCS_E_REGISTRY_ERROR", 0x80072EFD, 502);

    public static readonly IReadOnlyList<HcsError> All =
    [
        InvalidJson, InvalidState, SystemNotFound, SystemAlreadyExists, SystemAlreadyStopped, OperationTimeout,
        AccessDenied, ProcessAlreadyStopped, ProcessInfoNotAvailable, UnsupportedProtocolVersion, ServiceNotAvailable,
        TerminatedDuringStart, UnexpectedExit, ConnectionClosed, ProtocolError, InvalidLayer, NotFound, Internal,
        ProcessStartFailed, ImageNotFound, LayerNotFound, RegistryError,
    ];

    public static HcsError? ByName(string name)
    {
        foreach (var e in All)
            if (e.Name == name) return e;
        return null;
    }
}

/// <summary>A failure to report as an HCS error: the name, a message, and the JSON path(s) of the
/// input at fault when there is one.</summary>
public sealed class HcsException : Exception
{
    public HcsException(HcsError error, string message, string? path = null, IReadOnlyList<DocumentError>? errors = null)
        : base(path is null ? message : $"{path}: {message}")
    {
        Error = error;
        Detail = message;
        Path = path;
        Errors = errors;
        HResult = unchecked((int)error.HResult);
    }

    public HcsError Error { get; }
    public string Detail { get; }
    public string? Path { get; }
    public IReadOnlyList<DocumentError>? Errors { get; }

    public static HcsException From(DocumentException e) =>
        new(HcsError.InvalidJson, e.Errors.Count == 1 ? e.Errors[0].Message : $"{e.Errors.Count} errors in the document",
            e.Errors.Count > 0 ? e.Errors[0].Path : null, e.Errors);
}
