namespace Hcs.Images.Images;

// Per-layer progress of a pull or an import, for the CLI's progress bars and hcsd's NDJSON
// stream. Events for one layer arrive in state order; Current/Total are bytes of the blob
// (Total -1 when not known).

public enum PullState
{
    /// <summary>Queued behind other downloads.</summary>
    Waiting,
    Downloading,
    /// <summary>All bytes are in; the digest is being checked.</summary>
    Verifying,
    /// <summary>Waiting for the layers below, or being unpacked into the layer store.</summary>
    Extracting,
    /// <summary>Finished: the layer is unpacked, or (a pull with unpack: false) its blob is
    /// stored and verified.</summary>
    Done,
    /// <summary>The layer (and its blob) was already in the store: nothing fetched.</summary>
    AlreadyExists,
}

/// <param name="Id">The layer's blob digest.</param>
public readonly record struct PullProgress(string Id, PullState State, long Current, long Total);
