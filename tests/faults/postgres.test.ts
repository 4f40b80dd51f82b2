/**
 * The PostgreSQL engine under a send_task load from MCP servers (the compiled binary
 * over real stdio, driven by the official SDK client), while the database goes away:
 * its connections are cut by a TCP proxy (a network partition, new connections refused),
 * terminated by the server (as a restart does), and the answers to some COMMITs are lost
 * (committed, but the controller never hears so). The database is a throwaway one on
 * the server at 127.0.0.1:5432; the server itself is never stopped.
 *
 * Every call ends in a success stored exactly once or a clear error, the controller and
 * the MCP servers live on, and every stored task is whole (its audit row, its key).
 * FAULTS_PG_CALLS sets the number of calls (default 1000).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tempDir, tokenFor } from "../support/controller.ts";
import { until } from "../postgres/cluster.ts";
import { createTestDatabase, type TestDatabase } from "../postgres/database.ts";
import { envCount, figures, metric, reconcile, sendLoad } from "./support/ledger.ts";
import { startPgProxy, type PgProxy } from "../support/pg-proxy.ts";
import { alive, startControllerProcess, startMcpAgent, type ControllerProcess, type McpAgent } from "./support/processes.ts";

/** The heavy tests set their own time limit: the suite's --timeout is meant for ordinary tests. */
const HEAVY_TEST_MS = 180_000;
const CALLS = envCount("FAULTS_PG_CALLS", 1000);
const run = crypto.randomUUID().slice(0, 8);

let db: TestDatabase;
let proxy: PgProxy;
let dataDir: string;
let controller: ControllerProcess;
let agents: McpAgent[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startPgProxy(Number(new URL(db.url()).port || 5432));
  dataDir = tempDir("mesh-pg-faults-");
  controller = await startControllerProcess({ dataDir, db: db.url(proxy.port) });
  const token = await tokenFor(dataDir, `pg-sender-${run}`, ["sender"]);
  agents = await Promise.all(
    Array.from({ length: 4 }, () => startMcpAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: token, MESH_RETRY_COUNT: "10", MESH_TIMEOUT_SECS: "3" })),
  );
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await controller?.stop();
  await proxy?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const rows = (text: string, ...params: unknown[]) => db.sql.unsafe(text, params) as Promise<Record<string, any>[]>;
const unavailable = () => metric(controller.url, "mesh_http_requests_total", { route: "/tasks/route", status: "503" });

/** The network between controller and database fails until the controller has refused `n` more writes. */
async function partition(n: number) {
  const before = await unavailable();
  await proxy.cut();
  let now = before;
  await until(async () => (now = await unavailable()) - before >= n, `the controller refused ${n} writes`, 30_000).catch((error) => {
    throw new Error(`${error.message}: it refused ${now - before} while the database was cut`);
  });
  expect((await fetch(`${controller.url}/readyz`)).status).toBe(503);
  await proxy.restore();
}

/** The server ends every connection the controller holds, as a restart of PostgreSQL does. */
async function terminateBackends() {
  const [ended] = await rows(
    "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'agent-mesh'",
    db.name,
  );
  return ended!.n as number;
}

test(
  `${CALLS} send_task calls while PostgreSQL connections are cut, terminated and lose COMMIT answers: each success stored once`,
  async () => {
    const target = `pg-faults-${run}`;
    const pid = controller.proc.pid;
    const steps: [number, () => Promise<unknown>][] = [
      [Math.floor(CALLS * 0.15), () => partition(120)],
      [Math.floor(CALLS * 0.3), async () => proxy.loseCommitAnswers(0.05)],
      [Math.floor(CALLS * 0.45), async () => proxy.loseCommitAnswers(0)],
      [Math.floor(CALLS * 0.5), terminateBackends],
      [Math.floor(CALLS * 0.6), terminateBackends],
      [Math.floor(CALLS * 0.75), () => partition(120)],
    ];
    const done: Promise<unknown>[] = [];
    const terminated: number[] = [];
    const stepErrors: string[] = [];
    let busy = false;
    let acked = 0;
    const calls = await sendLoad({
      agents,
      concurrency: 10,
      target,
      run: `pg-${run}`,
      // Keep the load on until every fault has been dealt.
      more: (n) => n < CALLS * 3 && (n < CALLS || done.length < steps.length || busy),
      onDone(s) {
        if (s.ok) acked++;
        const next = steps[done.length];
        if (busy || !next || acked < next[0]) return;
        busy = true;
        done.push(
          next[1]()
            .then((n) => typeof n === "number" && terminated.push(n))
            .catch((error) => {
              stepErrors.push(String(error));
              return proxy.restore().catch(() => {});
            })
            .finally(() => (busy = false)),
        );
      },
    });
    await Promise.all(done);
    expect(stepErrors).toEqual([]);
    expect(done).toHaveLength(steps.length);
    for (const a of agents)
      expect({ pid: a.pid, closedEarly: a.closedEarly(), stderr: a.closedEarly() ? a.stderr().slice(-2000) : "" }).toEqual({
        pid: a.pid,
        closedEarly: false,
        stderr: "",
      });
    await until(async () => (await fetch(`${controller.url}/readyz`)).status === 200, "the controller is ready again");

    const stored = await rows("SELECT task_id, data->>'marker' AS marker FROM tasks WHERE target = $1", target);
    const verdict = reconcile(
      calls,
      stored.map((r) => ({ task_id: r.task_id, marker: r.marker })),
    );
    const refusedWrites = await unavailable();
    const replays = await metric(controller.url, "mesh_idempotent_replays_total");
    const lostCommits = proxy.lostCommitAnswers();
    console.log(
      "PostgreSQL faults under load:",
      JSON.stringify({ ...figures(verdict), answered503: refusedWrites, replays, lostCommitAnswers: lostCommits, backendsTerminated: terminated }),
    );
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.lost).toEqual([]);
    expect(verdict.mismatched).toEqual([]);
    expect(verdict.ghosts).toEqual([]);
    expect(verdict.unclear).toEqual([]);
    expect(verdict.succeeded).toBeGreaterThan(calls.length * 0.98);
    expect(verdict.stored).toBe(verdict.succeeded + verdict.failedButStored);
    expect(terminated.every((n) => n > 0)).toBe(true);
    // Writes committed without the controller hearing so were retried, and replayed rather than done again.
    expect(lostCommits).toBeGreaterThan(0);
    expect(replays).toBeGreaterThanOrEqual(lostCommits);
    // Whole or absent: each task has one creation audit row and its idempotency record with the answer.
    const [whole] = await rows(
      `SELECT count(*)::int AS tasks,
            count(*) FILTER (WHERE (SELECT count(*) FROM audit a WHERE a.task_id = t.task_id AND a.action = 'task.created') = 1)::int AS audited,
            count(*) FILTER (WHERE EXISTS (SELECT 1 FROM idempotency i WHERE i.response->>'task_id' = t.task_id))::int AS keyed
     FROM tasks t WHERE t.target = $1`,
      target,
    );
    expect(whole).toEqual({ tasks: stored.length, audited: stored.length, keyed: stored.length });
    // Nobody was restarted.
    expect(controller.proc.pid).toBe(pid);
    expect(controller.proc.exitCode).toBeNull();
    for (const a of agents) {
      expect(alive(a.pid)).toBe(true);
      expect(a.closedEarly()).toBe(false);
      expect(a.transportErrors).toEqual([]);
    }
  },
  HEAVY_TEST_MS,
);
