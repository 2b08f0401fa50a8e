// Commit exports a running container's upper dir (no pause): the container can swap a name
// between the exporter's statx and its open. A device node swapped in must never be opened by
// hcsd (root, outside the container's device cgroup: it would read the device into the image),
// and a fifo must not hang the export.
using System.Formats.Tar;
using System.Runtime.InteropServices;
using Hcs.Images.Layers;
using Hcs.Linux.Native;
using Hcs.Tests.Integration.Support;

namespace Hcs.Tests.Integration.Images;

public sealed partial class LayerExportRaceTests : IDisposable
{
    private readonly string _dir = Path.Combine("/var/tmp/hcs-tests", "export-race-" + Guid.NewGuid().ToString("N")[..10]);

    public LayerExportRaceTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => LayerSyscalls.RemoveTree(LayerSyscalls.AT_FDCWD, _dir);

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [RootFact]
    public void A_device_node_or_fifo_under_the_name_is_not_opened()
    {
        Assert.Equal(0, Tools.Run("mknod", [Path.Combine(_dir, "dev"), "c", "1", "9"]).ExitCode); // /dev/urandom's numbers
        Assert.Equal(0, Tools.Run("mkfifo", [Path.Combine(_dir, "fifo")]).ExitCode);
        File.WriteAllText(Path.Combine(_dir, "file"), "data");
        int dirFd = Libc.Check(Libc.Open(_dir, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0), "open");
        try
        {
            Assert.Throws<LayerException>(() => LayerExporter.OpenRegularFile(dirFd, "dev", "dev", out _));
            var fifo = Task.Run(() => Assert.Throws<LayerException>(() => LayerExporter.OpenRegularFile(dirFd, "fifo", "fifo", out _)));
            Assert.True(fifo.Wait(TimeSpan.FromSeconds(10)), "opening a fifo blocked");
            int fd = LayerExporter.OpenRegularFile(dirFd, "file", "file", out var st);
            Assert.True(fd >= 0);
            Assert.Equal(4UL, st.Size);
            Libc.Close(fd);
            Assert.Equal(-1, LayerExporter.OpenRegularFile(dirFd, "missing", "missing", out _));
        }
        finally
        {
            Libc.Close(dirFd);
        }
    }

    [RootFact]
    public async Task A_container_swapping_a_file_for_a_device_never_gets_the_device_into_the_layer()
    {
        var upper = Path.Combine(_dir, "upper");
        Directory.CreateDirectory(upper);
        using (var f = File.Create(Path.Combine(upper, "f"))) f.SetLength(64 << 10); // zeros
        Assert.Equal(0, Tools.Run("mknod", [Path.Combine(upper, "d"), "c", "1", "9"]).ExitCode); // random bytes
        var store = new LayerStore(Path.Combine(_dir, "store"));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var swapper = Task.Run(() =>
        {
            const uint RENAME_EXCHANGE = 2;
            while (!stop.IsCancellationRequested)
                RenameAt2(LayerSyscalls.AT_FDCWD, Path.Combine(upper, "f"), LayerSyscalls.AT_FDCWD, Path.Combine(upper, "d"), RENAME_EXCHANGE);
        });
        int exports = 0;
        while (!stop.IsCancellationRequested)
        {
            var tar = new MemoryStream();
            try
            {
                await store.ExportChangesAsync(upper, tar);
            }
            catch (LayerException)
            {
                continue; // the swap was seen and refused: fine
            }
            exports++;
            tar.Position = 0;
            using var reader = new TarReader(tar);
            while (reader.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null) continue;
                var bytes = new byte[entry.Length];
                entry.DataStream.ReadExactly(bytes);
                Assert.True(bytes.All(b => b == 0), $"{entry.Name}: the export read the device node (export {exports})");
            }
        }
        await swapper;
        Assert.True(exports > 0);
    }
}
