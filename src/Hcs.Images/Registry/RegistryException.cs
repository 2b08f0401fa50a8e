using Hcs.Images.Images;

namespace Hcs.Images.Registry;

/// <summary>An error answered by a registry: the HTTP status and, when it sent one, the OCI
/// distribution error code (MANIFEST_UNKNOWN, DENIED, ...). Status 0: no answer at all.</summary>
public sealed class RegistryException : ImageException
{
    public int StatusCode { get; }
    public string? ErrorCode { get; }

    public RegistryException(ImageError kind, string message, int statusCode, string? errorCode = null, Exception? inner = null)
        : base(kind, message, inner)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
    }
}
