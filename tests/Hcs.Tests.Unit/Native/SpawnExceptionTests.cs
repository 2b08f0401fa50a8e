using Hcs.Linux.Containers;
using Hcs.Linux.Native;

namespace Hcs.Tests.Unit.Native;

/// <summary>A failure inside the spawn names the config value it is about (the JSON path behind
/// the area and index the child reported).</summary>
public sealed class SpawnExceptionTests
{
    private static SpawnRequest Request()
    {
        var r = new SpawnRequest();
        r.Steps.Add(new MountStep { Kind = MountStepKind.Mount, Target = "/proc", ConfigPath = "$.mounts[0]" });
        return r;
    }

    [Theory]
    [InlineData(SpawnAbi.Area.Step, 0, "$.mounts[0]")]
    [InlineData(SpawnAbi.Area.Cwd, -1, "$.process.cwd")]
    [InlineData(SpawnAbi.Area.Terminal, -1, "$.process.terminal")]
    [InlineData(SpawnAbi.Area.User, -1, "$.process.user")]
    [InlineData(SpawnAbi.Area.Masked, 2, "$.linux.maskedPaths[2]")]
    public void A_failure_is_located_in_the_config(SpawnAbi.Area area, int index, string path)
    {
        var e = new SpawnException(1, "open pty", "/dev/ptmx") { Area = area, Index = index }.Locate(Request());
        Assert.Equal(path, e.ConfigPath);
        Assert.StartsWith(path + ": open pty /dev/ptmx: ", e.Message);
    }

    [Fact]
    public void A_failure_outside_any_area_has_no_path()
    {
        var e = new SpawnException(1, "fork", "") { Area = SpawnAbi.Area.None }.Locate(Request());
        Assert.Null(e.ConfigPath);
        Assert.StartsWith("fork: ", e.Message);
    }
}
