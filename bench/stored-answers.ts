/**
 * Issue 13 items 1 and 5, measured on both engines:
 * - bytes the database grows by for 400 re-claims (fresh Idempotency-Keys) of a claimed ~1 MiB task;
 * - CPU and time of `GET /events?since=0` for a caller who may hear none of ~200k audit rows.
 * Run: bun bench/stored-answers.ts (AUDIT_ROWS=… changes the size of the trail).
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { startTestController, type TestController } from "../tests/support/controller.ts";
import { openSse } from "../tests/support/sse.ts";
import { createTestDatabase, type TestDatabase } from "../tests/postgres/database.ts";

const RECLAIMS = 400;
const AUDIT_ROWS = Number(process.env.AUDIT_ROWS ?? 200_000);

type Engine = {
  name: string;
  env: Record<string, string>;
  size: () => Promise<number>;
  /** Bytes of the kept answers of the re-claims. */
  kept: () => Promise<number>;
  fill: (n: number) => Promise<void>;
  done: () => Promise<void>;
};

async function sqlite(c: () => TestController): Promise<Engine> {
  const file = () => join(c().dataDir, "mesh.db");
  return {
    name: "sqlite",
    env: {},
    // Pages in use: free pages (a rewritten task leaves some) would hide growth, and the write-ahead log is reused.
    size: async () => {
      const db = new Database(file(), { readonly: true });
      const pragma = (name: string) => Object.values(db.query(`PRAGMA ${name}`).get() as object)[0] as number;
      const used = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
      db.close();
      return used;
    },
    kept: async () => {
      const db = new Database(file(), { readonly: true });
      const { n } = db.query<{ n: number }, []>("SELECT sum(length(response)) AS n FROM idempotency WHERE key LIKE 'again-%'").get()!;
      db.close();
      return n;
    },
    fill: async (n) => {
      const db = new Database(file());
      db.exec("PRAGMA busy_timeout = 5000");
      db.query(`WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?)
        INSERT INTO audit (at, actor, action, task_id, approval_id, from_status, to_status, trace_id, target, source, approver_role)
        SELECT '2026-01-01T00:00:00.000Z', 'someone', 'task.created', 't-' || n, NULL, NULL, 'pending', 'trace', 'worker', 'someone', NULL FROM i`).run(n);
      db.close();
    },
    done: async () => {},
  };
}

async function postgres(db: TestDatabase): Promise<Engine> {
  return {
    name: "postgres",
    env: { MESH_DATABASE_URL: db.url() },
    size: async () => Number((await db.sql`SELECT pg_database_size(current_database()) AS n`)[0].n),
    kept: async () => Number((await db.sql`SELECT sum(pg_column_size(response)) AS n FROM idempotency WHERE key LIKE 'again-%'`)[0].n),
    fill: async (n) => {
      await db.sql`INSERT INTO audit (at, actor, action, task_id, approval_id, from_status, to_status, trace_id, target, source, approver_role)
        SELECT now(), 'someone', 'task.created', 't-' || g, NULL, NULL, 'pending', 'trace', 'worker', 'someone', NULL FROM generate_series(1, ${n}) g`;
      await db.sql`ANALYZE audit`;
    },
    done: () => db.drop(),
  };
}

async function measure(make: (c: () => TestController) => Promise<Engine>) {
  let c!: TestController;
  const engine = await make(() => c);
  c = await startTestController(engine.env);
  try {
    const alice = await c.token("alice", []);
    const bob = await c.token("bob", ["worker"]);
    // Random text, so PostgreSQL cannot compress the copies away.
    const big = Buffer.from(crypto.getRandomValues(new Uint8Array(750 * 1024))).toString("base64");
    const sent = await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "big", data: { big } } }, { "idempotency-key": "big" });
    const id = sent.body.task_id;
    await c.api(bob, "POST", `/tasks/${id}/claim`, {}, { "idempotency-key": "first-claim" });
    const before = await engine.size();
    for (let i = 0; i < RECLAIMS; i++) {
      const r = await c.api(bob, "POST", `/tasks/${id}/claim`, {}, { "idempotency-key": `again-${i}` });
      if (r.status !== 200) throw new Error(`re-claim answered ${r.status}`);
    }
    const grown = (await engine.size()) - before;
    console.log(
      `${engine.name}: ${RECLAIMS} re-claims of a claimed 1 MiB task grew the database by ${(grown / 2 ** 20).toFixed(1)} MiB (${Math.round(grown / RECLAIMS)} bytes per request); each kept answer ${Math.round((await engine.kept()) / RECLAIMS)} bytes`,
    );

    await engine.fill(AUDIT_ROWS);
    // Rows written behind the controllers' back were never announced; one announced change catches the feed up.
    await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "t" } }, { "idempotency-key": "catch-up" });
    await Bun.sleep(1000);
    const nobody = await c.token("nobody", ["nobody"]);
    for (let round = 0; round < 3; round++) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const stream = await openSse(new URL("/events?since=0", c.url).href, nobody);
      await c.api(alice, "POST", "/tasks/route", { target: "nobody", task: { task_type: "t" } }, { "idempotency-key": `ping-${round}` });
      const first = await stream.next(60_000);
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpu);
      stream.close();
      if (!first) throw new Error("no event came");
      console.log(
        `${engine.name}: GET /events?since=0 over ${AUDIT_ROWS} rows the caller may not hear: ${ms.toFixed(0)} ms, controller CPU ${((used.user + used.system) / 1000).toFixed(0)} ms`,
      );
    }
  } finally {
    await c.stop();
    await engine.done();
  }
}

await measure(sqlite);
const pg = await createTestDatabase({ prefix: "mesh_bench" });
await measure(async () => postgres(pg));
