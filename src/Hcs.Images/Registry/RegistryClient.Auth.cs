using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Hcs.Images.Images;

namespace Hcs.Images.Registry;

// Registry authentication, driven by the 401 challenge (Docker token auth and RFC 7617 Basic):
//
//   client                         registry                         token service (realm)
//     GET /v2/NAME/manifests/REF ──►
//     ◄── 401 WWW-Authenticate: Bearer realm=R,service=S,scope=repository:NAME:pull
//     GET R?service=S&scope=... (Authorization: Basic, if we have credentials) ─────────────►
//     ◄──────────────────────────────────────────────────────────── {"token": T, "expires_in": N}
//     GET /v2/NAME/manifests/REF, Authorization: Bearer T ──►   (token cached per registry + scope)
//
//   or: 401 WWW-Authenticate: Basic realm=... → the same request with Authorization: Basic.
//
// Credentials are only sent where a challenge asked for them; a request is retried once after a
// challenge, so a rejected token or password ends in an Unauthorized error, not a loop.

public sealed partial class RegistryClient
{
    private sealed record CachedToken(string Token, DateTimeOffset Expires);

    private readonly ConcurrentDictionary<string, CachedToken> _tokens = new(StringComparer.Ordinal);
    /// <summary>Registries that asked for Basic auth: every request to them carries it.</summary>
    private readonly ConcurrentDictionary<string, bool> _basic = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Sends a request (built afresh for a retry), answering one auth challenge.</summary>
    private async Task<HttpResponseMessage> SendAsync(ImageReference image, Func<HttpRequestMessage> build, CancellationToken ct)
    {
        var scope = $"repository:{image.Path}:pull";
        for (int attempt = 0; ; attempt++)
        {
            var request = build();
            request.Headers.Authorization = CachedAuthorization(image.Domain, scope);
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized || attempt > 0) return response;

            var challenges = new List<AuthChallenge>();
            if (response.Headers.TryGetValues("WWW-Authenticate", out var values))
                foreach (var value in values) challenges.AddRange(AuthChallenge.Parse(value));
            response.Dispose();
            await AuthenticateAsync(image, scope, challenges, ct).ConfigureAwait(false);
        }
    }

    private AuthenticationHeaderValue? CachedAuthorization(string domain, string scope)
    {
        if (_tokens.TryGetValue(domain + " " + scope, out var token) && token.Expires > DateTimeOffset.UtcNow)
            return new AuthenticationHeaderValue("Bearer", token.Token);
        if (_basic.ContainsKey(domain) && CredentialFor(domain) is { } credential)
            return BasicHeader(credential);
        return null;
    }

    private async Task AuthenticateAsync(ImageReference image, string scope, List<AuthChallenge> challenges, CancellationToken ct)
    {
        var credential = CredentialFor(image.Domain);
        if (challenges.FirstOrDefault(c => c.IsBearer) is { } bearer)
        {
            var realm = bearer["realm"];
            if (realm is null || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri) || realmUri.Scheme is not ("http" or "https"))
                throw new RegistryException(ImageError.Unauthorized, $"{image.Domain} asks for a bearer token but names no usable realm (\"{realm}\")", 401);
            // The realm is the registry's word: a registry reached over https must not be able to
            // send our password in clear text (Basic over http, readable by anyone on the path).
            // Plain http is allowed only for a registry that is itself spoken to over http.
            if (credential is not null && realmUri.Scheme == "http" && !IsInsecure(image.Domain))
                throw new RegistryException(ImageError.Unauthorized,
                    $"{image.Domain} names the token service {realmUri.GetLeftPart(UriPartial.Path)} over plain http: hcs does not send the credentials for {image.Domain} there (only https, unless the registry is configured insecure)", 401);
            var token = await FetchTokenAsync(image, realmUri, bearer["service"], bearer["scope"] ?? scope, credential, ct).ConfigureAwait(false);
            _tokens[image.Domain + " " + scope] = token;
            return;
        }
        if (challenges.Any(c => c.IsBasic))
        {
            if (credential is null)
                throw new RegistryException(ImageError.Unauthorized, $"{image.Domain} requires a user name and password (Basic auth) to pull {image.Name}", 401);
            if (!_basic.TryAdd(image.Domain, true))
                throw new RegistryException(ImageError.Unauthorized, $"{image.Domain} rejected the user name and password for {credential.Username}", 401);
            return;
        }
        throw new RegistryException(ImageError.Unauthorized, challenges.Count == 0
            ? $"{image.Domain} refused access (401) and offered no way to authenticate"
            : $"{image.Domain} asks for authentication by {string.Join(", ", challenges.Select(c => c.Scheme))}, which hcs does not speak", 401);
    }

    /// <summary>GET realm?service=S&amp;scope=SCOPE, anonymous or with Basic credentials.</summary>
    private async Task<CachedToken> FetchTokenAsync(ImageReference image, Uri realm, string? service, string scope,
        RegistryCredential? credential, CancellationToken ct)
    {
        var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query[1..] + "&" : "");
        if (service is not null) query.Append("service=").Append(Uri.EscapeDataString(service)).Append('&');
        foreach (var s in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            query.Append("scope=").Append(Uri.EscapeDataString(s)).Append('&');
        var uri = new UriBuilder(realm) { Query = query.ToString().TrimEnd('&') }.Uri;

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.RequestTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (credential is not null) request.Headers.Authorization = BasicHeader(credential);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new RegistryException(ImageError.Registry, $"cannot reach the token service {realm.GetLeftPart(UriPartial.Path)} of {image.Domain}: {e.Message}", 0, inner: e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new RegistryException(ImageError.Registry, $"no answer from the token service {realm.GetLeftPart(UriPartial.Path)} of {image.Domain}", 0);
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new RegistryException(ImageError.Unauthorized, credential is null
                    ? $"the token service of {image.Domain} refused anonymous access to {image.Name} (give credentials)"
                    : $"the token service of {image.Domain} rejected the credentials of {credential.Username} for {image.Name}", (int)response.StatusCode);
            if (!response.IsSuccessStatusCode)
                throw new RegistryException(ImageError.Registry, $"the token service of {image.Domain} answered {(int)response.StatusCode} {response.ReasonPhrase}", (int)response.StatusCode);
            var body = await ReadLimitedAsync(response.Content, 1 << 20, "token response", timeout.Token).ConfigureAwait(false);
            var parsed = OciJson.Read<TokenResponse>(body, $"token response of {image.Domain}");
            var token = parsed.Token is { Length: > 0 } t ? t : parsed.AccessToken;
            if (string.IsNullOrEmpty(token))
                throw new RegistryException(ImageError.Unauthorized, $"the token service of {image.Domain} sent no token", (int)response.StatusCode);
            // expires_in defaults to 60 s (Docker token spec); renew a little early
            var lifetime = TimeSpan.FromSeconds(Math.Max(parsed.ExpiresIn ?? 60, 10) - 5);
            return new CachedToken(token, DateTimeOffset.UtcNow + lifetime);
        }
    }

    private RegistryCredential? CredentialFor(string domain)
    {
        if (_options.Credentials.TryGetValue(domain, out var credential)) return credential;
        if (domain == DockerHubDomain)
            foreach (var alias in new[] { DockerHubEndpoint, "index.docker.io", "https://index.docker.io/v1/" })
                if (_options.Credentials.TryGetValue(alias, out credential)) return credential;
        return null;
    }

    private static AuthenticationHeaderValue BasicHeader(RegistryCredential credential) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credential.Username + ":" + credential.Password)));
}
