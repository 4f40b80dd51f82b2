/**
 * A load test, not part of the unit suite: many concurrent agents sending, claiming and
 * completing tasks against a spawned controller (the compiled binary, loopback only) for
 * minutes. At the end it checks that nothing went wrong and nothing was lost or done
 * twice, and shows the controller's memory sampled over time.
 *
 *   npx bun bench/load.ts
 *
 * Most agents use the retrying controller client the MCP tools use (src/client/controller-client.ts);
 * a few are real MCP servers (`agent-mesh mcp` over stdio, driven by the official SDK client).
 *
 * Settings (environment):
 *   BENCH_LOAD_SECONDS        how long agents send (default 120); a drain of at most 60 s follows
 *   BENCH_LOAD_SENDERS        senders using the controller client (default 16)
 *   BENCH_LOAD_WORKERS        workers using the controller client (default 16)
 *   BENCH_LOAD_MCP            senders and workers that are MCP servers, each (default 2)
 *   BENCH_LOAD_ROLES          roles the work is spread over (default 4)
 *   BENCH_LOAD_BACKLOG        senders pause while this many tasks are sent but not finished (default 300)
 *   BENCH_LOAD_SAMPLE_SECONDS how often memory is sampled (default 5)
 *   BENCH_LOAD_DB             sqlite (default) or postgres (a throwaway database on 127.0.0.1:5432)
 *   BENCH_LOAD_BINARY         the binary to run (default dist/agent-mesh; build it with npx bun scripts/build.ts)
 *
 * Exit code 0 only if: no errors, no lost or duplicated task, every task completed once,
 * and the controller's memory flat (the last third of the samples within 15% or 25 MiB
 * of the first third, after a warm-up).
 */
import { readFileSync, rmSync } from "node:fs";
import { ControllerClient, type Outcome } from "../src/client/controller-client.ts";
import { staticToken } from "../src/client/token-source.ts";
import { tempDir, tokenFor } from "../tests/support/controller.ts";
import { startControllerProcess, startMcpAgent, type McpAgent } from "../tests/faults/support/processes.ts";

const env = (name: string, fallback: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, not ${raw}`);
  return n;
};

const SECONDS = env("BENCH_LOAD_SECONDS", 120);
const SENDERS = env("BENCH_LOAD_SENDERS", 16);
const WORKERS = env("BENCH_LOAD_WORKERS", 16);
const MCP = env("BENCH_LOAD_MCP", 2);
const ROLES = Math.max(1, env("BENCH_LOAD_ROLES", 4));
const BACKLOG = Math.max(1, env("BENCH_LOAD_BACKLOG", 300));
const SAMPLE_SECONDS = Math.max(1, env("BENCH_LOAD_SAMPLE_SECONDS", 5));
const DB = process.env.BENCH_LOAD_DB ?? "sqlite";
const DRAIN_SECONDS = 60;
const INBOX_WAIT = 5;
if (process.env.BENCH_LOAD_BINARY) process.env.MESH_FAULTS_BINARY = process.env.BENCH_LOAD_BINARY;
if (DB !== "sqlite" && DB !== "postgres") throw new Error("BENCH_LOAD_DB must be sqlite or postgres");

const run = crypto.randomUUID().slice(0, 8);
const roles = Array.from({ length: ROLES }, (_, i) => `load-${run}-${i}`);
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function rssBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return kib ? Number(kib[1]) * 1024 : NaN;
}

// ── bookkeeping ──────────────────────────────────────────────────────────────

type Op = "send" | "inbox" | "claim" | "complete";
const latencies: Record<Op, number[]> = { send: [], inbox: [], claim: [], complete: [] };
const errors: string[] = [];
/** marker → the task id the send was answered with. */
const sent = new Map<string, string>();
/** task id → the worker that completed it. */
const completed = new Map<string, string>();
let claimRacesLost = 0;
let sendsStarted = 0;
let stopSending = false;
let stopWorking = false;
const stopWorkers = new AbortController();

const error = (what: string) => {
  if (errors.length < 50) console.error(`error: ${what}`);
  errors.push(what);
};
const timed = async <T>(op: Op, call: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  try {
    return await call();
  } finally {
    latencies[op].push(performance.now() - started);
  }
};
const backlog = () => sent.size - completed.size;
/** Resolves when the backlog is below the limit again (checked as work completes). */
let backlogWaiters: (() => void)[] = [];
const roomInBacklog = () => (backlog() < BACKLOG || stopSending ? Promise.resolve() : new Promise<void>((resolve) => backlogWaiters.push(resolve)));
/** Resolved whenever a task is completed, for the drain at the end. */
let progressWaiters: (() => void)[] = [];
const finishedOne = () => {
  const p = progressWaiters;
  progressWaiters = [];
  for (const resolve of p) resolve();
  if (backlog() < BACKLOG) {
    const w = backlogWaiters;
    backlogWaiters = [];
    for (const resolve of w) resolve();
  }
};

// ── agents ───────────────────────────────────────────────────────────────────

type Task = { task_id: string; data: Record<string, unknown> };

/** What an agent does, whichever way it talks to the controller. */
type Agent = {
  name: string;
  send: (role: string, marker: string) => Promise<string | null>;
  inbox: (role: string) => Promise<Task[] | null>;
  /** true: ours; false: someone else was first. */
  claim: (id: string) => Promise<boolean | null>;
  complete: (id: string, marker: unknown) => Promise<boolean>;
};

function httpAgent(name: string, client: ControllerClient): Agent {
  const failed = (what: string, o: Outcome<unknown>) => {
    if (!o.ok) error(`${name} ${what}: ${o.failure.kind} ${o.failure.status ?? ""} ${o.failure.detail}`);
  };
  return {
    name,
    async send(role, marker) {
      const r = await client.call("routeTask", { body: { target: role, task: { task_type: "load", description: `load ${marker}`, data: { marker } } } });
      failed(`send ${marker}`, r);
      return r.ok ? r.value.task_id : null;
    },
    async inbox(role) {
      const r = await client.call(
        "listTasks",
        { query: { for: "me", target: role, status: "pending", limit: 20, wait: INBOX_WAIT } },
        { signal: stopWorkers.signal },
      );
      if (!r.ok && r.failure.kind === "cancelled") return [];
      failed(`inbox ${role}`, r);
      return r.ok ? r.value.items : null;
    },
    async claim(id) {
      const r = await client.call("claimTask", { params: { id } });
      if (!r.ok && r.failure.kind === "conflict") return false;
      failed(`claim ${id}`, r);
      return r.ok ? true : null;
    },
    async complete(id, marker) {
      // Each task is claimed once, well within its lease: the first attempt.
      const r = await client.call("completeTask", { params: { id }, body: { attempt: 1, result: { marker: marker as string, by: name } } });
      failed(`complete ${id}`, r);
      return r.ok;
    },
  };
}

function mcpAgent(name: string, agent: McpAgent): Agent {
  const call = async (tool: string, args: Record<string, unknown>) => {
    const r = await agent.call(tool, args, 120_000);
    if ("thrown" in r) return { ok: false as const, text: String(r.thrown) };
    return r.isError ? { ok: false as const, text: r.text } : { ok: true as const, data: r.structuredContent as any };
  };
  return {
    name,
    async send(role, marker) {
      const r = await call("send_task", { target: role, task: { task_type: "load", description: `load ${marker}`, data: { marker } } });
      if (!r.ok) error(`${name} send_task ${marker}: ${r.text.split("\n")[0]}`);
      return r.ok ? r.data.task_id : null;
    },
    async inbox(role) {
      if (stopWorking) return [];
      const r = await call("check_inbox", { role, wait_seconds: INBOX_WAIT, limit: 20 });
      if (!r.ok) error(`${name} check_inbox: ${r.text.split("\n")[0]}`);
      return r.ok ? r.data.tasks : null;
    },
    async claim(id) {
      const r = await call("claim_task", { task_id: id });
      if (!r.ok && r.text.startsWith("Conflict:")) return false;
      if (!r.ok) error(`${name} claim_task ${id}: ${r.text.split("\n")[0]}`);
      return r.ok ? true : null;
    },
    async complete(id, marker) {
      const r = await call("complete_task", { task_id: id, result: { marker, by: name } });
      if (!r.ok) error(`${name} complete_task ${id}: ${r.text.split("\n")[0]}`);
      return r.ok;
    },
  };
}

async function sender(agent: Agent, index: number) {
  for (let n = 0; !stopSending; n++) {
    await roomInBacklog();
    if (stopSending) return;
    const marker = `${run}-${agent.name}-${n}`;
    const role = roles[(index + n) % roles.length]!;
    sendsStarted++;
    const id = await timed("send", () => agent.send(role, marker));
    if (id === null) continue;
    if (sent.has(marker)) error(`marker ${marker} answered twice`);
    sent.set(marker, id);
  }
}

async function worker(agent: Agent, role: string) {
  while (!stopWorking) {
    const tasks = await timed("inbox", () => agent.inbox(role));
    if (!tasks) continue;
    // Start somewhere random in the page, so workers of one role race less.
    const offset = Math.floor(Math.random() * Math.max(1, tasks.length));
    for (let i = 0; i < tasks.length && !stopWorking; i++) {
      const task = tasks[(offset + i) % tasks.length]!;
      const ours = await timed("claim", () => agent.claim(task.task_id));
      if (ours === false) {
        claimRacesLost++;
        continue;
      }
      if (ours === null) continue;
      const done = await timed("complete", () => agent.complete(task.task_id, task.data.marker));
      if (!done) continue;
      if (completed.has(task.task_id)) error(`task ${task.task_id} completed twice (by ${completed.get(task.task_id)} and ${agent.name})`);
      completed.set(task.task_id, agent.name);
      finishedOne();
    }
  }
}

// ── checks ───────────────────────────────────────────────────────────────────

async function pages<T>(url: string, token: string, next: (page: { items: T[]; next_cursor: string | null }) => string | null): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = "";
  while (cursor !== null) {
    const res = await fetch(`${url}${url.includes("?") ? "&" : "?"}limit=200${cursor ? `&cursor=${cursor}` : ""}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { items: T[]; next_cursor: string | null };
    out.push(...page.items);
    cursor = next(page);
  }
  return out;
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
};

// ── the run ──────────────────────────────────────────────────────────────────

async function main() {
  const dataDir = tempDir("mesh-load-");
  let dropDb: (() => Promise<void>) | undefined;
  let database: string | undefined;
  if (DB === "postgres") {
    const { createTestDatabase } = await import("../tests/postgres/database.ts");
    const db = await createTestDatabase();
    database = db.url();
    dropDb = db.drop;
  }
  const controller = await startControllerProcess({ dataDir, db: database });
  const mcpAgents: McpAgent[] = [];
  const samples: { t: number; rssMiB: number; mcpRssMiB: number[]; sent: number; completed: number; backlog: number; requests: number }[] = [];
  let exitCode = 1;
  try {
    const ttl = SECONDS + DRAIN_SECONDS + 600;
    const admin = await tokenFor(dataDir, "load-auditor", ["admin"], ttl);
    const client = async (sub: string, roleList: string[]) =>
      new ControllerClient({ baseUrl: controller.url, tokens: staticToken(await tokenFor(dataDir, sub, roleList, ttl)), retries: 3, timeoutMs: 30_000 });
    const mcp = async (sub: string, roleList: string[]) => {
      const a = await startMcpAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await tokenFor(dataDir, sub, roleList, ttl), MESH_TIMEOUT_SECS: "30" });
      mcpAgents.push(a);
      return a;
    };
    const senders: Agent[] = [
      ...(await Promise.all(Array.from({ length: SENDERS }, async (_, i) => httpAgent(`s${i}`, await client(`sender-${i}`, []))))),
      ...(await Promise.all(Array.from({ length: MCP }, async (_, i) => mcpAgent(`ms${i}`, await mcp(`mcp-sender-${i}`, []))))),
    ];
    const workerRole = (i: number) => roles[i % roles.length]!;
    const workers: [Agent, string][] = [
      ...(await Promise.all(
        Array.from({ length: WORKERS }, async (_, i) => [httpAgent(`w${i}`, await client(`worker-${i}`, [workerRole(i)])), workerRole(i)] as [Agent, string]),
      )),
      ...(await Promise.all(
        Array.from({ length: MCP }, async (_, i) => [mcpAgent(`mw${i}`, await mcp(`mcp-worker-${i}`, [workerRole(i)])), workerRole(i)] as [Agent, string]),
      )),
    ];
    const requests = async () => {
      const text = await (await fetch(`${controller.url}/metrics`)).text();
      return [...text.matchAll(/^mesh_http_requests_total\{[^}]*\} (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };

    console.log(
      `load: ${SENDERS}+${MCP} senders, ${WORKERS}+${MCP} workers (the second figure over MCP stdio), ${ROLES} roles, backlog ≤ ${BACKLOG}, ` +
        `${SECONDS} s, ${DB}, controller pid ${controller.proc.pid} on ${controller.url}`,
    );
    const started = performance.now();
    const sample = async () => {
      samples.push({
        t: Math.round((performance.now() - started) / 1000),
        rssMiB: mib(rssBytes(controller.proc.pid)),
        mcpRssMiB: mcpAgents.map((a) => mib(rssBytes(a.pid))),
        sent: sent.size,
        completed: completed.size,
        backlog: backlog(),
        requests: await requests(),
      });
      const s = samples.at(-1)!;
      const prev = samples.at(-2);
      const rate = prev ? Math.round((s.completed - prev.completed) / Math.max(1, s.t - prev.t)) : 0;
      console.log(
        `  t=${String(s.t).padStart(4)} s  controller RSS ${String(s.rssMiB).padStart(6)} MiB  sent ${s.sent}  completed ${s.completed} (${rate}/s)  backlog ${s.backlog}  MCP RSS ${s.mcpRssMiB.join("/")} MiB`,
      );
    };
    await sample();
    const sampler = setInterval(() => void sample(), SAMPLE_SECONDS * 1000);

    const working = workers.map(([agent, role]) => worker(agent, role));
    const sending = senders.map((agent, i) => sender(agent, i));
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    stopSending = true;
    finishedOne();
    for (const w of backlogWaiters) w();
    await Promise.all(sending);
    const sentAt = performance.now();
    const sendSeconds = (sentAt - started) / 1000;
    // Drain: workers finish what was sent, within a bound.
    const drainDeadline = sentAt + DRAIN_SECONDS * 1000;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_SECONDS * 1000).unref());
    while (completed.size < sent.size && performance.now() < drainDeadline && errors.length === 0) {
      await Promise.race([new Promise<void>((resolve) => progressWaiters.push(resolve)), deadline]);
    }
    stopWorking = true;
    stopWorkers.abort();
    await Promise.all(working);
    clearInterval(sampler);
    await sample();
    const totalSeconds = (performance.now() - started) / 1000;

    // What the controller holds, as an admin reads it.
    const stored = (
      await Promise.all(
        roles.map((role) =>
          pages<{ task_id: string; status: string; data: { marker?: unknown }; result: { marker?: unknown } | null }>(
            `${controller.url}/tasks?target=${role}`,
            admin,
            (p) => (p.items.length === 200 ? p.next_cursor : null),
          ),
        ),
      )
    ).flat();
    const audit = async (action: string) => (await pages<unknown>(`${controller.url}/audit?action=${action}`, admin, (p) => p.next_cursor)).length;
    const [created, claimed, done] = await Promise.all([audit("task.created"), audit("task.claimed"), audit("task.completed")]);

    const byMarker = new Map<unknown, string[]>();
    for (const t of stored) byMarker.set(t.data.marker, [...(byMarker.get(t.data.marker) ?? []), t.task_id]);
    const duplicates = [...byMarker.values()].filter((ids) => ids.length > 1).length;
    const lost = [...sent].filter(([marker, id]) => !byMarker.get(marker)?.includes(id)).length;
    const unknown = [...byMarker.keys()].filter((m) => typeof m !== "string" || !sent.has(m)).length;
    const notCompleted = stored.filter((t) => t.status !== "completed").length;
    const wrongResult = stored.filter((t) => t.status === "completed" && t.result?.marker !== t.data.marker).length;

    // Memory: after a warm-up of a tenth of the run, the last third against the first third.
    const steady = samples.filter((s) => s.t >= SECONDS / 10 && s.t <= sendSeconds + 1);
    const third = Math.max(1, Math.floor(steady.length / 3));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const early = mean(steady.slice(0, third).map((s) => s.rssMiB));
    const late = mean(steady.slice(-third).map((s) => s.rssMiB));
    const growthMiB = Math.round((late - early) * 10) / 10;
    const growthPct = Math.round(((late - early) / early) * 1000) / 10;
    const flat = steady.length >= 3 ? growthMiB <= 25 || growthPct <= 15 : null;

    const summary = {
      seconds: { sending: Math.round(sendSeconds), total: Math.round(totalSeconds) },
      agents: { senders: SENDERS + MCP, workers: WORKERS + MCP, overMcp: 2 * MCP, roles: ROLES },
      database: DB,
      tasks: { sent: sent.size, sendsStarted, completed: completed.size, stored: stored.length, duplicates, lost, unknown, notCompleted, wrongResult },
      audit: { created, claimed, completed: done },
      throughput: {
        sentPerSecond: Math.round(sent.size / sendSeconds),
        completedPerSecond: Math.round(completed.size / sendSeconds),
        httpRequestsPerSecond: Math.round((samples.at(-1)!.requests - samples[0]!.requests) / totalSeconds),
      },
      latencyMs: Object.fromEntries(
        Object.entries(latencies).map(([op, xs]) => [op, { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: percentile(xs, 100) }]),
      ),
      claimRacesLost,
      errors: errors.length,
      memory: { samples: samples.length, firstThirdMiB: Math.round(early * 10) / 10, lastThirdMiB: Math.round(late * 10) / 10, growthMiB, growthPct, flat },
    };
    console.log(JSON.stringify(summary, null, 2));
    console.log(`controller RSS (t s: MiB): ${samples.map((s) => `${s.t}: ${s.rssMiB}`).join(", ")}`);
    const ok =
      errors.length === 0 &&
      duplicates === 0 &&
      lost === 0 &&
      unknown === 0 &&
      notCompleted === 0 &&
      wrongResult === 0 &&
      stored.length === sent.size &&
      created === stored.length &&
      claimed === stored.length &&
      done === stored.length &&
      flat !== false;
    console.log(ok ? "load: OK — no errors, nothing lost or duplicated, every task completed once, memory flat" : "load: FAILED — see the figures above");
    exitCode = ok ? 0 : 1;
  } finally {
    await Promise.all(mcpAgents.map((a) => a.close()));
    await controller.stop();
    await dropDb?.();
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(exitCode);
}

await main();
