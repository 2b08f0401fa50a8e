// hcs-bench mount-layers: the root filesystem of an N-layer image, mounted as hcs mounts it for a
// container (one overlayfs mount: the image's layer directories from the layer store as lowerdir,
// a fresh scratch's upper/ and work/), timed mount(2) by mount(2); the driver of bench/mount.sh.
// The layers are imported from generated tars (files in each, a whiteout in some) into a store
// at --root first; that is not timed.
//
//   hcs-bench mount-layers --root DIR --layers N [--files N] [--iterations N] --out F
using System.Diagnostics;
using System.Formats.Tar;
using System.Runtime.InteropServices;
using System.Text.Json;
using Hcs.Images.Layers;

namespace Hcs.Bench
{
    internal static partial class MountBench
    {
        public static async Task<int> RunAsync(string[] args)
        {
            string root = "", output = "";
            int layers = 10, files = 100, iterations = 200;
            try
            {
                for (int i = 1; i < args.Length; i++)
                {
                    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                    int Number() => int.TryParse(Next(), out var n) && n > 0 ? n : throw new ArgumentException($"{args[i - 1]}: not a positive number");
                    switch (args[i])
                    {
                        case "--root": root = Next(); break;
                        case "--out": output = Next(); break;
                        case "--layers": layers = Number(); break;
                        case "--files": files = Number(); break;
                        case "--iterations": iterations = Number(); break;
                        default: throw new ArgumentException($"unknown argument \"{args[i]}\"");
                    }
                }
                if (root.Length == 0 || output.Length == 0) throw new ArgumentException("mount-layers needs --root and --out");
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"hcs-bench mount-layers: {e.Message}");
                return 2;
            }

            var store = new LayerStore(Path.Combine(root, "store"));
            string? top = null;
            for (int l = 0; l < layers; l++)
                top = (await store.ImportAsync(LayerTar(l, files), top)).ChainId;
            var samples = new List<double>();
            var target = Path.Combine(root, "rootfs");
            Directory.CreateDirectory(target);
            for (int i = 0; i < iterations; i++)
            {
                var scratch = Path.Combine(root, "scratch-" + i);
                Directory.CreateDirectory(Path.Combine(scratch, "upper"));
                Directory.CreateDirectory(Path.Combine(scratch, "work"));
                // timed: finding the layer directories in the store (each layer's layer.json, top
                // down, as for a container's create), then the mount
                long t0 = Stopwatch.GetTimestamp();
                var lower = string.Join(':', store.LowerDirs(top!));
                var options = $"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work";
                if (Mount("overlay", target, "overlay", 0, options) != 0)
                    throw new IOException($"mount overlay: errno {Marshal.GetLastPInvokeError()}");
                samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                // the image is really there: a file of the lowest layer, and the top layer's whiteout
                if (i == 0 && (!File.Exists(Path.Combine(target, "layer0/file0")) || File.Exists(Path.Combine(target, "layer0/file1"))))
                    throw new IOException("the mounted root does not show the layers as stacked");
                if (Umount2(target, 0) != 0) throw new IOException($"umount: errno {Marshal.GetLastPInvokeError()}");
                Directory.Delete(scratch, recursive: true);
            }
            samples.Sort();
            double median = samples[samples.Count / 2];
            await using (var stream = File.Create(output))
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteNumber("layers", layers);
                w.WriteNumber("files_per_layer", files);
                w.WriteNumber("median_ms", median);
                w.WriteNumber("p90_ms", samples[(int)(samples.Count * 0.9)]);
                w.WriteNumber("min_ms", samples[0]);
                w.WriteStartArray("samples_ms");
                foreach (var s in samples) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            Console.Error.WriteLine($"mount of a {layers}-layer root: median {median:F3} ms over {iterations}");
            return 0;
        }

        /// <summary>Layer l: directory layer{l}/ with N small files; layers above the first
        /// whiteout layer0/file1 (so the mount has whiteouts to honour, as real images do).</summary>
        private static MemoryStream LayerTar(int l, int files)
        {
            var ms = new MemoryStream();
            using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
            {
                w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"layer{l}/") { Mode = (UnixFileMode)0x1ed });
                for (int f = 0; f < files; f++)
                    w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"layer{l}/file{f}")
                    { Mode = (UnixFileMode)0x1a4, DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes($"layer {l} file {f}\n")) });
                if (l > 0)
                    w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "layer0/.wh.file1") { Mode = (UnixFileMode)0x1a4, DataStream = new MemoryStream() });
            }
            ms.Position = 0;
            return ms;
        }

        [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Mount(string source, string target, string type, ulong flags, string data);

        [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Umount2(string target, int flags);
    }
}
