using Spectre.Console;
using Spectre.Console.Rendering;

namespace Hcs.Cli;

/// <summary>Spectre.Console kept behind its own classes, so a command that prints no table to a
/// terminal never runs its static initialisation (console detection, capabilities).</summary>
internal static class FancyTable
{
    public static void Write(string[] headers, IReadOnlyList<string[]> rows) => AnsiConsole.Write(Build(headers, rows));

    public static Table Build(string[] headers, IReadOnlyList<string[]> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in headers)
            table.AddColumn(new TableColumn(new Text(h, new Style(decoration: Decoration.Bold))));
        foreach (var r in rows) AddRow(table, r);
        return table;
    }

    public static void AddRow(Table table, string[] cells) =>
        table.AddRow([.. cells.Select(c => (IRenderable)new Text(c))]); // Text, not markup: ids may hold '['
}

/// <summary>The live stats table, refreshed in place while stdout is a terminal.</summary>
internal static class LiveStats
{
    public static async Task<int> RunAsync(Func<Task<Queries.StatsRows>> next, TimeSpan interval, CancellationToken ct)
    {
        var table = FancyTable.Build(Queries.StatsHeaders, []);
        try
        {
            await AnsiConsole.Live(table).StartAsync(async live =>
            {
                while (!ct.IsCancellationRequested)
                {
                    await Task.Delay(interval, ct);
                    var rows = await next();
                    table.Rows.Clear();
                    foreach (var r in rows.Cells) FancyTable.AddRow(table, r);
                    live.Refresh();
                }
            });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        return 0;
    }
}
