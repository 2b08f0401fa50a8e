using Microsoft.Data.Sqlite;

namespace Hcs.Daemon.Store;

/// <summary>A compute system as stored: enough to rebuild the daemon's view after a restart.</summary>
public sealed record SystemRow(
    string Id, string? Owner, string State, byte[] Document, byte[] Spec, DateTime Created, int InitPid,
    int? ExitCode, string? ExitType, string Bundle, string? LogPath, string Isolation);

public sealed record ProcessRow(string SystemId, int Pid, bool Exited, int ExitCode, bool Terminal, DateTime Created);

/// <summary>
/// The embedded store (SQLite, WAL): compute systems and their processes. A create writes its
/// row in state "Creating" (an intent) while hcs-monitor makes the container: if the daemon dies
/// before it recorded the monitor's answer, the restart finds the intent and keeps the system
/// (the monitor finished it) or undoes whatever exists of it; a system on the host with no row at
/// all (the daemon died before the intent was on disk) is removed whole.
/// </summary>
public sealed class SystemStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();

    public SystemStore(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        ExecScript("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA cache_size = -1024;
            CREATE TABLE IF NOT EXISTS systems (
                id TEXT PRIMARY KEY, owner TEXT, state TEXT NOT NULL, document BLOB NOT NULL, spec BLOB NOT NULL,
                created TEXT NOT NULL, init_pid INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, exit_type TEXT,
                bundle TEXT NOT NULL, log_path TEXT, isolation TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS processes (
                system_id TEXT NOT NULL REFERENCES systems(id) ON DELETE CASCADE, pid INTEGER NOT NULL,
                exited INTEGER NOT NULL DEFAULT 0, exit_code INTEGER NOT NULL DEFAULT 0, terminal INTEGER NOT NULL DEFAULT 0,
                created TEXT NOT NULL, PRIMARY KEY (system_id, pid));
            PRAGMA foreign_keys = ON;
            """);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Prepared statements by their text: a handful, each run on every create, start,
    /// exit and delete; preparing one again each time cost more than running it.</summary>
    private readonly Dictionary<string, SqliteCommand> _prepared = [];

    // ---- writes that can wait -------------------------------------------------------------
    //
    // A state the monitor can tell again (started, an exit) and a delete's last step (the row is
    // 'Deleting' until then, which a restart finishes) need not be on disk before the answer: a
    // daemon killed first restores them in ReconcileAsync. They are queued, and written before
    // the next write or read (so the order on disk is the order of the calls), or within
    // FlushDelay, in one transaction.

    private static readonly TimeSpan FlushDelay = TimeSpan.FromMilliseconds(100);
    private readonly Queue<(string Sql, (string, object?)[] Args)> _later = new();
    private Timer? _flushTimer;

    /// <summary>Told of a queued write that failed (there is no caller left to throw to).</summary>
    public Action<Exception>? LaterWriteFailed { get; set; }

    private void Later(string sql, params (string, object?)[] args)
    {
        lock (_gate)
        {
            _later.Enqueue((sql, args));
            if (_later.Count > 1) return; // the timer is set already
            _flushTimer ??= new Timer(_ => Flush(), null, Timeout.Infinite, Timeout.Infinite);
            _flushTimer.Change(FlushDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Writes what is queued now.</summary>
    public void Flush()
    {
        lock (_gate) FlushLocked();
    }

    private void FlushLocked()
    {
        if (_later.Count == 0) return;
        try
        {
            using var tx = _db.BeginTransaction();
            foreach (var w in _later) ExecLocked(w.Sql, w.Args, tx);
            tx.Commit();
            _later.Clear();
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException)
        {
            // kept, in order, for the next try (a full disk may free up); the caller of the
            // write that comes next gets its own error if the store still fails
            LaterWriteFailed?.Invoke(e);
            _flushTimer?.Change(FlushDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private void Exec(string sql, params (string, object?)[] args)
    {
        lock (_gate)
        {
            FlushLocked();
            ExecLocked(sql, args, null);
        }
    }

    private void ExecLocked(string sql, (string, object?)[] args, SqliteTransaction? tx)
    {
        if (!_prepared.TryGetValue(sql, out var c))
        {
            c = _db.CreateCommand();
            c.CommandText = sql;
            foreach (var (name, _) in args) c.Parameters.Add(new SqliteParameter { ParameterName = name });
            c.Prepare();
            _prepared[sql] = c;
        }
        c.Transaction = tx;
        for (int i = 0; i < args.Length; i++) c.Parameters[i].Value = args[i].Item2 ?? DBNull.Value;
        c.ExecuteNonQuery();
    }

    /// <summary>The schema and pragmas: several statements, run once.</summary>
    private void ExecScript(string sql)
    {
        using var c = _db.CreateCommand();
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    /// <summary>False when the id is taken.</summary>
    public bool InsertIntent(SystemRow r)
    {
        try
        {
            Exec("""
                INSERT INTO systems (id, owner, state, document, spec, created, bundle, log_path, isolation)
                VALUES ($id, $owner, $state, $doc, $spec, $created, $bundle, $log, $iso)
                """,
                ("$id", r.Id), ("$owner", r.Owner), ("$state", r.State), ("$doc", r.Document), ("$spec", r.Spec),
                ("$created", r.Created.ToString("O")), ("$bundle", r.Bundle), ("$log", r.LogPath), ("$iso", r.Isolation));
            return true;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
        {
            return false;
        }
    }

    // The statements written now and the ones written soon (see Later) are the same text.
    private const string StateSql = "UPDATE systems SET state = $s, init_pid = COALESCE($pid, init_pid) WHERE id = $id";
    /// <summary>(Never over 'Deleting': a forced delete's own kill reports an exit while the row
    /// says the delete is under way, and a restart must finish that delete.)</summary>
    private const string ExitedSql = "UPDATE systems SET state = 'Stopped', exit_code = $c, exit_type = $t WHERE id = $id AND state <> 'Deleting'";
    private const string DeleteSql = "DELETE FROM systems WHERE id = $id";

    public void SetState(string id, string state, int? initPid = null) => Exec(StateSql, ("$s", state), ("$pid", initPid), ("$id", id));

    public void SetExited(string id, int exitCode, string exitType) => Exec(ExitedSql, ("$c", exitCode), ("$t", exitType), ("$id", id));

    public void SetSpec(string id, byte[] document, byte[] spec) =>
        Exec("UPDATE systems SET document = $d, spec = $s WHERE id = $id", ("$d", document), ("$s", spec), ("$id", id));

    public void Delete(string id) => Exec(DeleteSql, ("$id", id));

    /// <summary>A created system's init, and its state unless an exit got there first.</summary>
    public void SetCreated(string id, int initPid) =>
        Exec("UPDATE systems SET init_pid = $pid, state = CASE state WHEN 'Creating' THEN 'Created' ELSE state END WHERE id = $id",
             ("$pid", initPid), ("$id", id));

    /// <summary>A started system's state, written soon (see Later).</summary>
    public void SetRunningSoon(string id) => Later(StateSql, ("$s", "Running"), ("$pid", null), ("$id", id));

    /// <summary>An exit, written soon (see Later).</summary>
    public void SetExitedSoon(string id, int exitCode, string exitType) => Later(ExitedSql, ("$c", exitCode), ("$t", exitType), ("$id", id));

    /// <summary>A delete's last step, written soon (see Later).</summary>
    public void DeleteSoon(string id) => Later(DeleteSql, ("$id", id));

    /// <summary>An exec'd process's exit, written soon (see Later).</summary>
    public void SetProcessExitedSoon(string systemId, int pid, int exitCode) =>
        Later("UPDATE processes SET exited = 1, exit_code = $c WHERE system_id = $s AND pid = $p",
              ("$c", exitCode), ("$s", systemId), ("$p", pid));

    public void InsertProcess(ProcessRow p) =>
        Exec("INSERT OR REPLACE INTO processes (system_id, pid, exited, exit_code, terminal, created) VALUES ($s, $p, $e, $c, $t, $cr)",
             ("$s", p.SystemId), ("$p", p.Pid), ("$e", p.Exited ? 1 : 0), ("$c", p.ExitCode), ("$t", p.Terminal ? 1 : 0),
             ("$cr", p.Created.ToString("O")));

    public List<SystemRow> Systems()
    {
        var result = new List<SystemRow>();
        lock (_gate)
        {
            FlushLocked();
            using var c = _db.CreateCommand();
            c.CommandText = "SELECT id, owner, state, document, spec, created, init_pid, exit_code, exit_type, bundle, log_path, isolation FROM systems";
            using var r = c.ExecuteReader();
            while (r.Read())
                result.Add(new SystemRow(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2),
                    (byte[])r[3], (byte[])r[4], DateTime.Parse(r.GetString(5), null, System.Globalization.DateTimeStyles.RoundtripKind),
                    r.GetInt32(6), r.IsDBNull(7) ? null : r.GetInt32(7), r.IsDBNull(8) ? null : r.GetString(8),
                    r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10), r.GetString(11)));
        }
        return result;
    }

    public List<ProcessRow> Processes()
    {
        var result = new List<ProcessRow>();
        lock (_gate)
        {
            FlushLocked();
            using var c = _db.CreateCommand();
            c.CommandText = "SELECT system_id, pid, exited, exit_code, terminal, created FROM processes";
            using var r = c.ExecuteReader();
            while (r.Read())
                result.Add(new ProcessRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2) != 0, r.GetInt32(3), r.GetInt32(4) != 0,
                    DateTime.Parse(r.GetString(5), null, System.Globalization.DateTimeStyles.RoundtripKind)));
        }
        return result;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _flushTimer?.Dispose();
            FlushLocked();
            foreach (var c in _prepared.Values) c.Dispose();
            _prepared.Clear();
        }
        _db.Dispose();
    }
}
