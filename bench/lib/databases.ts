/**
 * The databases the controller runs on in the bench, and what the bench does to them
 * directly: the raw durable insert rate (the baseline for throughput) and bulk seeding
 * in the store's own schema (for the scale table). The controller must have started
 * on the database first, so that its migrations made the tables.
 */
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { join } from "node:path";
import type { EngineName } from "./config.ts";
import { createTestDatabase, type TestDatabase } from "../../tests/postgres/database.ts";

/** Seeded tasks go to this many roles, so one role's inbox holds a tenth of them. */
const SEEDED_ROLES = 10;
/** The role whose inbox the scale table reads. */
export const INBOX_ROLE = "role-3";
/**
 * A role whose only pending tasks are the newest few: its inbox must not cost a walk
 * through everyone else's pending tasks.
 */
export const RARE_ROLE = "role-rare";
const RARE_TASKS = 50;

export type RawInserter = { insert: () => Promise<void>; close: () => Promise<void> };

export interface BenchDatabase {
  readonly engine: EngineName;
  /** What the controller's --db takes. */
  readonly url: string;
  /** How the baseline runs, for the table's notes. */
  readonly rawMethod: string;
  /** Connections for `clients` raw writers: each insert is one task row in its own durable transaction. */
  rawInserter(clients: number): Promise<RawInserter>;
  /**
   * The same, but each insert writes what a routed task's unit of work writes (its
   * idempotency record and answer, the task, its audit row) in one transaction, as the
   * engine's store writes them, with no controller code: the floor the store works against.
   */
  unitInserter(clients: number): Promise<RawInserter>;
  /** Adds seeded tasks, each with its task.created audit row, until `total` are stored. */
  seedUpTo(total: number): Promise<void>;
  /** `n` ids of INBOX_ROLE's tasks, picked at random. */
  randomTaskIds(n: number): Promise<string[]>;
  /** The seq halfway through INBOX_ROLE's pending tasks: where a deep inbox page starts. */
  midInboxSeq(): Promise<number>;
  close(): Promise<void>;
}

const TASK_COLUMNS =
  "task_id, target, source, task_type, description, data, context, priority, status, claimed_by, result, error, created_at, updated_at, version, trace_id";

/** One task row as the controller writes it for POST /tasks/route. */
function rawTask(): unknown[] {
  const now = new Date().toISOString();
  return [
    crypto.randomUUID(),
    "raw",
    "bench",
    "review",
    "raw insert",
    "{}",
    "{}",
    "normal",
    "pending",
    null,
    null,
    null,
    now,
    now,
    1,
    crypto.randomUUID().replaceAll("-", ""),
  ];
}

/** The audit row and idempotency record beside a raw task, as the controller writes them. */
const UNIT_AUDIT =
  "INSERT INTO audit (at, actor, action, task_id, to_status, trace_id, target, source) VALUES (?, 'bench', 'task.created', ?, 'pending', ?, 'raw', 'bench')";
const UNIT_KEY = "INSERT INTO idempotency (scope, key, request_hash, response, created_at, expires_at) VALUES ('bench', ?, ?, NULL, ?, ?)";
const UNIT_ANSWER = "UPDATE idempotency SET response = ? WHERE scope = 'bench' AND key = ?";
/** SQLite's store writes a key once, with its answer (its writer is the unit's alone). */
const UNIT_KEY_ANSWERED = "INSERT INTO idempotency (scope, key, request_hash, response, created_at, expires_at) VALUES ('bench', ?, ?, ?, ?, ?)";
/** Numbered placeholders for PostgreSQL. */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};
/** The values of a unit's statements for one task row. */
function unitValues(task: unknown[]) {
  const [id, , , , , , , , , , , , now, , , trace] = task as string[];
  const key = crypto.randomUUID();
  const answer = JSON.stringify({ task_id: id, status: "pending", trace_id: trace });
  return {
    key: [key, "0".repeat(64), now, now],
    audit: [now, id, trace],
    answer: [answer, key],
    keyAnswered: [key, "0".repeat(64), answer, now, now],
  };
}

/** Seeded rows for i in [from, to], with their target and status as SQL over `i`. */
type Series = { from: number; to: number; target: string; status: string };

/** Statuses cycle so that a quarter are pending and most of the rest finished, as in a mesh that has run a while. */
const MIXED: Pick<Series, "target" | "status"> = {
  target: `'role-' || (i % ${SEEDED_ROLES})`,
  status: `CASE WHEN i % 20 < 5 THEN 'pending' WHEN i % 20 < 6 THEN 'claimed' WHEN i % 20 < 18 THEN 'completed' WHEN i % 20 < 19 THEN 'failed' ELSE 'cancelled' END`,
};
const seededValues = ({ target, status }: Series, uuid: string, now: string, json: string) =>
  `${uuid}, ${target}, 'agent-' || (i % 50), 'review', 'seeded task ' || i, ${json}, ${json}, 'normal',
   ${status}, CASE WHEN i % 20 BETWEEN 5 AND 18 THEN 'worker' END, NULL, NULL, ${now}, ${now}, 1, 'seed' || i`;
const auditOfSeeded = `SELECT created_at, source, 'task.created', task_id, NULL, NULL, 'pending', trace_id, target, source, NULL FROM tasks WHERE seq > ? ORDER BY seq`;
const AUDIT_COLUMNS = "at, actor, action, task_id, approval_id, from_status, to_status, trace_id, target, source, approver_role";
const MID_INBOX = `SELECT seq FROM tasks WHERE target = '${INBOX_ROLE}' AND status = 'pending' ORDER BY seq LIMIT 1 OFFSET (SELECT count(*) / 2 FROM tasks WHERE target = '${INBOX_ROLE}' AND status = 'pending')`;

const SQLITE_RAW_INSERT = `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (${Array(16).fill("?").join(", ")})`;
const PG_RAW_INSERT = `INSERT INTO tasks (${TASK_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11::jsonb, $12, $13::timestamptz, $14::timestamptz, $15, $16)`;

/** Rows per seeding transaction: bounds the WAL. */
const SEED_CHUNK = 100_000;

/** Seeding, the same on both engines: what differs is how a series is inserted. */
abstract class Seeder {
  #seeded = 0;

  /** Inserts `series` and its audit rows in one transaction. */
  protected abstract insertSeries(series: Series): Promise<void>;
  protected abstract execute(sql: string): Promise<void>;
  /** Gives the planner statistics for the new rows, where the engine keeps them. */
  protected abstract analyze(): Promise<void>;

  async seedUpTo(total: number) {
    while (this.#seeded < total) {
      const to = Math.min(total, this.#seeded + SEED_CHUNK);
      await this.insertSeries({ from: this.#seeded + 1, to, ...MIXED });
      this.#seeded = to;
    }
    // The rare role's earlier tasks are done; a fresh few are the newest rows.
    await this.execute(`UPDATE tasks SET status = 'completed' WHERE target = '${RARE_ROLE}' AND status = 'pending'`);
    await this.insertSeries({ from: 1, to: RARE_TASKS, target: `'${RARE_ROLE}'`, status: "'pending'" });
    await this.analyze();
  }
}

class SqliteBenchDatabase extends Seeder implements BenchDatabase {
  readonly engine = "sqlite" as const;
  readonly rawMethod = "bun:sqlite, WAL + synchronous=FULL, one INSERT per transaction on one connection (SQLite has one writer, so more clients only queue)";
  readonly #path: string;
  #db: Database | null = null;

  constructor(dir: string) {
    super();
    this.#path = join(dir, "mesh.db");
  }

  get url() {
    return `sqlite:${this.#path}`;
  }

  /** A connection of our own, with the controller's durability settings; opened once the controller made the file. */
  get #conn(): Database {
    if (!this.#db) {
      this.#db = new Database(this.#path, { strict: true });
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;");
    }
    return this.#db;
  }

  async rawInserter(): Promise<RawInserter> {
    const statement = this.#conn.prepare(SQLITE_RAW_INSERT);
    return {
      insert: async () => void statement.run(...(rawTask() as never[])),
      close: async () => statement.finalize(),
    };
  }

  async unitInserter(): Promise<RawInserter> {
    const db = this.#conn;
    const statements = [SQLITE_RAW_INSERT, UNIT_AUDIT, UNIT_KEY_ANSWERED].map((sql) => db.prepare(sql));
    const [task, audit, key] = statements;
    const unit = db.transaction((row: unknown[]) => {
      const values = unitValues(row);
      task!.run(...(row as never[]));
      audit!.run(...(values.audit as never[]));
      key!.run(...(values.keyAnswered as never[]));
    });
    return {
      insert: async () => void unit.immediate(rawTask()),
      close: async () => {
        for (const statement of statements) statement.finalize();
      },
    };
  }

  protected async insertSeries(series: Series) {
    const db = this.#conn;
    db.transaction(() => {
      const { last } = db.query<{ last: number }, []>("SELECT coalesce(max(seq), 0) AS last FROM tasks").get()!;
      db.query(
        `WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?)
         INSERT INTO tasks (${TASK_COLUMNS})
         SELECT ${seededValues(series, "lower(hex(randomblob(16)))", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", "'{}'")} FROM s`,
      ).run(series.from, series.to);
      db.query(`INSERT INTO audit (${AUDIT_COLUMNS}) ${auditOfSeeded}`).run(last);
    }).immediate();
  }

  protected async execute(sql: string) {
    this.#conn.exec(sql);
  }

  /** The controller runs no ANALYZE on SQLite, so neither does the bench. */
  protected async analyze() {}

  async randomTaskIds(n: number) {
    return this.#conn
      .query<{ task_id: string }, [number]>(`SELECT task_id FROM tasks WHERE target = '${INBOX_ROLE}' ORDER BY random() LIMIT ?`)
      .all(n)
      .map((r) => r.task_id);
  }

  async midInboxSeq() {
    return this.#conn.query<{ seq: number }, []>(MID_INBOX).get()!.seq;
  }

  async close() {
    this.#db?.close();
  }
}

class PostgresBenchDatabase extends Seeder implements BenchDatabase {
  readonly engine = "postgres" as const;
  readonly rawMethod = "Bun.SQL, one INSERT per transaction (autocommit), default synchronous_commit, one connection per client";
  readonly url: string;
  readonly #db: TestDatabase;
  readonly #sql: SQL;

  private constructor(db: TestDatabase) {
    super();
    this.#db = db;
    this.url = db.url();
    this.#sql = db.sql;
  }

  static async create(adminUrl: string): Promise<PostgresBenchDatabase> {
    return new PostgresBenchDatabase(await createTestDatabase({ adminUrl, prefix: "mesh_bench" }));
  }

  async rawInserter(clients: number): Promise<RawInserter> {
    const sql = new SQL(this.url, { max: clients });
    await Promise.all(Array.from({ length: clients }, () => sql`SELECT 1`));
    return {
      insert: async () => void (await sql.unsafe(PG_RAW_INSERT, rawTask())),
      close: () => sql.close(),
    };
  }

  async unitInserter(clients: number): Promise<RawInserter> {
    const sql = new SQL(this.url, { max: clients });
    await Promise.all(Array.from({ length: clients }, () => sql`SELECT 1`));
    const [audit, key, answer] = [UNIT_AUDIT, UNIT_KEY, UNIT_ANSWER].map(numbered);
    return {
      // The key first (a concurrent holder would make it wait), then the rest in one round trip, as the controller sends them.
      insert: async () => {
        const row = rawTask();
        const values = unitValues(row);
        await sql.begin(async (q) => {
          await q.unsafe(key!, values.key);
          await Promise.all([q.unsafe(PG_RAW_INSERT, row), q.unsafe(audit!, values.audit), q.unsafe(answer!, values.answer)]);
        });
      },
      close: () => sql.close(),
    };
  }

  protected async insertSeries(series: Series) {
    await this.#sql.begin(async (q) => {
      const [{ last }] = await q`SELECT coalesce(max(seq), 0)::bigint AS last FROM tasks`;
      await q.unsafe(
        `INSERT INTO tasks (${TASK_COLUMNS}) SELECT ${seededValues(series, "gen_random_uuid()::text", "now()", "'{}'::jsonb")} FROM generate_series($1::bigint, $2::bigint) i`,
        [series.from, series.to],
      );
      await q.unsafe(`INSERT INTO audit (${AUDIT_COLUMNS}) ${auditOfSeeded.replace("?", "$1")}`, [last]);
    });
  }

  protected async execute(sql: string) {
    await this.#sql.unsafe(sql);
  }

  /** What autovacuum would do soon after the bulk insert. */
  protected async analyze() {
    await this.#sql`ANALYZE tasks`;
    await this.#sql`ANALYZE audit`;
  }

  async randomTaskIds(n: number) {
    const rows = await this.#sql`SELECT task_id FROM tasks WHERE target = ${INBOX_ROLE} ORDER BY random() LIMIT ${n}`;
    return rows.map((r: { task_id: string }) => r.task_id);
  }

  async midInboxSeq() {
    const [row] = await this.#sql.unsafe(MID_INBOX);
    return Number(row.seq);
  }

  async close() {
    await this.#db.drop();
  }
}

export async function createBenchDatabase(engine: EngineName, dir: string, postgresUrl: string): Promise<BenchDatabase> {
  return engine === "sqlite" ? new SqliteBenchDatabase(dir) : PostgresBenchDatabase.create(postgresUrl);
}
