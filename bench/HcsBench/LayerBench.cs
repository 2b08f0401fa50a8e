// hcs-bench layer-import: one LayerStore.ImportAsync of a layer file into a store root, the
// driver of bench/layers.sh (which times this whole process against `tar -xzf` of the same
// file). Also reports the import's own time, without process start-up, in --out.
//
//   hcs-bench layer-import --root DIR --file F --out F
using System.Diagnostics;
using System.Text.Json;
using Hcs.Images.Layers;

namespace Hcs.Bench
{
    internal static class LayerBench
    {
        public static async Task<int> RunAsync(string[] args)
        {
            try
            {
                return await ImportAsync(args);
            }
            catch (Exception e) when (e is ArgumentException or IOException or LayerException)
            {
                Console.Error.WriteLine($"hcs-bench layer-import: {e.Message}");
                return e is ArgumentException ? 2 : 1;
            }
        }

        private static async Task<int> ImportAsync(string[] args)
        {
            string root = "", file = "", output = "";
            for (int i = 1; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--root": root = Next(); break;
                    case "--file": file = Next(); break;
                    case "--out": output = Next(); break;
                    default: throw new ArgumentException($"unknown argument \"{args[i]}\"");
                }
            }
            if (root.Length == 0 || file.Length == 0 || output.Length == 0)
                throw new ArgumentException("layer-import needs --root, --file and --out");

            long start = Stopwatch.GetTimestamp();
            var store = new LayerStore(root);
            long opened = Stopwatch.GetTimestamp();
            // unbuffered: the importer reads in 1 MiB pieces itself
            await using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            var layer = await store.ImportAsync(input, parentChainId: null);
            long done = Stopwatch.GetTimestamp();

            await using (var stream = File.Create(output))
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("file", file);
                w.WriteString("root", root);
                w.WriteNumber("open_ms", Stopwatch.GetElapsedTime(start, opened).TotalMilliseconds);
                w.WriteNumber("import_ms", Stopwatch.GetElapsedTime(opened, done).TotalMilliseconds);
                w.WriteString("chain_id", layer.ChainId);
                w.WriteString("diff_id", layer.DiffId);
                w.WriteNumber("size", layer.Size);
                w.WriteEndObject();
            }
            Console.Error.WriteLine($"  imported {layer.ChainId[..19]} ({layer.Size / 1048576.0:F0} MiB of files) in {Stopwatch.GetElapsedTime(opened, done).TotalMilliseconds:F0} ms");
            return 0;
        }
    }
}
