/**
 * The shared engine: PostgreSQL through Bun.SQL, so several controllers can serve one
 * mesh. Row locks (SELECT … FOR UPDATE) and the idempotency key's unique index keep
 * the rules whole across controllers; LISTEN/NOTIFY tells every controller of every
 * committed change. A lost connection becomes StoreUnavailableError (503) and the
 * pool and the listener reconnect by themselves when the database is back.
 */
import { SQL } from "bun";
import type { ApprovalRecord, AuditEntry, Presence, Task, TaskStatus } from "../../contract/schemas.ts";
import type { Visibility } from "../policy.ts";
import { ChangeListeners } from "./listeners.ts";
import { keepingText, refuseUnstorable, timeOrNull, toApproval, toAudit, toChange, toMessage, toPresence, toSession, toTask, withoutSeq } from "./rows.ts";
import {
  StoreUnavailableError,
  type ApprovalFilter,
  type AuditFilter,
  type Change,
  type ChangeAbout,
  type IdempotencyReservation,
  type NewAuditEntry,
  type Positioned,
  type Store,
  type StoreTx,
  type TaskFilter,
  type WebSession,
} from "./store.ts";

/** Versioned migrations: append only, never edit one that has shipped. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tasks (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     task_id text NOT NULL UNIQUE,
     target text NOT NULL, source text NOT NULL, task_type text NOT NULL,
     description text, data jsonb NOT NULL, context jsonb NOT NULL, priority text NOT NULL,
     status text NOT NULL, claimed_by text, result jsonb, error text,
     created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, version integer NOT NULL, trace_id text NOT NULL);
   CREATE INDEX tasks_target ON tasks (target, status, seq);
   CREATE INDEX tasks_source ON tasks (source, seq);
   CREATE INDEX tasks_status ON tasks (status, seq);
   CREATE TABLE approvals (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     approval_id text NOT NULL UNIQUE,
     task_id text NOT NULL REFERENCES tasks (task_id),
     approver_role text NOT NULL, reason text NOT NULL, status text NOT NULL,
     requested_by text NOT NULL, decided_by text, comments text NOT NULL,
     created_at timestamptz NOT NULL, decided_at timestamptz, trace_id text NOT NULL);
   CREATE INDEX approvals_role ON approvals (approver_role, status, seq);
   CREATE INDEX approvals_task ON approvals (task_id);
   CREATE TABLE audit (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     at timestamptz NOT NULL, actor text NOT NULL, action text NOT NULL,
     task_id text NOT NULL, approval_id text, from_status text, to_status text, trace_id text NOT NULL,
     target text NOT NULL, source text NOT NULL, approver_role text);
   CREATE INDEX audit_task ON audit (task_id, seq);
   CREATE INDEX audit_actor ON audit (actor, seq);
   CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
   CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
     FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
   CREATE TABLE idempotency (
     scope text NOT NULL, key text NOT NULL, request_hash text NOT NULL, response jsonb,
     created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
     PRIMARY KEY (scope, key));
   CREATE INDEX idempotency_expiry ON idempotency (expires_at);`,
  `CREATE TABLE web_sessions (
     id_hash text PRIMARY KEY, subject text NOT NULL, roles jsonb NOT NULL, csrf_token text NOT NULL,
     created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
   CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
   CREATE TABLE used_tickets (ticket_id text PRIMARY KEY, expires_at timestamptz NOT NULL);
   CREATE INDEX used_tickets_expiry ON used_tickets (expires_at);`,
  // An event stream's replay reads only what its caller may hear; the key budget finds a caller's oldest keys.
  `CREATE INDEX audit_source ON audit (source, seq);
   CREATE INDEX audit_target ON audit (target, seq);
   CREATE INDEX audit_approver ON audit (approver_role, seq);
   CREATE INDEX idempotency_age ON idempotency (scope, created_at, key);`,
  // Data protection: what the privacy guard found (kinds and counts), which tasks' payloads retention removed, and erasures.
  `ALTER TABLE audit ADD COLUMN findings jsonb;
   ALTER TABLE tasks ADD COLUMN payload_removed_at timestamptz;
   CREATE INDEX tasks_payload_kept ON tasks (updated_at) WHERE payload_removed_at IS NULL;
   CREATE INDEX tasks_claimed_by ON tasks (claimed_by);
   CREATE INDEX approvals_requested_by ON approvals (requested_by);
   CREATE INDEX approvals_decided_by ON approvals (decided_by);
   CREATE TABLE erasures (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, subject text NOT NULL, erased_by text NOT NULL,
     at timestamptz NOT NULL, records integer NOT NULL);`,
  // Leases, attempts, deadlines and expiring approvals; the partial indexes find the next timer due.
  `ALTER TABLE tasks ADD COLUMN attempt integer NOT NULL DEFAULT 0,
     ADD COLUMN max_attempts integer NOT NULL DEFAULT 3,
     ADD COLUMN lease_expires_at timestamptz, ADD COLUMN retry_at timestamptz,
     ADD COLUMN deadline timestamptz, ADD COLUMN progress jsonb;
   UPDATE tasks SET attempt = 1 WHERE status IN ('claimed', 'completed', 'failed');
   CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE status = 'claimed';
   CREATE INDEX tasks_deadline ON tasks (deadline) WHERE status IN ('pending', 'claimed');
   ALTER TABLE approvals ADD COLUMN expires_at timestamptz, ADD COLUMN escalate_to text, ADD COLUMN escalated_from text;
   CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE status = 'pending';`,
  // Who serves each role: a row per role and worker or session, its last report.
  `CREATE TABLE presence (
     role text NOT NULL, kind text NOT NULL, instance text NOT NULL, subject text NOT NULL,
     last_seen timestamptz NOT NULL, expires_at timestamptz NOT NULL,
     PRIMARY KEY (role, kind, instance));
   CREATE INDEX presence_seen ON presence (last_seen);
   CREATE INDEX presence_expiry ON presence (expires_at);`,
  // Tasks that talk and split: a thread per task, subtasks found by their parent, and a
  // change says its task's parent so a wait on the parent wakes. A deadline holds while a task waits for an answer.
  `CREATE TABLE task_messages (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     task_id text NOT NULL REFERENCES tasks (task_id),
     kind text NOT NULL, author text NOT NULL, at timestamptz NOT NULL, text text NOT NULL, data jsonb);
   CREATE INDEX task_messages_task ON task_messages (task_id, seq);
   ALTER TABLE tasks ADD COLUMN parent_task_id text REFERENCES tasks (task_id);
   CREATE INDEX tasks_parent ON tasks (parent_task_id, seq) WHERE parent_task_id IS NOT NULL;
   ALTER TABLE audit ADD COLUMN parent_task_id text;
   DROP INDEX tasks_deadline;
   CREATE INDEX tasks_deadline ON tasks (deadline) WHERE status IN ('pending', 'claimed', 'input_required');`,
  // Writers and readers of positions read how far the sequences have gone (see POSITIONS), also as a role with only table grants.
  `GRANT SELECT ON SEQUENCE tasks_seq_seq, audit_seq_seq TO PUBLIC;`,
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
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** A task's payload columns, emptied: what retention and erasure leave of them. */
const TASK_PAYLOAD_REMOVED = `description = NULL, data = '{}', context = '{}', progress = NULL,
  result = CASE WHEN result IS NULL THEN NULL ELSE '{}'::jsonb END, error = CASE WHEN error IS NULL THEN NULL ELSE '' END`;

/** A thread message's payload, emptied. */
const MESSAGE_PAYLOAD_REMOVED = "text = '', data = NULL";

/** Every controller on the database listens here; the payload is the highest audit seq a controller committed. */
const CHANGES_CHANNEL = "agent_mesh_changes";
const CHANGE_BATCH = 500;
/** How soon the feed looks again for a change it was told of but could not read yet. */
const FEED_RETRY_MS = 5;
/**
 * While changes keep coming, the feed reads at most this often: under a burst of writes
 * one read (and one look at the horizon, a scan of pg_locks) serves many commits.
 */
const FEED_SPACING_MS = 2;
/**
 * How often the feed looks for changes nobody told of: a controller that stopped
 * between its commit and its NOTIFY (sent after the commit, see #committed).
 */
const FEED_LOOK_MS = 1000;
/** Fail fast when the database is unreachable, so callers get a 503 they can retry. */
const CONNECT_TIMEOUT_SECONDS = 5;

/** Bun's codes for a connection that is gone or cannot be made. */
const CONNECTION_LOST = new Set([
  "ERR_POSTGRES_CONNECTION_CLOSED",
  "ERR_POSTGRES_CONNECTION_FAILED",
  "ERR_POSTGRES_CONNECTION_REFUSED",
  "ERR_POSTGRES_CONNECTION_TIMEOUT",
]);

/**
 * Connection failures, shutdowns, exhausted resources, a read-only server (a failover
 * under way), serialisation failures, deadlocks and timeouts: worth a retry later.
 */
function unreachable(error: unknown): error is SQL.PostgresError {
  if (!(error instanceof SQL.PostgresError)) return false;
  const state = error.errno ?? "";
  return CONNECTION_LOST.has(error.code) || /^(08|53)/.test(state) || /^(57P0[123]|25006|40001|40P01|55P03|57014)$/.test(state);
}

type Row = Record<string, unknown>;

export class PostgresStore implements Store {
  readonly engine = "postgres" as const;
  readonly #sql: SQL;
  readonly #listeners = new ChangeListeners();
  #subscription: SQL.ListenSubscription | null = null;
  /** LISTEN is acknowledged and no connection has failed since. */
  #listening = false;
  #resubscribing = false;
  #closed = false;
  /** The last audit seq handed to listeners: at or below the horizon, so none below it can still appear. */
  #delivered = 0;
  /** The highest audit seq a notification told of: committed, so the feed must reach it. */
  #heardOf = 0;
  #delivering = false;
  #deliverAgain = false;
  /** The highest audit seq this controller committed, and the highest it has told the others of. */
  #committedUpTo = 0;
  #toldUpTo = 0;
  #telling = false;
  #lookTimer: ReturnType<typeof setInterval> | null = null;

  private constructor(sql: SQL) {
    this.#sql = sql;
  }

  static async open(url: string, { poolSize }: { poolSize: number }): Promise<PostgresStore> {
    const sql = new SQL(url, {
      max: poolSize,
      connectionTimeout: CONNECT_TIMEOUT_SECONDS,
      connection: { application_name: "agent-mesh" },
    });
    const store = new PostgresStore(sql);
    try {
      await store.#run(async () => {
        await migrate(sql);
        store.#delivered = await horizon(sql, "audit");
      });
      await store.#subscribe();
      store.#lookTimer = setInterval(() => store.#deliver(), FEED_LOOK_MS);
      store.#lookTimer.unref();
      return store;
    } catch (error) {
      await sql.close({ timeout: 0 });
      throw error;
    }
  }

  /** Runs one database operation: a lost connection becomes StoreUnavailableError, and success after one re-subscribes. */
  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      const result = await operation();
      if (!this.#listening) void this.#resubscribe();
      return result;
    } catch (error) {
      if (!unreachable(error)) throw error;
      this.#listening = false;
      throw new StoreUnavailableError(`PostgreSQL is unreachable: ${error.message}`, { cause: error });
    }
  }

  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    // The rules rely on READ COMMITTED: a statement that waited for a lock sees what was committed meanwhile.
    return this.#run(async () => {
      let lastChange = 0;
      const result = await this.#sql.begin("ISOLATION LEVEL READ COMMITTED", async (q) => {
        const unit = unitOfWork(q);
        const value = await work(keepingText(unit.tx));
        lastChange = await unit.finish();
        return value;
      });
      if (lastChange) this.#committed(lastChange);
      return result as T;
    });
  }

  /**
   * Changes up to `seq` are committed: this controller hands them out at once, and the
   * others hear of them by a NOTIFY sent after the commit, one at a time for the highest
   * seq so far. Inside the transaction a NOTIFY would make every notifying commit wait
   * for the one before it, fsync and all, and halve the write rate.
   */
  #committed(seq: number) {
    this.#committedUpTo = Math.max(this.#committedUpTo, seq);
    this.#heard(seq);
    if (this.#telling) return;
    this.#telling = true;
    void (async () => {
      try {
        while (this.#toldUpTo < this.#committedUpTo && !this.#closed) {
          const upTo = this.#committedUpTo;
          await this.#sql`SELECT pg_notify(${CHANGES_CHANNEL}, ${String(upTo)})`;
          this.#toldUpTo = upTo;
        }
      } catch {
        // The database went away: the others catch up when they reconnect, or at their next look.
      } finally {
        this.#telling = false;
      }
    })();
  }

  async getTask(id: string): Promise<Task | null> {
    refuseUnstorable(id, "id");
    return this.#run(() => taskById(this.#sql, id, false));
  }

  async listTasks(f: TaskFilter): Promise<Positioned<Task>[]> {
    refuseUnstorable(f);
    const sql = this.#sql;
    const after = f.after === undefined ? null : f.order === "asc" ? sql`t.seq > ${f.after}` : sql`t.seq < ${f.after}`;
    // Oldest first is an inbox read by position: it stops where rows may still appear below.
    const settled = f.order === "asc" && sql`t.seq <= ${await this.#run(() => horizon(sql, "tasks"))}`;
    const conditions = [
      settled,
      f.visibleTo && taskVisibility(sql, f.visibleTo),
      f.targets !== undefined && sql`t.target = ANY(${textArray(sql, f.targets)})`,
      f.source !== undefined && sql`t.source = ${f.source}`,
      f.status !== undefined && sql`t.status = ${f.status}`,
      f.task_type !== undefined && sql`t.task_type = ${f.task_type}`,
      after,
    ];
    const order = f.order === "asc" ? sql`ORDER BY t.seq ASC` : sql`ORDER BY t.seq DESC`;
    return this.#rows(sql`SELECT t.* FROM tasks t ${where(sql, conditions)} ${order} LIMIT ${f.limit}`, toTask);
  }

  async listThread(taskId: string) {
    refuseUnstorable(taskId, "id");
    return this.#rows(this.#sql`SELECT * FROM task_messages WHERE task_id = ${taskId} ORDER BY seq`, toMessage);
  }

  async listSubtasks(parentId: string) {
    refuseUnstorable(parentId, "id");
    return (await this.#rows(this.#sql`SELECT * FROM tasks WHERE parent_task_id = ${parentId} ORDER BY seq`, toTask)).map(withoutSeq);
  }

  async getApproval(id: string): Promise<ApprovalRecord | null> {
    refuseUnstorable(id, "id");
    return this.#run(() => approvalById(this.#sql, id, false));
  }

  async listApprovals(f: ApprovalFilter): Promise<Positioned<ApprovalRecord>[]> {
    refuseUnstorable(f);
    const sql = this.#sql;
    const conditions = [
      f.visibleTo && approvalVisibility(sql, f.visibleTo),
      f.approver_roles !== undefined && sql`a.approver_role = ANY(${textArray(sql, f.approver_roles)})`,
      f.task_id !== undefined && sql`a.task_id = ${f.task_id}`,
      f.status !== undefined && sql`a.status = ${f.status}`,
      f.decided_by !== undefined && sql`a.decided_by = ${f.decided_by}`,
      f.after !== undefined && sql`a.seq < ${f.after}`,
    ];
    return this.#rows(sql`SELECT a.* FROM approvals a ${where(sql, conditions)} ORDER BY a.seq DESC LIMIT ${f.limit}`, toApproval);
  }

  async listAudit(f: AuditFilter): Promise<AuditEntry[]> {
    refuseUnstorable(f);
    const sql = this.#sql;
    const conditions = [
      f.actor !== undefined && sql`actor = ${f.actor}`,
      f.action !== undefined && sql`action = ${f.action}`,
      f.task_id !== undefined && sql`task_id = ${f.task_id}`,
      f.since !== undefined && sql`at >= ${f.since}`,
      f.until !== undefined && sql`at < ${f.until}`,
      f.after !== undefined && sql`seq < ${f.after}`,
    ];
    return this.#rows(sql`SELECT * FROM audit ${where(sql, conditions)} ORDER BY seq DESC LIMIT ${f.limit}`, toAudit);
  }

  /** Only changes up to the audit horizon, so a reader that moves past one never finds another appear behind it. */
  changesSince(seq: number, limit: number, hearer?: Visibility): Promise<Change[]> {
    return this.#run(async () => {
      const upTo = await horizon(this.#sql, "audit");
      if (upTo <= seq) return [];
      if (!hearer) return (await this.#sql`SELECT * FROM audit WHERE seq > ${seq} AND seq <= ${upTo} ORDER BY seq LIMIT ${limit}`).map(toChange);
      return this.#sql.begin(async (q) => {
        // A plan made for any role cannot tell a rare one from a common one, and may walk the whole trail for it.
        await q`SET LOCAL plan_cache_mode = force_custom_plan`;
        const rows: Row[] = await q`SELECT * FROM audit WHERE ${changesHeardBy(q, hearer, seq, limit)} AND seq <= ${upTo} ORDER BY seq LIMIT ${limit}`;
        return rows.map(toChange);
      });
    });
  }

  #rows<T>(query: SQL.Query<Row[]>, map: (row: Row) => T): Promise<T[]> {
    return this.#run(async () => (await query).map(map));
  }

  // ── the change feed ────────────────────────────────────────────────────────

  onChange(listener: (change: Change) => void) {
    return this.#listeners.add(listener);
  }

  async #subscribe() {
    const subscription = await this.#sql.listen(
      CHANGES_CHANNEL,
      (payload) => this.#heard(Number(payload)),
      // Runs again after every reconnect: notifications sent meanwhile are lost, the audit rows are not.
      () => {
        this.#listening = true;
        this.#deliver();
      },
    );
    if (this.#closed) await subscription.unlisten();
    else this.#subscription = subscription;
  }

  /**
   * Bun reconnects LISTEN by itself, but with a backoff of up to 32 s; once a query
   * shows the database is back, a fresh subscription gets changes flowing at once.
   */
  async #resubscribe() {
    if (this.#resubscribing || this.#closed) return;
    this.#resubscribing = true;
    try {
      await this.#subscription?.unlisten();
      this.#subscription = null;
      await this.#subscribe();
    } catch {
      // still unreachable: the next successful query tries again
    } finally {
      this.#resubscribing = false;
    }
  }

  #heard(seq: number) {
    if (Number.isSafeInteger(seq)) this.#heardOf = Math.max(this.#heardOf, seq);
    this.#deliver();
  }

  /**
   * Reads the audit rows after the last delivered one, up to the horizon, and hands them
   * out, one reader at a time. A change told of but still past the horizon waits for an
   * earlier unit of work; that one may roll back without a word, so the feed looks again soon.
   */
  #deliver() {
    if (this.#delivering) {
      this.#deliverAgain = true;
      return;
    }
    this.#delivering = true;
    let failed = false;
    void (async () => {
      try {
        for (let round = 0; round === 0 || this.#deliverAgain; round++) {
          if (round > 0) await new Promise((resolve) => setTimeout(resolve, FEED_SPACING_MS));
          this.#deliverAgain = false;
          if (this.#listeners.size === 0) {
            // Nobody waits: skip reading the rows.
            this.#delivered = Math.max(this.#delivered, await this.#run(() => horizon(this.#sql, "audit")));
            continue;
          }
          let batch: Change[];
          do {
            batch = await this.changesSince(this.#delivered, CHANGE_BATCH);
            for (const change of batch) {
              if (change.seq <= this.#delivered) continue;
              this.#delivered = change.seq;
              this.#listeners.tell(change);
            }
          } while (batch.length === CHANGE_BATCH);
        }
      } catch {
        // The database went away mid-read; #run marked the feed down, and re-subscribing catches up.
        failed = true;
      } finally {
        this.#delivering = false;
        if (this.#delivered < this.#heardOf && !failed && !this.#closed) setTimeout(() => this.#deliver(), FEED_RETRY_MS);
      }
    })();
  }

  // ── housekeeping ───────────────────────────────────────────────────────────

  async taskStatuses(ids: readonly string[]) {
    refuseUnstorable(ids);
    const rows = await this.#rows(
      this.#sql`SELECT task_id, status FROM tasks WHERE task_id = ANY(${textArray(this.#sql, ids)})`,
      (r) => [String(r.task_id), r.status as TaskStatus] as const,
    );
    return new Map(rows);
  }

  async nextDueAt() {
    const [row] = await this.#rows(
      this.#sql`SELECT least(
        (SELECT min(lease_expires_at) FROM tasks WHERE lease_expires_at IS NOT NULL AND status = 'claimed'),
        (SELECT min(deadline) FROM tasks WHERE deadline IS NOT NULL AND status IN ('pending', 'claimed', 'input_required')),
        (SELECT min(expires_at) FROM approvals WHERE expires_at IS NOT NULL AND status = 'pending')) AS due`,
      (r) => timeOrNull(r.due),
    );
    return row ?? null;
  }

  async countTasksByStatus() {
    const rows = await this.#rows(this.#sql`SELECT status, count(*)::int AS n FROM tasks GROUP BY status`, (r) => [String(r.status), Number(r.n)] as const);
    return Object.fromEntries(rows);
  }

  async saveSession(s: WebSession) {
    refuseUnstorable(s);
    await this.#run(
      () => this.#sql`INSERT INTO web_sessions (id_hash, subject, roles, csrf_token, created_at, expires_at)
        VALUES (${s.id_hash}, ${s.subject}, ${JSON.stringify(s.roles)}::jsonb, ${s.csrf_token}, ${s.created_at}, ${s.expires_at})`,
    );
  }

  async findSession(idHash: string, now: string) {
    const [row] = await this.#rows(this.#sql`SELECT * FROM web_sessions WHERE id_hash = ${idHash} AND expires_at > ${now}`, toSession);
    return row ?? null;
  }

  async deleteSession(idHash: string) {
    await this.#run(() => this.#sql`DELETE FROM web_sessions WHERE id_hash = ${idHash}`);
  }

  useTicket(ticketId: string, expiresAt: string) {
    return this.#run(
      async () => (await this.#sql`INSERT INTO used_tickets (ticket_id, expires_at) VALUES (${ticketId}, ${expiresAt}) ON CONFLICT DO NOTHING`).count === 1,
    );
  }

  async recordPresence(seen: readonly Presence[], expiresAt: string, keepPerSubject: number) {
    if (seen.length === 0) return;
    const rows = seen.map((p) => ({ role: p.role, kind: p.kind, instance: p.instance, subject: p.subject, last_seen: p.last_seen, expires_at: expiresAt }));
    await this.#run(
      () => this.#sql`INSERT INTO presence ${this.#sql(rows)}
        ON CONFLICT (role, kind, instance) DO UPDATE SET subject = excluded.subject, last_seen = excluded.last_seen, expires_at = excluded.expires_at`,
    );
    // Each caller keeps its newest rows only, whatever instances it names.
    for (const subject of new Set(seen.map((p) => p.subject))) {
      await this.#run(
        () => this.#sql`DELETE FROM presence WHERE subject = ${subject} AND (role, kind, instance) NOT IN (
          SELECT role, kind, instance FROM presence WHERE subject = ${subject} ORDER BY last_seen DESC LIMIT ${keepPerSubject})`,
      );
    }
  }

  listPresence(since: string) {
    return this.#rows(
      this.#sql`SELECT role, kind, subject, instance, last_seen FROM presence WHERE last_seen >= ${since} ORDER BY last_seen DESC, role, instance`,
      toPresence,
    );
  }

  purgeExpired(now: string): Promise<number> {
    return this.#run(() =>
      this.#sql.begin(async (q) => {
        const removed = await Promise.all([
          q`DELETE FROM idempotency WHERE expires_at <= ${now}`,
          q`DELETE FROM web_sessions WHERE expires_at <= ${now}`,
          q`DELETE FROM used_tickets WHERE expires_at <= ${now}`,
          q`DELETE FROM presence WHERE expires_at <= ${now}`,
        ]);
        return removed.reduce((n, r) => n + r.count, 0);
      }),
    );
  }

  removeOldPayloads(statuses: readonly TaskStatus[], before: string, limit: number): Promise<number> {
    return this.#run(() =>
      this.#sql.begin(async (q) => {
        // Rows a unit of work holds are left for the next batch rather than waited for.
        const rows = await q`SELECT task_id FROM tasks WHERE payload_removed_at IS NULL AND updated_at < ${before}
          AND status = ANY(${textArray(q, statuses)}) LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
        if (!rows.length) return 0;
        const ids = [rows.map((r: Row) => String(r.task_id))];
        await q.unsafe(`UPDATE tasks SET ${TASK_PAYLOAD_REMOVED}, payload_removed_at = now() WHERE task_id = ANY($1::text[])`, ids);
        await q.unsafe("UPDATE approvals SET reason = '', comments = '' WHERE task_id = ANY($1::text[])", ids);
        await q.unsafe(`UPDATE task_messages SET ${MESSAGE_PAYLOAD_REMOVED} WHERE task_id = ANY($1::text[])`, ids);
        return rows.length;
      }),
    );
  }

  eraseSubject(subject: string, erasedBy: string, at: string): Promise<number> {
    refuseUnstorable(subject, "subject");
    return this.#run(() =>
      this.#sql.begin(async (q) => {
        // Answers kept for retries go too: the subject's own, and decisions that quote their approvals.
        const [row] = await q.unsafe(
          `WITH erased_tasks AS (
             UPDATE tasks SET ${TASK_PAYLOAD_REMOVED} WHERE source = $1 OR claimed_by = $1 RETURNING task_id),
           erased_approvals AS (
             UPDATE approvals SET reason = '', comments = ''
             WHERE requested_by = $1 OR decided_by = $1 OR task_id IN (SELECT task_id FROM tasks WHERE source = $1 OR claimed_by = $1)
             RETURNING approval_id),
           erased_messages AS (
             UPDATE task_messages SET ${MESSAGE_PAYLOAD_REMOVED}
             WHERE author = $1 OR task_id IN (SELECT task_id FROM tasks WHERE source = $1 OR claimed_by = $1)
             RETURNING 1),
           kept AS (
             DELETE FROM idempotency WHERE scope = $1 OR response->>'approval_id' IN (SELECT approval_id FROM erased_approvals)
             RETURNING 1)
           SELECT (SELECT count(*) FROM erased_tasks) + (SELECT count(*) FROM erased_approvals) + (SELECT count(*) FROM erased_messages)
             + (SELECT count(*) FROM kept) AS records`,
          [subject],
        );
        const records = Number(row.records);
        await q`INSERT INTO erasures (subject, erased_by, at, records) VALUES (${subject}, ${erasedBy}, ${at}, ${records})`;
        return records;
      }),
    );
  }

  /** Ready means the database answers and this controller hears other controllers' changes. */
  async ping() {
    await this.#run(() => this.#sql`SELECT 1`);
    if (!this.#listening) throw new StoreUnavailableError("PostgreSQL answers, but listening for changes is being re-established");
  }

  async close() {
    this.#closed = true;
    if (this.#lookTimer) clearInterval(this.#lookTimer);
    await this.#subscription?.unlisten().catch(() => undefined);
    // A database that no longer answers must not hold shutdown up.
    await this.#sql.close({ timeout: 5 });
  }
}

/** Controllers starting together queue on an advisory lock; each applies only what is missing. */
async function migrate(sql: SQL) {
  await sql.begin(async (q) => {
    await q`SELECT pg_advisory_xact_lock(hashtext('agent-mesh migrations'))`;
    // Checked first, so a role that may only read and write the tables can start once they exist.
    const [{ found }] = await q`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`;
    if (!found) await q`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const [{ version }] = await q`SELECT coalesce(max(version), 0) AS version FROM schema_migrations`;
    for (let v = Number(version) + 1; v <= MIGRATIONS.length; v++) {
      await q.unsafe(MIGRATIONS[v - 1]!);
      await q`INSERT INTO schema_migrations (version) VALUES (${v})`;
    }
  });
}

/**
 * Inbox cursors (task seqs) and event ids (audit seqs) are keyset positions: a reader
 * that has passed a position must never see a row appear below it. Seqs come from
 * sequences, not in commit order, so a unit of work that is about to take some first
 * says where they will start: it holds a shared advisory lock, until it ends, whose
 * key is the last seq handed out so far (its own will be above it). Readers go only up
 * to the horizon: the last seq handed out, but below every such mark still held. Writers
 * never wait for each other, and rows rolled back leave gaps the horizon passes.
 */
const POSITIONS = {
  tasks: { sequence: "tasks_seq_seq", tag: 0x4d5401 },
  audit: { sequence: "audit_seq_seq", tag: 0x4d5402 },
} as const;
type PositionedTable = keyof typeof POSITIONS;
/** A mark's lock key: the table's tag above the seq's 40 bits, so pg_locks tells tables apart. */
const TAG_SHIFT = 2 ** 40;

/** The last seq sequence `s` has handed out (0 before the first). */
const LAST_HANDED_OUT = "CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END";

/**
 * Says, for the rest of this transaction, that its new rows in `tables` come after the
 * last seqs handed out now: one statement, whose branches run in the order given.
 */
function markPositions(q: SQL, tables: readonly PositionedTable[]) {
  const mark = (table: PositionedTable) =>
    `SELECT pg_advisory_xact_lock_shared(${POSITIONS[table].tag} * ${TAG_SHIFT}::bigint + ${LAST_HANDED_OUT}) FROM ${POSITIONS[table].sequence} s`;
  return q.unsafe(tables.map(mark).join(" UNION ALL "));
}

/**
 * The highest seq of `table` at or below which every row is settled: committed or never
 * to be. The sequence is read before the marks (a correlated subquery runs per outer row),
 * so a writer that takes a seq at or below it after that has already marked.
 */
async function horizon(q: SQL, table: PositionedTable): Promise<number> {
  const { sequence, tag } = POSITIONS[table];
  const [row] = await q.unsafe(
    `SELECT ${LAST_HANDED_OUT} AS handed_out,
       (SELECT min(l.classid::text::bigint * 4294967296 + l.objid::text::bigint) - ${tag} * ${TAG_SHIFT}::bigint
          FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::text::bigint >> 8 = ${tag} AND s.is_called IS NOT NULL
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS marked
       FROM ${sequence} s`,
  );
  const handedOut = Number(row.handed_out);
  return row.marked === null ? handedOut : Math.min(handedOut, Number(row.marked));
}

/**
 * An INSERT of every column of `T` (the record names each one, so a column added to
 * the type and left out here does not compile), written once: the two rows every unit
 * of work writes skip building their column list per call (a tenth of a routed task's
 * time in the client).
 */
function inserting<T extends object>(table: string, columns: Record<keyof T & string, true>, returning = "") {
  const names = Object.keys(columns) as (keyof T & string)[];
  const placeholders = names.map((_, i) => `$${i + 1}`).join(", ");
  return {
    sql: `INSERT INTO ${table} (${names.join(", ")}) VALUES (${placeholders})${returning}`,
    values: (row: T) => names.map((c) => row[c] ?? null),
  };
}
const TASK_INSERT = inserting<Task>("tasks", {
  task_id: true,
  target: true,
  source: true,
  task_type: true,
  description: true,
  data: true,
  context: true,
  priority: true,
  status: true,
  claimed_by: true,
  result: true,
  error: true,
  created_at: true,
  updated_at: true,
  version: true,
  trace_id: true,
  attempt: true,
  max_attempts: true,
  lease_expires_at: true,
  retry_at: true,
  deadline: true,
  progress: true,
  parent_task_id: true,
});
const AUDIT_INSERT = inserting<NewAuditEntry & ChangeAbout>(
  "audit",
  {
    at: true,
    actor: true,
    action: true,
    task_id: true,
    approval_id: true,
    from_status: true,
    to_status: true,
    trace_id: true,
    findings: true,
    target: true,
    source: true,
    approver_role: true,
    parent_task_id: true,
  },
  " RETURNING seq",
);

/**
 * One unit of work on one connection. New rows are written last, in one round trip
 * that first marks where their positions start (see POSITIONS). Reading or changing
 * tasks or approvals first writes what is waiting, so a unit of work still sees its own rows.
 */
function unitOfWork(q: SQL): { tx: StoreTx; finish: () => Promise<number> } {
  let waiting: SQL.Query<unknown>[] = [];
  /** Which of `waiting` add audit rows (their answers are the new seqs), and the highest seq added so far. */
  let auditAt = new Set<number>();
  let lastChange = 0;
  /** Tables whose new rows wait in `waiting`, and those this transaction has marked. */
  const inserting = new Set<PositionedTable>();
  const marked = new Set<PositionedTable>();
  /** Writes what is waiting; answers the highest audit seq this unit of work added (0 for none). */
  const finish = async () => {
    if (!waiting.length) return lastChange;
    // The audit mark first: a task's row is then never past the tasks horizon once its change is past the audit one.
    const marks = (["audit", "tasks"] as const).filter((t) => inserting.has(t) && !marked.has(t));
    for (const t of marks) marked.add(t);
    const audits = auditAt;
    const batch = [...(marks.length ? [markPositions(q, marks)] : []), ...waiting];
    const offset = batch.length - waiting.length;
    waiting = [];
    auditAt = new Set();
    inserting.clear();
    const answers = await Promise.all(batch); // sent back to back on the connection
    for (const i of audits) lastChange = Math.max(lastChange, Number((answers[i + offset] as Row[])[0]!.seq));
    return lastChange;
  };
  /** Queues a new row; its values are copied now, as Bun reads them only when sending. */
  const later = (query: SQL.Query<unknown>, table?: PositionedTable) => {
    if (table === "audit") auditAt.add(waiting.length);
    waiting.push(query);
    if (table) inserting.add(table);
  };
  const tx: StoreTx = {
    reserveIdempotency: async (scope, key, requestHash, now, expiresAt): Promise<IdempotencyReservation> => {
      // A concurrent holder of the key makes this wait on the unique index until it commits or rolls back.
      const taken = await q`
        INSERT INTO idempotency (scope, key, request_hash, response, created_at, expires_at)
        VALUES (${scope}, ${key}, ${requestHash}, NULL, ${now}, ${expiresAt})
        ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, response = NULL,
          created_at = excluded.created_at, expires_at = excluded.expires_at
        WHERE idempotency.expires_at <= excluded.created_at OR idempotency.response IS NULL
        RETURNING 1`;
      if (taken.length) return { kind: "reserved" };
      const [found] = await q`SELECT request_hash, response FROM idempotency WHERE scope = ${scope} AND key = ${key}`;
      return { kind: "replay", request_hash: found.request_hash, response: found.response };
    },
    // Sent with the new rows, in the unit of work's last round trip before COMMIT.
    saveIdempotentResponse: async (scope, key, response) => later(q`UPDATE idempotency SET response = ${response} WHERE scope = ${scope} AND key = ${key}`),
    // Keys another unit of work holds are skipped, not waited for: the next reservation forgets them.
    forgetOldestKeys: async (scope, keep, protectedFrom) => {
      const [first] = await q`SELECT created_at, key, created_at >= ${protectedFrom}::timestamptz AS protected
        FROM idempotency WHERE scope = ${scope} ORDER BY created_at DESC, key DESC OFFSET ${keep} LIMIT 1`;
      if (!first) return true;
      if (first.protected) return false;
      await q`DELETE FROM idempotency WHERE (scope, key) IN (
        SELECT scope, key FROM idempotency WHERE scope = ${scope} AND (created_at, key) <= (${first.created_at}, ${first.key})
        FOR UPDATE SKIP LOCKED)`;
      return true;
    },
    insertTask: async (task) => later(q.unsafe(TASK_INSERT.sql, TASK_INSERT.values(task)), "tasks"),
    getTaskForUpdate: async (id) => {
      await finish();
      return taskById(q, id, true);
    },
    updateTask: async (id, patch) => {
      await finish();
      await q`UPDATE tasks SET ${q(
        patch,
        "status",
        "claimed_by",
        "result",
        "error",
        "updated_at",
        "version",
        "attempt",
        "max_attempts",
        "lease_expires_at",
        "retry_at",
        "progress",
      )} WHERE task_id = ${id}`;
    },
    insertApproval: async (approval) => later(q`INSERT INTO approvals ${q({ ...approval })}`),
    countPendingApprovals: async (taskId) => {
      await finish();
      const [row] = await q`SELECT count(*)::int AS n FROM approvals WHERE task_id = ${taskId} AND status = 'pending'`;
      return Number(row.n);
    },
    getApprovalForUpdate: async (id) => {
      await finish();
      return approvalById(q, id, true);
    },
    updateApproval: async (id, patch) => {
      await finish();
      await q`UPDATE approvals SET ${q(patch, "status", "decided_by", "comments", "decided_at", "approver_role", "expires_at", "escalate_to", "escalated_from")}
        WHERE approval_id = ${id}`;
    },
    // SKIP LOCKED: a row another controller is acting on is left to it; the WHERE is checked again on the row as committed.
    lockDueTask: async (now) => {
      await finish();
      const due = async (condition: SQL.Query<unknown>, order: SQL.Query<unknown>) => {
        const [row] = await q`SELECT * FROM tasks WHERE ${condition} ORDER BY ${order} LIMIT 1 FOR UPDATE SKIP LOCKED`;
        return row ? withoutSeq(toTask(row)) : null;
      };
      return (
        (await due(q`status IN ('pending', 'claimed', 'input_required') AND deadline <= ${now}`, q`deadline`)) ??
        (await due(q`status = 'claimed' AND lease_expires_at <= ${now}`, q`lease_expires_at`))
      );
    },
    lockDueApproval: async (now) => {
      await finish();
      const [row] = await q`SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= ${now} ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED`;
      return row ? withoutSeq(toApproval(row)) : null;
    },
    insertMessage: async (taskId, message) => {
      await finish();
      const [row] = await q`INSERT INTO task_messages ${q({ task_id: taskId, ...message })} RETURNING *`;
      return toMessage(row);
    },
    countMessages: async (taskId) => {
      await finish();
      const [row] = await q`SELECT count(*)::int AS n FROM task_messages WHERE task_id = ${taskId}`;
      return Number(row.n);
    },
    lockSubtasks: async (parentId) => {
      await finish();
      const rows = await q`SELECT * FROM tasks WHERE parent_task_id = ${parentId} ORDER BY seq FOR UPDATE`;
      return rows.map((r: Row) => withoutSeq(toTask(r)));
    },
    // The store tells of the new seqs once the unit of work has committed (see #committed).
    appendAudit: async (entry, about) => later(q.unsafe(AUDIT_INSERT.sql, AUDIT_INSERT.values({ ...entry, ...about })), "audit"),
  };
  return { tx, finish };
}

async function taskById(q: SQL, id: string, lock: boolean): Promise<Task | null> {
  const [row] = await q`SELECT * FROM tasks WHERE task_id = ${id} ${lock ? q`FOR UPDATE` : q``}`;
  return row ? withoutSeq(toTask(row)) : null;
}

async function approvalById(q: SQL, id: string, lock: boolean): Promise<ApprovalRecord | null> {
  const [row] = await q`SELECT * FROM approvals WHERE approval_id = ${id} ${lock ? q`FOR UPDATE` : q``}`;
  return row ? withoutSeq(toApproval(row)) : null;
}

/** A list of text values as one PostgreSQL array parameter. */
const textArray = (sql: SQL, values: readonly string[]) => sql.array([...values], "TEXT");

/** mayReadTask in policy.ts, in SQL, for a task `t`: its source, holders of its target role, and holders of an approver role asked about it. */
const taskVisibility = (sql: SQL, who: Visibility) =>
  sql`(t.source = ${who.subject} OR t.target = ANY(${textArray(sql, who.roles)})
       OR EXISTS (SELECT 1 FROM approvals v WHERE v.task_id = t.task_id AND v.approver_role = ANY(${textArray(sql, who.roles)})))`;

/**
 * The rule "may hear a change" (mayHear in policy.ts) for someone who is not an admin:
 * the change's source is the caller, or its target or approver_role is one of the
 * caller's roles. Each of those is its own ordered index range, read only as far as
 * `limit`, so a replay costs what the caller may hear, not the length of the trail.
 * Each role is its own range with its own value (not one range joined to a list of
 * roles), so the planner, given the values (see changesSince), walks their indexes.
 */
function changesHeardBy(sql: SQL, { subject, roles: mine }: Visibility, after: number, limit: number) {
  const range = (column: "source" | "target" | "approver_role", value: string) =>
    sql`(SELECT seq FROM audit WHERE ${sql(column)} = ${value} AND seq > ${after} ORDER BY seq LIMIT ${limit})`;
  const ranges = [range("source", subject), ...mine.flatMap((role) => [range("target", role), range("approver_role", role)])];
  return sql`seq IN (${ranges.map((r, i) => (i === 0 ? r : sql`UNION ALL ${r}`))})`;
}

/** mayReadApproval in policy.ts, in SQL, for an approval `a`: who asked for it, holders of its approver role, and readers of its task. */
const approvalVisibility = (sql: SQL, who: Visibility) =>
  sql`(a.requested_by = ${who.subject} OR a.approver_role = ANY(${textArray(sql, who.roles)})
       OR EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = a.task_id AND ${taskVisibility(sql, who)}))`;

function where(sql: SQL, conditions: (SQL.Query<unknown> | false | undefined | null)[]) {
  const present = conditions.filter((c): c is SQL.Query<unknown> => Boolean(c));
  return present.length ? sql`WHERE ${present.map((c, i) => (i === 0 ? c : sql`AND ${c}`))}` : sql``;
}
