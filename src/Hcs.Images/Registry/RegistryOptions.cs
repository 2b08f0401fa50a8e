namespace Hcs.Images.Registry;

/// <summary>A user name and password (or token) for one registry; used for Basic auth and to
/// obtain Bearer tokens. Never written to disk by this library.</summary>
public sealed record RegistryCredential(string Username, string Password)
{
    public override string ToString() => $"RegistryCredential {{ Username = {Username} }}"; // keep passwords out of logs
}

public sealed class RegistryOptions
{
    /// <summary>Registries ("host" or "host:port") spoken to over plain HTTP. Loopback registries
    /// (localhost, 127.0.0.0/8, ::1) always are, as docker does; everything else uses HTTPS.</summary>
    public IReadOnlyCollection<string> InsecureRegistries { get; init; } = [];

    /// <summary>Credentials by registry ("docker.io", "ghcr.io", "localhost:5000").</summary>
    public IReadOnlyDictionary<string, RegistryCredential> Credentials { get; init; } = new Dictionary<string, RegistryCredential>();

    /// <summary>Layer downloads at once (design 0006: 3).</summary>
    public int ParallelDownloads { get; init; } = 3;

    /// <summary>Tries per blob; each retry resumes from what was received (Range).</summary>
    public int Attempts { get; init; } = 3;

    /// <summary>A download that receives nothing for this long is abandoned (and retried).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Time for a whole small request (manifest, token).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>For tests: the HTTP stack to send through (default: a SocketsHttpHandler).</summary>
    public HttpMessageHandler? Handler { get; init; }

    public string UserAgent { get; init; } = "hcs/0.1";
}
