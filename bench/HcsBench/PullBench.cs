// hcs-bench pull: the driver of bench/pull.sh (which times this whole process against
// `skopeo copy docker://... oci:DIR` of the same image). One of, into a store root:
//
//   hcs-bench pull --root DIR --ref R [--insecure] [--mode fetch|eager|unpack] [--parallel N] --out F
//
//   --mode fetch   (default) RegistryClient.PullAsync(unpack: false): every blob fetched, verified,
//                  stored, the image named. A pull as hcsd does it, and what skopeo copy does.
//   --mode eager   RegistryClient.PullAsync(unpack: true): the same, with every layer unpacked
//                  into the layer store before it returns (overlapped with the downloads).
//   --mode unpack  ImageStore.UnpackAsync of an image already pulled into DIR with --mode fetch:
//                  what hcsd starts right after such a pull. No registry involved.
//   --parallel N   ImageStore.UnpackParallelism (layers extracted at once; default: the CPUs).
//
// Also reports the operation's own time, without process start-up, in --out (and for pulls the
// fetch phase: until the last blob was verified).
using System.Diagnostics;
using System.Text.Json;
using Hcs.Images.Images;
using Hcs.Images.Layers;
using Hcs.Images.Registry;

namespace Hcs.Bench
{
    internal static class PullBench
    {
        public static async Task<int> RunAsync(string[] args)
        {
            try
            {
                return await PullAsync(args);
            }
            catch (Exception e) when (e is ArgumentException or IOException or ImageException or LayerException)
            {
                Console.Error.WriteLine($"hcs-bench pull: {e.Message}");
                return e is ArgumentException ? 2 : 1;
            }
        }

        private static async Task<int> PullAsync(string[] args)
        {
            string root = "", reference = "", output = "", mode = "fetch";
            int parallel = 0;
            bool insecure = false;
            for (int i = 1; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--root": root = Next(); break;
                    case "--ref": reference = Next(); break;
                    case "--insecure": insecure = true; break;
                    case "--mode": mode = Next(); break;
                    case "--parallel": parallel = int.TryParse(Next(), out var p) && p > 0 ? p : throw new ArgumentException("--parallel needs a positive number"); break;
                    case "--out": output = Next(); break;
                    default: throw new ArgumentException($"unknown argument \"{args[i]}\"");
                }
            }
            if (root.Length == 0 || reference.Length == 0 || output.Length == 0)
                throw new ArgumentException("pull needs --root, --ref and --out");
            if (mode is not ("fetch" or "eager" or "unpack")) throw new ArgumentException($"--mode is fetch, eager or unpack, not \"{mode}\"");
            if (!ImageReference.TryParse(reference, out var parsed, out var error)) throw new ArgumentException(error);

            long start = Stopwatch.GetTimestamp();
            var store = parallel > 0 ? new ImageStore(root) { UnpackParallelism = parallel } : new ImageStore(root);
            long opened = Stopwatch.GetTimestamp();
            // the fetch phase (what skopeo copy does) ends when the last blob has been verified
            long lastVerified = opened;
            var gate = new object();
            var progress = new Progress(e =>
            {
                if (e.State != PullState.Verifying) return;
                lock (gate) lastVerified = Stopwatch.GetTimestamp();
            });
            ImageInfo image;
            if (mode == "unpack")
            {
                if (store.IsUnpacked(store.Inspect(reference))) throw new ArgumentException($"{reference} is unpacked already in {root}");
                await store.UnpackAsync(reference);
                image = store.Inspect(reference);
                if (!store.IsUnpacked(image)) throw new IOException($"{reference}: UnpackAsync returned, the image is not unpacked");
            }
            else
            {
                using var client = new RegistryClient(store, new RegistryOptions { InsecureRegistries = insecure ? [parsed.Domain] : [] });
                image = await client.PullAsync(parsed, unpack: mode == "eager", progress);
            }
            long done = Stopwatch.GetTimestamp();

            long blobBytes = image.LayerBlobs.Sum(l => l.Size);
            double ms = Stopwatch.GetElapsedTime(opened, done).TotalMilliseconds;
            await using (var stream = File.Create(output))
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("mode", mode);
                w.WriteString("reference", image.Reference);
                w.WriteString("root", root);
                w.WriteNumber("unpack_parallelism", store.UnpackParallelism);
                w.WriteNumber("open_ms", Stopwatch.GetElapsedTime(start, opened).TotalMilliseconds);
                if (mode == "unpack")
                {
                    w.WriteNumber("unpack_ms", ms);
                }
                else
                {
                    w.WriteNumber("pull_ms", ms);
                    w.WriteNumber("fetch_ms", Stopwatch.GetElapsedTime(opened, lastVerified).TotalMilliseconds);
                }
                w.WriteString("manifest", image.ManifestDigest);
                w.WriteNumber("layers", image.Layers.Count);
                w.WriteBoolean("unpacked", store.IsUnpacked(image));
                w.WriteNumber("blob_bytes", blobBytes);
                w.WriteNumber("size", image.Size);
                w.WriteEndObject();
            }
            Console.Error.WriteLine($"  {mode} {image.Reference}: {image.Layers.Count} layers, {blobBytes / 1048576.0:F0} MiB of blobs in {ms:F0} ms");
            return 0;
        }

        /// <summary>Called on the reporting thread (System.Progress would post to the thread pool).</summary>
        private sealed class Progress(Action<PullProgress> report) : IProgress<PullProgress>
        {
            public void Report(PullProgress value) => report(value);
        }
    }
}
