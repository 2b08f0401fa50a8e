// hcs-bench pull: one RegistryClient.PullAsync of an image into a store root, the driver of
// bench/pull.sh (which times this whole process against `skopeo copy docker://... oci:DIR` of the
// same image). Also reports the pull's own time, without process start-up, in --out.
//
//   hcs-bench pull --root DIR --ref R [--insecure] --out F
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
            string root = "", reference = "", output = "";
            bool insecure = false;
            for (int i = 1; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--root": root = Next(); break;
                    case "--ref": reference = Next(); break;
                    case "--insecure": insecure = true; break;
                    case "--out": output = Next(); break;
                    default: throw new ArgumentException($"unknown argument \"{args[i]}\"");
                }
            }
            if (root.Length == 0 || reference.Length == 0 || output.Length == 0)
                throw new ArgumentException("pull needs --root, --ref and --out");
            if (!ImageReference.TryParse(reference, out var parsed, out var error)) throw new ArgumentException(error);

            long start = Stopwatch.GetTimestamp();
            var store = new ImageStore(root);
            long opened = Stopwatch.GetTimestamp();
            using var client = new RegistryClient(store, new RegistryOptions { InsecureRegistries = insecure ? [parsed.Domain] : [] });
            // the fetch phase (what skopeo copy does) ends when the last blob has been verified
            long lastVerified = opened;
            var gate = new object();
            var progress = new Progress(e =>
            {
                if (e.State != PullState.Verifying) return;
                lock (gate) lastVerified = Stopwatch.GetTimestamp();
            });
            var image = await client.PullAsync(parsed, progress);
            long done = Stopwatch.GetTimestamp();

            long blobBytes = image.LayerBlobs.Sum(l => l.Size);
            await using (var stream = File.Create(output))
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("reference", image.Reference);
                w.WriteString("root", root);
                w.WriteNumber("open_ms", Stopwatch.GetElapsedTime(start, opened).TotalMilliseconds);
                w.WriteNumber("pull_ms", Stopwatch.GetElapsedTime(opened, done).TotalMilliseconds);
                w.WriteNumber("fetch_ms", Stopwatch.GetElapsedTime(opened, lastVerified).TotalMilliseconds);
                w.WriteString("manifest", image.ManifestDigest);
                w.WriteNumber("layers", image.Layers.Count);
                w.WriteNumber("blob_bytes", blobBytes);
                w.WriteNumber("unpacked_bytes", image.Size);
                w.WriteEndObject();
            }
            Console.Error.WriteLine($"  pulled {image.Reference}: {image.Layers.Count} layers, {blobBytes / 1048576.0:F0} MiB of blobs in {Stopwatch.GetElapsedTime(opened, done).TotalMilliseconds:F0} ms");
            return 0;
        }

        /// <summary>Called on the reporting thread (System.Progress would post to the thread pool).</summary>
        private sealed class Progress(Action<PullProgress> report) : IProgress<PullProgress>
        {
            public void Report(PullProgress value) => report(value);
        }
    }
}
