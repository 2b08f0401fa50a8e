namespace Hcs.Images.Images;

// One exception type for the image store and the registry client, with a kind the daemon maps to
// its stable error names (HCS_E_IMAGE_NOT_FOUND, HCS_E_REGISTRY_ERROR, ...). Messages name the
// thing at fault (reference, digest, registry) so they can be shown as they are.

public enum ImageError
{
    /// <summary>No image by that reference or ID, or a blob the store should have is missing.</summary>
    NotFound,
    /// <summary>A reference, document or archive that is malformed or not usable.</summary>
    Invalid,
    /// <summary>Content whose digest or size is not the one it was named by.</summary>
    DigestMismatch,
    /// <summary>The registry refused the credentials (or there were none and it wants some).</summary>
    Unauthorized,
    /// <summary>The registry failed, or could not be reached, or answered something unusable.</summary>
    Registry,
    /// <summary>The image has no manifest for this host's platform.</summary>
    PlatformNotFound,
}

public class ImageException : Exception
{
    public ImageError Kind { get; }

    public ImageException(ImageError kind, string message, Exception? inner = null) : base(message, inner) => Kind = kind;
}
