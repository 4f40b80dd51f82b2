/**
 * send_task through a broken network: MCP servers (the compiled binary over real stdio,
 * driven by the official SDK client) talk to a real controller process through a proxy
 * that drops requests, drops answers after the controller committed, holds requests and
 * answers past the client's timeout, and answers 502/503 itself. Every call must end in
 * a success stored exactly once or a clear error; nothing may be stored that no call asked for.
 *
 * FAULTS_CALLS sets the number of calls of the main run (default 2000).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tempDir, tokenFor } from "../support/controller.ts";
import { startFaultProxy, seeded, weighted, type FaultProxy } from "./support/fault-proxy.ts";
import { createdAuditRows, envCount, figures, metric, reconcile, sendLoad, storedTasks } from "./support/ledger.ts";
import { alive, startControllerProcess, startMcpAgent, type ControllerProcess, type McpAgent } from "./support/processes.ts";

/** The heavy tests set their own time limit: the suite's --timeout is meant for ordinary tests. */
const HEAVY_TEST_MS = 180_000;
const CALLS = envCount("FAULTS_CALLS", 2000);
const SEED = envCount("FAULTS_SEED", Date.now() % 1_000_000_000);
const AGENTS = 4;
const CONCURRENCY = 12;
/** One attempt's timeout, and how long the proxy holds what it delays: past it. */
const TIMEOUT_SECS = 1;
const DELAY_MS = TIMEOUT_SECS * 1000 + 500;

let dataDir: string;
let controller: ControllerProcess;
let admin: string;
const proxies: FaultProxy[] = [];
const agents: McpAgent[] = [];
const run = crypto.randomUUID().slice(0, 8);

beforeAll(async () => {
  dataDir = tempDir("mesh-faults-");
  controller = await startControllerProcess({ dataDir });
  admin = await tokenFor(dataDir, "fault-auditor", ["admin"]);
  console.log(`fault proxy seed: FAULTS_SEED=${SEED}`);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await Promise.all(proxies.map((p) => p.close()));
  await controller?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function agentsThrough(proxy: FaultProxy, subject: string, n: number, retries: number) {
  const token = await tokenFor(dataDir, subject, ["sender"]);
  const started = await Promise.all(
    Array.from({ length: n }, () =>
      startMcpAgent({ CONTROLLER_URL: proxy.url, MESH_JWT_TOKEN: token, MESH_RETRY_COUNT: String(retries), MESH_TIMEOUT_SECS: String(TIMEOUT_SECS) }),
    ),
  );
  agents.push(...started);
  return started;
}

async function proxy(options: Parameters<typeof startFaultProxy>[0]) {
  const p = await startFaultProxy(options);
  proxies.push(p);
  return p;
}

test(
  `${CALLS} send_task calls through dropped requests, lost answers, delays and 5xx: each success stored once, nothing else`,
  async () => {
    const faults = weighted(
      { pass: 60, "drop-request": 8, "drop-response": 10, "delay-request": 3, "delay-response": 4, "503": 8, "502-after-commit": 7 },
      seeded(SEED),
    );
    const p = await proxy({ upstreamPort: controller.port, delayMs: DELAY_MS, choose: () => faults() });
    const subject = `sender-${run}`;
    const senders = await agentsThrough(p, subject, AGENTS, 6);
    const pids = senders.map((a) => a.pid);
    const target = `faults-${run}`;
    const replaysBefore = await metric(controller.url, "mesh_idempotent_replays_total");
    const started = performance.now();

    const calls = await sendLoad({ agents: senders, concurrency: CONCURRENCY, target, run: `main-${run}`, more: (n) => n < CALLS });
    const seconds = (performance.now() - started) / 1000;
    await p.idle(); // a request held by the proxy may still land: count only once it has
    const stored = await storedTasks(controller.url, admin, target);
    const verdict = reconcile(calls, stored);
    const replays = (await metric(controller.url, "mesh_idempotent_replays_total")) - replaysBefore;
    console.log(
      "faults through the proxy:",
      JSON.stringify({
        ...figures(verdict),
        seconds: Math.round(seconds),
        attempts: Object.values(p.counts).reduce((a, b) => a + b, 0),
        reachedController: p.forwarded(),
        replays,
        faults: p.counts,
      }),
    );

    expect(verdict.calls).toBe(CALLS);
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.lost).toEqual([]);
    expect(verdict.mismatched).toEqual([]);
    expect(verdict.ghosts).toEqual([]);
    expect(verdict.unclear).toEqual([]);
    // Most calls get through their retries; what did not said so, and is stored at most once.
    expect(verdict.succeeded).toBeGreaterThan(CALLS * 0.9);
    expect(verdict.stored).toBe(verdict.succeeded + verdict.failedButStored);
    // Every task has its one audit row: nothing half-written.
    expect(await createdAuditRows(controller.url, admin, subject)).toBe(stored.length);
    // Every kind of fault happened, and answers lost after a commit were replayed, not redone.
    for (const [fault, n] of Object.entries(p.counts)) expect({ fault, seen: n > 0 }).toEqual({ fault, seen: true });
    expect(replays).toBeGreaterThan(0);
    // The MCP servers lived through it all, and never wrote anything but frames to stdout.
    expect(senders.map((a) => a.pid)).toEqual(pids);
    for (const a of senders) {
      expect(alive(a.pid)).toBe(true);
      expect(a.closedEarly()).toBe(false);
      expect(a.transportErrors).toEqual([]);
    }
  },
  HEAVY_TEST_MS,
);

test(
  "a call that runs out of retries says so, names its idempotency key, and is stored at most once",
  async () => {
    // Every attempt fails: half after the controller committed, half before it saw anything.
    const faults = weighted({ "drop-response": 1, "502-after-commit": 1, "drop-request": 1, "503": 1 }, seeded(SEED + 1));
    const p = await proxy({ upstreamPort: controller.port, delayMs: DELAY_MS, choose: () => faults() });
    const [agent] = await agentsThrough(p, `giving-up-${run}`, 1, 1);
    const target = `give-up-${run}`;
    const calls = await sendLoad({ agents: [agent!], concurrency: 20, target, run: `giveup-${run}`, more: (n) => n < 200 });
    await p.idle();
    const verdict = reconcile(calls, await storedTasks(controller.url, admin, target));
    console.log("calls that gave up:", JSON.stringify(figures(verdict)));
    expect(verdict.succeeded).toBe(0);
    expect(verdict.unclear).toEqual([]);
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.ghosts).toEqual([]);
    for (const c of calls) {
      expect(c.text).toContain("Gave up after 2 attempts.");
      expect(c.text).toMatch(/Idempotency key: [0-9a-f-]{36}/);
    }
    // Some had their work done (the answer was lost), so the key in the text matters.
    expect(verdict.failedButStored).toBeGreaterThan(0);
  },
  HEAVY_TEST_MS,
);

test(
  "the checks have teeth: a client that makes a new Idempotency-Key per attempt is caught duplicating",
  async () => {
    // The proxy gives every attempt a fresh key, as a broken client would; answers are lost after commit.
    const faults = weighted({ pass: 2, "drop-response": 1 }, seeded(SEED + 2));
    const p = await proxy({ upstreamPort: controller.port, delayMs: DELAY_MS, rekey: true, choose: () => faults() });
    const broken = await agentsThrough(p, `rekeyed-${run}`, 1, 6);
    const target = `rekeyed-${run}`;
    const calls = await sendLoad({ agents: broken, concurrency: 10, target, run: `rekey-${run}`, more: (n) => n < 200 });
    await p.idle();
    const verdict = reconcile(calls, await storedTasks(controller.url, admin, target));
    console.log("broken client (fresh key per attempt):", JSON.stringify(figures(verdict)));
    expect(verdict.duplicates.length).toBeGreaterThan(0);
    expect(verdict.stored).toBeGreaterThan(verdict.succeeded);
  },
  HEAVY_TEST_MS,
);
