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

/// <summary>A bar per layer while an image is pulled or imported (stderr is a terminal).</summary>
internal static class ProgressBars
{
    public static async Task<T> RunAsync<T>(Func<IProgress<Hcs.Schema.Images.ImageProgress>, Task<T>> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn())
            .StartAsync(ctx => work(new Bars(ctx)));
    }

    private sealed class Bars(ProgressContext ctx) : IProgress<Hcs.Schema.Images.ImageProgress>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = [];

        public void Report(Hcs.Schema.Images.ImageProgress p)
        {
            if (p.Layer is not { } layer) return;
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(layer, out var task))
                    _tasks[layer] = task = ctx.AddTask(Images.ShortId(layer), maxValue: Math.Max(p.Total, 1));
                if (p.Total > 0) task.MaxValue = p.Total;
                task.Description = $"{Images.ShortId(layer)} {p.Status}";
                if (p.Status is "Done" or "AlreadyExists") task.Value = task.MaxValue;
                else task.Value = Math.Min(p.Current, task.MaxValue);
            }
        }
    }
}
