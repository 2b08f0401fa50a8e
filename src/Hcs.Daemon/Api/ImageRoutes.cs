using System.Threading.Channels;
using Hcs.Daemon.Compute;
using Hcs.Daemon.Images;
using Hcs.Schema;
using Hcs.Schema.Hcs;
using Hcs.Schema.Images;
using Microsoft.AspNetCore.Http.Features;

namespace Hcs.Daemon.Api;

/// <summary>
/// /v2/images and /v2/layers (docs/design/0003-hcsd-api.md, routes; 0006 for the store). A
/// reference goes in the query (?reference=): references hold '/' and ':', which a path segment
/// cannot carry unambiguously. Archives stream in and out with no size limit; pulls and imports
/// answer with NDJSON progress whose last line is the image or the error.
/// </summary>
public static class ImageRoutes
{
    public static void Map(WebApplication app)
    {
        var v2 = app.MapGroup("/v2");
        v2.MapGet("/images", (ImageService images) => Json(200, images.List()));
        v2.MapGet("/images/inspect", async (HttpContext ctx, ImageService images) =>
            Json(200, await images.InspectAsync(Required(ctx.Request, "reference"), HcsApi.BoolQuery(ctx.Request, "unpacked"), ctx.RequestAborted)));
        v2.MapPost("/images/pull", async (HttpContext ctx, ImageService images) =>
        {
            var request = ImageJson.ReadRequest<PullRequest>(await HcsApi.Body(ctx.Request, ctx.RequestAborted));
            if (string.IsNullOrEmpty(request.Reference)) throw new HcsException(HcsError.InvalidJson, "required", "$.Reference");
            if (!Hcs.Images.Images.ImageReference.TryParse(request.Reference, out _, out var error))
                throw new HcsException(HcsError.InvalidJson, error, "$.Reference");
            await ProgressAsync(ctx, p => images.PullAsync(request, p, ctx.RequestAborted));
        });
        v2.MapPost("/images/import", async (HttpContext ctx, ImageService images) =>
        {
            var reference = Optional(ctx.Request, "reference");
            if (reference is not null && !Hcs.Images.Images.ImageReference.TryParse(reference, out _, out var error))
                throw new HcsException(HcsError.InvalidJson, error, "reference");
            Unlimited(ctx);
            await ProgressAsync(ctx, p => images.ImportAsync(ctx.Request.Body, reference, p, ctx.RequestAborted));
        });
        v2.MapGet("/images/export", async (HttpContext ctx, ImageService images) =>
        {
            var reference = Required(ctx.Request, "reference");
            images.Find(reference); // a missing image is a 404 before the tar starts
            ctx.Response.ContentType = "application/x-tar";
            await images.ExportAsync(reference, ctx.Response.Body, ctx.RequestAborted);
        });
        v2.MapPost("/images/tag", (HttpRequest req, ImageService images) =>
        {
            images.Tag(Required(req, "source"), Required(req, "target"));
            return Results.NoContent();
        });
        v2.MapDelete("/images", (HttpRequest req, ImageService images) =>
        {
            images.Remove(Required(req, "reference"), HcsApi.BoolQuery(req, "force"));
            return Results.NoContent();
        });
        v2.MapPost("/images/prune", async (HttpContext ctx, ImageService images) =>
            Json(200, await images.PruneAsync(ctx.RequestAborted)));

        v2.MapGet("/layers", (ImageService images) => Json(200, images.ListLayers()));
        v2.MapPost("/layers", async (HttpContext ctx, ImageService images) =>
        {
            var parent = Optional(ctx.Request, "parent");
            Unlimited(ctx);
            return Json(201, await Task.Run(() => images.ImportLayerAsync(ctx.Request.Body, parent, ctx.RequestAborted)));
        });
        v2.MapGet("/layers/{chainId}", (string chainId, ImageService images) => Json(200, images.GetLayer(chainId)));
        v2.MapGet("/layers/{chainId}/export", async (HttpContext ctx, string chainId, ImageService images) =>
        {
            images.FindLayer(chainId);
            ctx.Response.ContentType = "application/x-tar";
            await images.ExportLayerAsync(chainId, ctx.Response.Body, ctx.RequestAborted);
        });
        v2.MapDelete("/layers/{chainId}", (string chainId, ImageService images) =>
        {
            images.RemoveLayer(chainId);
            return Results.NoContent();
        });

        v2.MapPost("/compute-systems/{id}/commit", async (string id, HttpContext ctx, ComputeService cs) =>
        {
            var request = ImageJson.ReadRequest<CommitRequest>(await HcsApi.Body(ctx.Request, ctx.RequestAborted));
            return Json(201, await cs.CommitAsync(id, request, ctx.RequestAborted));
        });
    }

    private static IResult Json<T>(int status, T value) => new HcsApi.JsonBytes(status, ImageJson.ToUtf8(value));

    private static string Required(HttpRequest req, string name) =>
        Optional(req, name) ?? throw new HcsException(HcsError.InvalidJson, $"the query parameter {name} is required", name);

    private static string? Optional(HttpRequest req, string name) =>
        req.Query[name].ToString() is { Length: > 0 } v ? v : null;

    /// <summary>An archive is as big as it is: no 4 MiB cap as for documents. And the layer
    /// store reads it with blocking reads, on a thread of its own (decompression runs in a
    /// pipeline beside extraction), which Kestrel allows only when asked.</summary>
    private static void Unlimited(HttpContext ctx)
    {
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        if (ctx.Features.Get<IHttpBodyControlFeature>() is { } body) body.AllowSynchronousIO = true;
    }

    /// <summary>
    /// Runs an operation that reports progress, streaming each report as an NDJSON line; the
    /// last line is {Status: Complete, Image} or {Status: Error, Error}. Once the first line is
    /// out the HTTP status is 200 whatever happens: failures after that are in the stream.
    /// </summary>
    private static async Task ProgressAsync(HttpContext ctx, Func<IProgress<ImageProgress>, Task<ImageDetails>> operation)
    {
        var lines = Channel.CreateUnbounded<ImageProgress>(new UnboundedChannelOptions { SingleReader = true });
        var work = Task.Run(async () =>
        {
            try
            {
                var image = await operation(new ChannelProgress(lines.Writer));
                lines.Writer.TryWrite(new ImageProgress { Status = ImageProgressStatus.Complete, Image = image });
            }
            catch (Exception e)
            {
                lines.Writer.TryWrite(ErrorLine(e));
            }
            finally
            {
                lines.Writer.TryComplete();
            }
        });
        var ct = ctx.RequestAborted;
        try
        {
            // a failure before any progress (a bad archive, an unknown image) is an HTTP error
            // status, as for any other request; after the first line it can only be a line
            if (!await lines.Reader.WaitToReadAsync(ct)) return;
            if (lines.Reader.TryPeek(out var first) && first.Status == ImageProgressStatus.Error && first.Error is { } e)
            {
                await work;
                var error = HcsError.ByName(e.Error) ?? HcsError.Internal;
                await HcsApi.WriteError(ctx, error, e.Message, e.Path, e.Errors);
                return;
            }
            ctx.Response.ContentType = "application/x-ndjson";
            await foreach (var line in lines.Reader.ReadAllAsync(ct))
            {
                await ctx.Response.Body.WriteAsync(ImageJson.ToUtf8(line), ct);
                await ctx.Response.Body.WriteAsync("\n"u8.ToArray(), ct);
                if (!lines.Reader.TryPeek(out _)) await ctx.Response.Body.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // the client left: the operation is cancelled through the same token
        }
        await work;
    }

    private static ImageProgress ErrorLine(Exception e)
    {
        var h = e switch
        {
            HcsException x => x,
            DocumentException d => HcsException.From(d),
            OperationCanceledException => new HcsException(HcsError.OperationTimeout, "cancelled"),
            _ => new HcsException(HcsError.Internal, e.Message),
        };
        return new ImageProgress
        {
            Status = ImageProgressStatus.Error,
            Error = new ErrorResponse { Error = h.Error.Name, Message = h.Detail, Path = h.Path, Errors = h.Errors is null ? null : [.. h.Errors] },
        };
    }

    private sealed class ChannelProgress(ChannelWriter<ImageProgress> writer) : IProgress<ImageProgress>
    {
        public void Report(ImageProgress value) => writer.TryWrite(value);
    }
}
