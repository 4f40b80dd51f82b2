/**
 * The embedded engine: one SQLite file in WAL mode, fsynced on every commit.
 * Writes go through one connection, one unit of work at a time (SQLite has one
 * writer anyway); reads use a second connection so they never see uncommitted rows.
 */
import { Database, type SQLQueryBindings } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ApprovalRecord, AuditEntry, Presence, Task, TaskStatus } from "../../contract/schemas.ts";
import type { Visibility } from "../policy.ts";
import { ChangeListeners } from "./listeners.ts";
import { keepingText, refuseUnstorable, toApproval, toAudit, toChange, toMessage, toPresence, toSession, toTask, withoutSeq } from "./rows.ts";
import {
  StoreUnavailableError,
  type ApprovalFilter,
  type AuditFilter,
  type Change,
  type IdempotencyReservation,
  type Positioned,
  type Store,
  type StoreTx,
  type TaskFilter,
  type WebSession,
} from "./store.ts";

/** Versioned migrations: append only, never edit one that has shipped. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tasks (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     task_id TEXT NOT NULL UNIQUE,
     target TEXT NOT NULL, source TEXT NOT NULL, task_type TEXT NOT NULL,
     description TEXT, data TEXT NOT NULL, context TEXT NOT NULL, priority TEXT NOT NULL,
     status TEXT NOT NULL, claimed_by TEXT, result TEXT, error TEXT,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL, trace_id TEXT NOT NULL);
   CREATE INDEX tasks_target ON tasks (target, status, seq);
   CREATE INDEX tasks_source ON tasks (source, seq);
   CREATE INDEX tasks_status ON tasks (status, seq);
   CREATE TABLE approvals (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     approval_id TEXT NOT NULL UNIQUE,
     task_id TEXT NOT NULL REFERENCES tasks (task_id),
     approver_role TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL,
     requested_by TEXT NOT NULL, decided_by TEXT, comments TEXT NOT NULL,
     created_at TEXT NOT NULL, decided_at TEXT, trace_id TEXT NOT NULL);
   CREATE INDEX approvals_role ON approvals (approver_role, status, seq);
   CREATE INDEX approvals_task ON approvals (task_id);
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
     task_id TEXT NOT NULL, approval_id TEXT, from_status TEXT, to_status TEXT, trace_id TEXT NOT NULL,
     target TEXT NOT NULL, source TEXT NOT NULL, approver_role TEXT);
   CREATE INDEX audit_task ON audit (task_id, seq);
   CREATE INDEX audit_actor ON audit (actor, seq);
   CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
   CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
   CREATE TABLE idempotency (
     scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, response TEXT,
     created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
     PRIMARY KEY (scope, key));
   CREATE INDEX idempotency_expiry ON idempotency (expires_at);`,
  `CREATE TABLE web_sessions (
     id_hash TEXT PRIMARY KEY, subject TEXT NOT NULL, roles TEXT NOT NULL, csrf_token TEXT NOT NULL,
     created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
   CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
   CREATE TABLE used_tickets (ticket_id TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
   CREATE INDEX used_tickets_expiry ON used_tickets (expires_at);`,
  // An event stream's replay reads only what its caller may hear; the key budget finds a caller's oldest keys.
  `CREATE INDEX audit_source ON audit (source, seq);
   CREATE INDEX audit_target ON audit (target, seq);
   CREATE INDEX audit_approver ON audit (approver_role, seq);
   CREATE INDEX idempotency_age ON idempotency (scope, created_at, key);`,
  // Data protection: what the privacy guard found (kinds and counts), which tasks' payloads retention removed, and erasures.
  `ALTER TABLE audit ADD COLUMN findings TEXT;
   ALTER TABLE tasks ADD COLUMN payload_removed_at TEXT;
   CREATE INDEX tasks_payload_kept ON tasks (updated_at) WHERE payload_removed_at IS NULL;
   CREATE INDEX tasks_claimed_by ON tasks (claimed_by);
   CREATE INDEX approvals_requested_by ON approvals (requested_by);
   CREATE INDEX approvals_decided_by ON approvals (decided_by);
   CREATE TABLE erasures (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, erased_by TEXT NOT NULL, at TEXT NOT NULL, records INTEGER NOT NULL);`,
  // Leases, attempts, deadlines and expiring approvals; the partial indexes find the next timer due.
  `ALTER TABLE tasks ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
   ALTER TABLE tasks ADD COLUMN lease_expires_at TEXT;
   ALTER TABLE tasks ADD COLUMN retry_at TEXT;
   ALTER TABLE tasks ADD COLUMN deadline TEXT;
   ALTER TABLE tasks ADD COLUMN progress TEXT;
   UPDATE tasks SET attempt = 1 WHERE status IN ('claimed', 'completed', 'failed');
   CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE status = 'claimed';
   CREATE INDEX tasks_deadline ON tasks (deadline) WHERE status IN ('pending', 'claimed');
   ALTER TABLE approvals ADD COLUMN expires_at TEXT;
   ALTER TABLE approvals ADD COLUMN escalate_to TEXT;
   ALTER TABLE approvals ADD COLUMN escalated_from TEXT;
   CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE status = 'pending';`,
  // Who serves each role: a row per role and worker or session, its last report.
  `CREATE TABLE presence (
     role TEXT NOT NULL, kind TEXT NOT NULL, instance TEXT NOT NULL, subject TEXT NOT NULL,
     last_seen TEXT NOT NULL, expires_at TEXT NOT NULL,
     PRIMARY KEY (role, kind, instance));
   CREATE INDEX presence_seen ON presence (last_seen);
   CREATE INDEX presence_expiry ON presence (expires_at);`,
  // Tasks that talk and split: a thread per task, subtasks found by their parent, and a
  // change says its task's parent so a wait on the parent wakes. A deadline holds while a task waits for an answer.
  `CREATE TABLE task_messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     task_id TEXT NOT NULL REFERENCES tasks (task_id),
     kind TEXT NOT NULL, author TEXT NOT NULL, at TEXT NOT NULL, text TEXT NOT NULL, data TEXT);
   CREATE INDEX task_messages_task ON task_messages (task_id, seq);
   ALTER TABLE tasks ADD COLUMN parent_task_id TEXT REFERENCES tasks (task_id);
   CREATE INDEX tasks_parent ON tasks (parent_task_id, seq) WHERE parent_task_id IS NOT NULL;
   ALTER TABLE audit ADD COLUMN parent_task_id TEXT;
   DROP INDEX tasks_deadline;
   CREATE INDEX tasks_deadline ON tasks (deadline) WHERE status IN ('pending', 'claimed', 'input_required');`,
  // Presence is kept per caller (its newest rows), found by subject.
  `CREATE INDEX presence_subject ON presence (subject, last_seen);`,
  // Indexes hold only rows that have the value they find: the next time due is found
  // without walking every task that has none, and a new task writes none of these.
  `DROP INDEX tasks_deadline;
   CREATE INDEX tasks_deadline ON tasks (deadline) WHERE deadline IS NOT NULL AND status IN ('pending', 'claimed', 'input_required');
   DROP INDEX tasks_lease;
   CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE lease_expires_at IS NOT NULL AND status = 'claimed';
   DROP INDEX approvals_expiry;
   CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE expires_at IS NOT NULL AND status = 'pending';
   DROP INDEX tasks_claimed_by;
   CREATE INDEX tasks_claimed_by ON tasks (claimed_by) WHERE claimed_by IS NOT NULL;
   DROP INDEX approvals_decided_by;
   CREATE INDEX approvals_decided_by ON approvals (decided_by) WHERE decided_by IS NOT NULL;
   DROP INDEX audit_approver;
   CREATE INDEX audit_approver ON audit (approver_role, seq) WHERE approver_role IS NOT NULL;`,
];

/** The newest schema this build knows; a database with a newer one was made by a newer build. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** A task's payload columns, emptied: what retention and erasure leave of them. */
const TASK_PAYLOAD_REMOVED = `description = NULL, data = '{}', context = '{}', progress = NULL,
  result = CASE WHEN result IS NULL THEN NULL ELSE '{}' END, error = CASE WHEN error IS NULL THEN NULL ELSE '' END`;

/** A thread message's payload, emptied. */
const MESSAGE_PAYLOAD_REMOVED = "text = '', data = NULL";

const TASK_COLUMNS = `seq, task_id, target, source, task_type, description, data, context, priority, status,
  claimed_by, result, error, created_at, updated_at, version, trace_id,
  attempt, max_attempts, lease_expires_at, retry_at, deadline, progress, parent_task_id`;

/**
 * The rows the timers' partial indexes hold, as their WHERE says it: the queries name
 * the index too, since without statistics SQLite would rather walk every pending task by status.
 */
const DEADLINE_SET = "deadline IS NOT NULL AND status IN ('pending', 'claimed', 'input_required')";
const EXPIRY_SET = "expires_at IS NOT NULL AND status = 'pending'";

/** JSON columns are text in SQLite. */
const jsonText = (value: object | null) => (value === null ? null : JSON.stringify(value));

type Clause = { sql: string; params: SQLQueryBindings[] };

type PendingUnit = { work: (tx: StoreTx) => Promise<unknown>; resolve: (value: unknown) => void; reject: (error: unknown) => void };

/** The disk or the file failing (full, read-only, I/O, locked) is the database being away: 503. */
const UNAVAILABLE_CODES = /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|CORRUPT|NOTADB)/;

function unavailable(error: unknown): unknown {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && UNAVAILABLE_CODES.test(code) ? new StoreUnavailableError(`SQLite: ${(error as Error).message}`) : error;
}

/** Units of work committed together at most; bounds how long one commit holds the writer. */
const MAX_GROUP = 256;

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

/** mayReadTask in policy.ts, in SQL: a task's source, holders of its target role, and holders of an approver role asked about it. */
function taskVisibility(visibleTo: Visibility | undefined, alias = "tasks"): Clause | null {
  if (!visibleTo) return null;
  const roles = [...visibleTo.roles];
  const inRoles = placeholders(roles.length);
  const byRole = roles.length
    ? ` OR ${alias}.target IN (${inRoles}) OR EXISTS (SELECT 1 FROM approvals v WHERE v.task_id = ${alias}.task_id AND v.approver_role IN (${inRoles}))`
    : "";
  return { sql: `(${alias}.source = ?${byRole})`, params: [visibleTo.subject, ...roles, ...roles] };
}

/**
 * The rule "may hear a change" (mayHear in policy.ts) for someone who is not an admin:
 * the change's source is the caller, or its target or approver_role is one of the
 * caller's roles. Each of those is its own ordered index range, read only as far as
 * `limit`, so a replay costs what the caller may hear, not the length of the trail.
 */
function changesHeardBy({ subject, roles }: Visibility, after: number, limit: number): Clause {
  // ?1 and ?2 are shared by every range; the values follow from ?3.
  const range = (column: string, at: number) => `SELECT seq FROM (SELECT seq FROM audit WHERE ${column} = ?${at} AND seq > ?1 ORDER BY seq LIMIT ?2)`;
  const ranges = [range("source", 3), ...roles.flatMap((_, i) => [range("target", i + 4), range("approver_role", i + 4)])];
  // One compound SELECT may have 500 parts; many roles make a compound of compounds.
  const parts: string[] = [];
  for (let i = 0; i < ranges.length; i += 400) parts.push(`SELECT seq FROM (${ranges.slice(i, i + 400).join(" UNION ALL ")})`);
  return { sql: `seq IN (${parts.join(" UNION ALL ")})`, params: [after, limit, subject, ...roles] };
}

/** mayReadApproval in policy.ts, in SQL, for an approval `a`: who asked for it, holders of its approver role, and readers of its task. */
function approvalVisibility(visibleTo: Visibility | undefined): Clause | null {
  if (!visibleTo) return null;
  const roles = [...visibleTo.roles];
  const task = taskVisibility(visibleTo, "t")!;
  const byRole = roles.length ? ` OR a.approver_role IN (${placeholders(roles.length)})` : "";
  return {
    sql: `(a.requested_by = ?${byRole} OR EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = a.task_id AND ${task.sql}))`,
    params: [visibleTo.subject, ...roles, ...task.params],
  };
}

function where(clauses: (Clause | null)[]): Clause {
  const present = clauses.filter((c): c is Clause => c !== null);
  return {
    sql: present.length ? `WHERE ${present.map((c) => c.sql).join(" AND ")}` : "",
    params: present.flatMap((c) => c.params),
  };
}

const eq = (column: string, value: SQLQueryBindings | undefined): Clause | null => (value === undefined ? null : { sql: `${column} = ?`, params: [value] });

const oneOf = (column: string, values: readonly string[] | undefined): Clause | null =>
  values === undefined ? null : { sql: values.length ? `${column} IN (${placeholders(values.length)})` : "0", params: [...values] };

export class SqliteStore implements Store {
  readonly engine = "sqlite" as const;
  readonly #writer: Database;
  readonly #reader: Database;
  readonly #listeners = new ChangeListeners();
  #pending: PendingUnit[] = [];
  #draining: Promise<void> | null = null;

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#writer = new Database(path, { create: true, strict: true });
    this.#writer.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    // Removed payloads are overwritten with zeros, not left in free pages (retention, erasure).
    this.#writer.exec("PRAGMA secure_delete = ON;");
    this.#migrate();
    this.#reader = new Database(path, { readonly: true, strict: true });
    this.#reader.exec("PRAGMA busy_timeout = 5000;");
  }

  #migrate() {
    const db = this.#writer;
    db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    db.transaction(() => {
      const row = db.query<{ v: number | null }, []>("SELECT max(version) AS v FROM schema_migrations").get();
      for (let v = (row?.v ?? 0) + 1; v <= MIGRATIONS.length; v++) {
        db.exec(MIGRATIONS[v - 1]!);
        db.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(v, new Date().toISOString());
      }
    }).immediate();
  }

  /**
   * Group commit: units of work that arrive while a commit is under way are run
   * together in the next transaction, each inside its own savepoint (so one that
   * fails leaves no trace), and share one fsync. Each caller hears back only after
   * the commit that made its work durable.
   */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve, reject } as PendingUnit);
      this.#draining ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    // Let the requests that are already in flight queue their work first.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.#pending.length) await this.#commitGroup(this.#pending.splice(0, MAX_GROUP));
    } finally {
      // Whatever happened, the next unit of work must find a drain to run it.
      this.#draining = this.#pending.length ? this.#drain() : null;
    }
  }

  async #commitGroup(batch: PendingUnit[]): Promise<void> {
    const db = this.#writer;
    const settled: { unit: PendingUnit; ok: boolean; value: unknown; changes: Change[] }[] = [];
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const unit of batch) {
        const changes: Change[] = [];
        db.exec("SAVEPOINT unit");
        try {
          const value = await unit.work(keepingText(this.#tx(changes)));
          db.exec("RELEASE unit");
          settled.push({ unit, ok: true, value, changes });
        } catch (error) {
          db.exec("ROLLBACK TO unit");
          db.exec("RELEASE unit");
          settled.push({ unit, ok: false, value: error, changes: [] });
        }
      }
      db.exec("COMMIT");
    } catch (error) {
      try {
        if (db.inTransaction) db.exec("ROLLBACK");
      } catch {
        // The connection is already rolled back or gone; the error below says why.
      }
      const failure = unavailable(error);
      for (const unit of batch) unit.reject(failure);
      return;
    }
    for (const { unit, ok, value, changes } of settled) {
      if (ok) {
        for (const change of changes) this.#listeners.tell(change);
        unit.resolve(value);
      } else unit.reject(value);
    }
  }

  #tx(committed: Change[]): StoreTx {
    const db = this.#writer;
    /** Keys this unit of work reserved and has yet to answer (scope and key), with what their record will hold. */
    const reserved = new Map<string, [requestHash: string, now: string, expiresAt: string]>();
    return {
      reserveIdempotency: async (scope, key, requestHash, now, expiresAt): Promise<IdempotencyReservation> => {
        const found = db
          .query<{ request_hash: string; response: string | null; expires_at: string }, SQLQueryBindings[]>(
            "SELECT request_hash, response, expires_at FROM idempotency WHERE scope = ? AND key = ?",
          )
          .get(scope, key);
        if (found && found.expires_at > now && found.response !== null) {
          return { kind: "replay", request_hash: found.request_hash, response: JSON.parse(found.response) };
        }
        // The writer is this unit's alone until it ends: the key is written once, with its answer.
        reserved.set(`${scope}\u0000${key}`, [requestHash, now, expiresAt]);
        return { kind: "reserved" };
      },
      saveIdempotentResponse: async (scope, key, response) => {
        const [requestHash, now, expiresAt] = reserved.get(`${scope}\u0000${key}`)!;
        reserved.delete(`${scope}\u0000${key}`);
        db.query(
          `INSERT INTO idempotency (scope, key, request_hash, response, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response,
             created_at = excluded.created_at, expires_at = excluded.expires_at`,
        ).run(scope, key, requestHash, JSON.stringify(response), now, expiresAt);
      },
      forgetOldestKeys: async (scope, keep, protectedFrom) => {
        const first = db
          .query<{ created_at: string; key: string }, [string, number]>(
            "SELECT created_at, key FROM idempotency WHERE scope = ?1 ORDER BY created_at DESC, key DESC LIMIT 1 OFFSET ?2",
          )
          // Keys this unit reserved are written with their answers, so they are not among them yet: as many fewer of the others stay.
          .get(scope, Math.max(0, keep - [...reserved.keys()].filter((k) => k.startsWith(`${scope}\u0000`)).length));
        if (!first) return true;
        if (first.created_at >= protectedFrom) return false;
        db.query("DELETE FROM idempotency WHERE scope = ? AND (created_at, key) <= (?, ?)").run(scope, first.created_at, first.key);
        return true;
      },
      insertTask: async (t: Task) => {
        db.query(
          `INSERT INTO tasks (task_id, target, source, task_type, description, data, context, priority, status,
             claimed_by, result, error, created_at, updated_at, version, trace_id,
             attempt, max_attempts, lease_expires_at, retry_at, deadline, progress, parent_task_id)
           VALUES (${placeholders(23)})`,
        ).run(
          t.task_id,
          t.target,
          t.source,
          t.task_type,
          t.description,
          JSON.stringify(t.data),
          JSON.stringify(t.context),
          t.priority,
          t.status,
          t.claimed_by,
          t.result === null ? null : JSON.stringify(t.result),
          t.error,
          t.created_at,
          t.updated_at,
          t.version,
          t.trace_id,
          t.attempt,
          t.max_attempts,
          t.lease_expires_at,
          t.retry_at,
          t.deadline,
          jsonText(t.progress),
          t.parent_task_id,
        );
      },
      getTaskForUpdate: async (id) => this.#getTask(db, id),
      updateTask: async (id, p) => {
        db.query(
          `UPDATE tasks SET status = ?, claimed_by = ?, result = ?, error = ?, updated_at = ?, version = ?,
             attempt = ?, max_attempts = ?, lease_expires_at = ?, retry_at = ?, progress = ? WHERE task_id = ?`,
        ).run(
          p.status,
          p.claimed_by,
          jsonText(p.result),
          p.error,
          p.updated_at,
          p.version,
          p.attempt,
          p.max_attempts,
          p.lease_expires_at,
          p.retry_at,
          jsonText(p.progress),
          id,
        );
      },
      insertApproval: async (a: ApprovalRecord) => {
        db.query(
          `INSERT INTO approvals (approval_id, task_id, approver_role, reason, status, requested_by, decided_by, comments,
             created_at, decided_at, trace_id, expires_at, escalate_to, escalated_from) VALUES (${placeholders(14)})`,
        ).run(
          a.approval_id,
          a.task_id,
          a.approver_role,
          a.reason,
          a.status,
          a.requested_by,
          a.decided_by,
          a.comments,
          a.created_at,
          a.decided_at,
          a.trace_id,
          a.expires_at,
          a.escalate_to,
          a.escalated_from,
        );
      },
      countPendingApprovals: async (taskId) =>
        db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM approvals WHERE task_id = ? AND status = 'pending'").get(taskId)!.n,
      getApprovalForUpdate: async (id) => this.#getApproval(db, id),
      updateApproval: async (id, p) => {
        db.query(
          `UPDATE approvals SET status = ?, decided_by = ?, comments = ?, decided_at = ?,
             approver_role = ?, expires_at = ?, escalate_to = ?, escalated_from = ? WHERE approval_id = ?`,
        ).run(p.status, p.decided_by, p.comments, p.decided_at, p.approver_role, p.expires_at, p.escalate_to, p.escalated_from, id);
      },
      // One writer: nothing to skip. A deadline comes first, as it ends the task whatever its lease.
      lockDueTask: async (now) => {
        const due = (sql: string) => db.query<Record<string, unknown>, [string]>(`SELECT ${TASK_COLUMNS} FROM tasks ${sql} LIMIT 1`).get(now);
        const row =
          due(`INDEXED BY tasks_deadline WHERE ${DEADLINE_SET} AND deadline <= ? ORDER BY deadline`) ??
          due("INDEXED BY tasks_lease WHERE lease_expires_at IS NOT NULL AND status = 'claimed' AND lease_expires_at <= ? ORDER BY lease_expires_at");
        return row ? withoutSeq(toTask(row)) : null;
      },
      lockDueApproval: async (now) => {
        const row = db
          .query<Record<string, unknown>, [string]>(
            `SELECT * FROM approvals INDEXED BY approvals_expiry WHERE ${EXPIRY_SET} AND expires_at <= ? ORDER BY expires_at LIMIT 1`,
          )
          .get(now);
        return row ? withoutSeq(toApproval(row)) : null;
      },
      insertMessage: async (taskId, m) => {
        const row = db
          .query<Record<string, unknown>, SQLQueryBindings[]>(
            "INSERT INTO task_messages (task_id, kind, author, at, text, data) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
          )
          .get(taskId, m.kind, m.author, m.at, m.text, jsonText(m.data));
        return toMessage(row!);
      },
      countMessages: async (taskId) => db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM task_messages WHERE task_id = ?").get(taskId)!.n,
      lockSubtasks: async (parentId) => this.#subtasks(db, parentId),
      appendAudit: async (e, about) => {
        const row = db
          .query<Record<string, unknown>, SQLQueryBindings[]>(
            `INSERT INTO audit (at, actor, action, task_id, approval_id, from_status, to_status, trace_id, target, source, approver_role, findings, parent_task_id)
             VALUES (${placeholders(13)}) RETURNING *`,
          )
          .get(
            e.at,
            e.actor,
            e.action,
            e.task_id,
            e.approval_id,
            e.from_status,
            e.to_status,
            e.trace_id,
            about.target,
            about.source,
            about.approver_role,
            e.findings ? JSON.stringify(e.findings) : null,
            about.parent_task_id,
          );
        committed.push(toChange(row!));
      },
    };
  }

  #getTask(db: Database, id: string): Task | null {
    const row = db.query<Record<string, unknown>, [string]>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE task_id = ?`).get(id);
    return row ? withoutSeq(toTask(row)) : null;
  }

  #subtasks(db: Database, parentId: string): Task[] {
    return db
      .query<Record<string, unknown>, [string]>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE parent_task_id = ? ORDER BY seq`)
      .all(parentId)
      .map((r) => withoutSeq(toTask(r)));
  }

  async listSubtasks(parentId: string) {
    refuseUnstorable(parentId, "id");
    return this.#subtasks(this.#reader, parentId);
  }

  async listThread(taskId: string) {
    refuseUnstorable(taskId, "id");
    return this.#reader.query<Record<string, unknown>, [string]>("SELECT * FROM task_messages WHERE task_id = ? ORDER BY seq").all(taskId).map(toMessage);
  }

  #getApproval(db: Database, id: string): ApprovalRecord | null {
    const row = db.query<Record<string, unknown>, [string]>("SELECT * FROM approvals WHERE approval_id = ?").get(id);
    return row ? withoutSeq(toApproval(row)) : null;
  }

  async getTask(id: string) {
    refuseUnstorable(id, "id");
    return this.#getTask(this.#reader, id);
  }

  async listTasks(f: TaskFilter): Promise<Positioned<Task>[]> {
    refuseUnstorable(f);
    const after = f.after === undefined ? null : { sql: f.order === "asc" ? "seq > ?" : "seq < ?", params: [f.after] };
    const w = where([
      taskVisibility(f.visibleTo),
      oneOf("target", f.targets),
      eq("source", f.source),
      eq("status", f.status),
      eq("task_type", f.task_type),
      after,
    ]);
    return this.#reader
      .query<Record<string, unknown>, SQLQueryBindings[]>(
        `SELECT ${TASK_COLUMNS} FROM tasks ${w.sql} ORDER BY seq ${f.order === "asc" ? "ASC" : "DESC"} LIMIT ?`,
      )
      .all(...w.params, f.limit)
      .map(toTask);
  }

  async getApproval(id: string) {
    refuseUnstorable(id, "id");
    return this.#getApproval(this.#reader, id);
  }

  async listApprovals(f: ApprovalFilter): Promise<Positioned<ApprovalRecord>[]> {
    refuseUnstorable(f);
    const w = where([
      approvalVisibility(f.visibleTo),
      oneOf("a.approver_role", f.approver_roles),
      eq("a.task_id", f.task_id),
      eq("a.status", f.status),
      eq("a.decided_by", f.decided_by),
      f.after === undefined ? null : { sql: "a.seq < ?", params: [f.after] },
    ]);
    return this.#reader
      .query<Record<string, unknown>, SQLQueryBindings[]>(`SELECT a.* FROM approvals a ${w.sql} ORDER BY a.seq DESC LIMIT ?`)
      .all(...w.params, f.limit)
      .map(toApproval);
  }

  async listAudit(f: AuditFilter): Promise<AuditEntry[]> {
    refuseUnstorable(f);
    const w = where([
      eq("actor", f.actor),
      eq("action", f.action),
      eq("task_id", f.task_id),
      f.since === undefined ? null : { sql: "at >= ?", params: [f.since] },
      f.until === undefined ? null : { sql: "at < ?", params: [f.until] },
      f.after === undefined ? null : { sql: "seq < ?", params: [f.after] },
    ]);
    return this.#reader
      .query<Record<string, unknown>, SQLQueryBindings[]>(`SELECT * FROM audit ${w.sql} ORDER BY seq DESC LIMIT ?`)
      .all(...w.params, f.limit)
      .map(toAudit);
  }

  async changesSince(seq: number, limit: number, hearer?: Visibility): Promise<Change[]> {
    const heard = hearer ? changesHeardBy(hearer, seq, limit) : { sql: "seq > ?1", params: [seq, limit] };
    return this.#reader
      .query<Record<string, unknown>, SQLQueryBindings[]>(`SELECT * FROM audit WHERE ${heard.sql} ORDER BY seq LIMIT ?2`)
      .all(...heard.params)
      .map(toChange);
  }

  onChange(listener: (change: Change) => void) {
    return this.#listeners.add(listener);
  }

  async taskStatuses(ids: readonly string[]) {
    refuseUnstorable(ids);
    if (ids.length === 0) return new Map<string, TaskStatus>();
    const rows = this.#reader
      .query<{ task_id: string; status: TaskStatus }, string[]>(`SELECT task_id, status FROM tasks WHERE task_id IN (${placeholders(ids.length)})`)
      .all(...ids);
    return new Map(rows.map((r) => [r.task_id, r.status]));
  }

  async nextDueAt() {
    const row = this.#reader
      .query<{ due: string | null }, []>(
        `SELECT min(t) AS due FROM (
           SELECT min(lease_expires_at) AS t FROM tasks INDEXED BY tasks_lease WHERE lease_expires_at IS NOT NULL AND status = 'claimed'
           UNION ALL SELECT min(deadline) FROM tasks INDEXED BY tasks_deadline WHERE ${DEADLINE_SET}
           UNION ALL SELECT min(expires_at) FROM approvals INDEXED BY approvals_expiry WHERE ${EXPIRY_SET})`,
      )
      .get();
    return row?.due ?? null;
  }

  async countTasksByStatus() {
    const rows = this.#reader.query<{ status: TaskStatus; n: number }, []>("SELECT status, count(*) AS n FROM tasks GROUP BY status").all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async saveSession(s: WebSession) {
    refuseUnstorable(s);
    await this.transaction(async () => {
      this.#writer
        .query("INSERT INTO web_sessions (id_hash, subject, roles, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(s.id_hash, s.subject, JSON.stringify(s.roles), s.csrf_token, s.created_at, s.expires_at);
    });
  }

  async findSession(idHash: string, now: string) {
    const row = this.#reader
      .query<Record<string, unknown>, [string, string]>("SELECT * FROM web_sessions WHERE id_hash = ? AND expires_at > ?")
      .get(idHash, now);
    return row ? toSession(row) : null;
  }

  async deleteSession(idHash: string) {
    await this.transaction(async () => void this.#writer.query("DELETE FROM web_sessions WHERE id_hash = ?").run(idHash));
  }

  useTicket(ticketId: string, expiresAt: string) {
    return this.transaction(
      async () =>
        this.#writer.query("INSERT INTO used_tickets (ticket_id, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING").run(ticketId, expiresAt).changes === 1,
    );
  }

  async recordPresence(seen: readonly Presence[], expiresAt: string, keepPerSubject: number) {
    await this.transaction(async () => {
      const upsert = this.#writer.query(
        `INSERT INTO presence (role, kind, instance, subject, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (role, kind, instance) DO UPDATE SET subject = excluded.subject, last_seen = excluded.last_seen, expires_at = excluded.expires_at`,
      );
      for (const p of seen) upsert.run(p.role, p.kind, p.instance, p.subject, p.last_seen, expiresAt);
      // Each caller keeps its newest rows only, whatever instances it names.
      const forget = this.#writer.query(
        `DELETE FROM presence WHERE subject = ?1 AND (role, kind, instance) NOT IN (
           SELECT role, kind, instance FROM presence WHERE subject = ?1 ORDER BY last_seen DESC LIMIT ?2)`,
      );
      for (const subject of new Set(seen.map((p) => p.subject))) forget.run(subject, keepPerSubject);
    });
  }

  async listPresence(since: string) {
    return this.#reader
      .query<Record<string, unknown>, [string]>(
        "SELECT role, kind, subject, instance, last_seen FROM presence WHERE last_seen >= ? ORDER BY last_seen DESC, role, instance",
      )
      .all(since)
      .map(toPresence);
  }

  purgeExpired(now: string) {
    return this.transaction(async () =>
      ["idempotency", "web_sessions", "used_tickets", "presence"].reduce(
        (n, table) => n + this.#writer.query(`DELETE FROM ${table} WHERE expires_at <= ?`).run(now).changes,
        0,
      ),
    );
  }

  removeOldPayloads(statuses: readonly TaskStatus[], before: string, limit: number) {
    return this.transaction(async () => {
      const db = this.#writer;
      const ids = db
        .query<{ task_id: string }, SQLQueryBindings[]>(
          `SELECT task_id FROM tasks WHERE payload_removed_at IS NULL AND updated_at < ? AND status IN (${placeholders(statuses.length)}) LIMIT ?`,
        )
        .all(before, ...statuses, limit)
        .map((r) => r.task_id);
      if (!ids.length) return 0;
      const inIds = placeholders(ids.length);
      db.query(`UPDATE tasks SET ${TASK_PAYLOAD_REMOVED}, payload_removed_at = ? WHERE task_id IN (${inIds})`).run(new Date().toISOString(), ...ids);
      db.query(`UPDATE approvals SET reason = '', comments = '' WHERE task_id IN (${inIds})`).run(...ids);
      db.query(`UPDATE task_messages SET ${MESSAGE_PAYLOAD_REMOVED} WHERE task_id IN (${inIds})`).run(...ids);
      return ids.length;
    });
  }

  async eraseSubject(subject: string, erasedBy: string, at: string) {
    refuseUnstorable(subject, "subject");
    const records = await this.transaction(async () => {
      const db = this.#writer;
      db.exec("CREATE TEMP TABLE IF NOT EXISTS erased_tasks (task_id TEXT PRIMARY KEY); DELETE FROM erased_tasks;");
      db.exec("CREATE TEMP TABLE IF NOT EXISTS erased_approvals (approval_id TEXT PRIMARY KEY); DELETE FROM erased_approvals;");
      db.query("INSERT OR IGNORE INTO erased_tasks SELECT task_id FROM tasks WHERE source = ?1 OR claimed_by = ?1").run(subject);
      db.query(
        `INSERT OR IGNORE INTO erased_approvals SELECT approval_id FROM approvals
         WHERE requested_by = ?1 OR decided_by = ?1 OR task_id IN (SELECT task_id FROM erased_tasks)`,
      ).run(subject);
      const tasks = db.query(`UPDATE tasks SET ${TASK_PAYLOAD_REMOVED} WHERE task_id IN (SELECT task_id FROM erased_tasks)`).run().changes;
      const approvals = db
        .query("UPDATE approvals SET reason = '', comments = '' WHERE approval_id IN (SELECT approval_id FROM erased_approvals)")
        .run().changes;
      // Thread messages the subject wrote anywhere, and every message on the subject's tasks.
      const messages = db
        .query(`UPDATE task_messages SET ${MESSAGE_PAYLOAD_REMOVED} WHERE author = ?1 OR task_id IN (SELECT task_id FROM erased_tasks)`)
        .run(subject).changes;
      // Answers kept for retries: the subject's own, and decisions that quote their approvals.
      const kept = db
        .query(
          `DELETE FROM idempotency WHERE scope = ?1
             OR (response IS NOT NULL AND json_extract(response, '$.approval_id') IN (SELECT approval_id FROM erased_approvals))`,
        )
        .run(subject).changes;
      const records = tasks + approvals + messages + kept;
      db.query("INSERT INTO erasures (subject, erased_by, at, records) VALUES (?, ?, ?, ?)").run(subject, erasedBy, at, records);
      return records;
    });
    await this.#checkpoint();
    return records;
  }

  /** Copies the write-ahead log into the database and empties it, so replaced pages (and what they held) leave the disk. */
  async #checkpoint() {
    while (this.#writer.inTransaction) await new Promise((resolve) => setImmediate(resolve));
    this.#writer.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  async ping() {
    this.#reader.query("SELECT 1").get();
  }

  async close() {
    await this.#draining;
    this.#reader.close();
    this.#writer.close();
  }
}
