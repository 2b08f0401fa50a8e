namespace Hcs.Tests.Integration;

/// <summary>
/// A fact that needs root (cgroups, namespaces, mounts, bpf). xunit 2 cannot skip from inside a
/// running test, so the decision is taken when the test is discovered: not root → skipped with
/// the reason shown by the runner. Tests needing more than root (a cgroup2 mount, a controller)
/// check that themselves, print why and return.
/// </summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
            Skip = "needs root (run the integration tests as root: sudo dotnet test ...)";
    }
}

/// <summary>A theory that needs root; see <see cref="RootFactAttribute"/>.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
            Skip = "needs root (run the integration tests as root: sudo dotnet test ...)";
    }
}
