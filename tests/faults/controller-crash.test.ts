/**
 * The controller process dies, stops or hangs under a send_task load from MCP servers
 * (the compiled binary over real stdio, driven by the official SDK client):
 * - kill -9 twice in the middle of the load, restarted on the same data folder and port:
 *   every answered call is stored, calls in flight retry through the outage to exactly
 *   one task, and the MCP server processes live on without a restart;
 * - down for a while: calls fail clearly within their retry budget and work again when it is back;
 * - hung (SIGSTOP): calls time out clearly, naming their key; the requests that reached it
 *   are carried out once it runs again, each at most once.
 *
 * A client that made a new Idempotency-Key per attempt is caught here by the hung-controller
 * test (and by proxy.test.ts and postgres.test.ts); a kill -9 seldom lands between a commit
 * and its answer, so the kill test is chiefly about durability and riding out restarts.
 *
 * FAULTS_KILL_CALLS sets the number of calls of the kill -9 run (default 1000).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tempDir, tokenFor } from "../support/controller.ts";
import { until } from "../postgres/cluster.ts";
import { createdAuditRows, envCount, figures, isClearFailure, metric, reconcile, sendLoad, storedTasks, type Sent } from "./support/ledger.ts";
import { alive, freePort, startControllerProcess, startMcpAgent, type ControllerProcess, type McpAgent } from "./support/processes.ts";

/** The heavy tests set their own time limit: the suite's --timeout is meant for ordinary tests. */
const HEAVY_TEST_MS = 180_000;
const CALLS = envCount("FAULTS_KILL_CALLS", 1000);
const run = crypto.randomUUID().slice(0, 8);

let dataDir: string;
let port: number;
let controller: ControllerProcess;
let admin: string;
/** Patient agents: ten retries, enough to ride out a restart. */
let patient: McpAgent[] = [];
/** Impatient agents: two retries, for seeing a call give up. */
let impatient: McpAgent[] = [];
let pids: number[];

const restart = async () => {
  controller = await startControllerProcess({ dataDir, port });
};

beforeAll(async () => {
  dataDir = tempDir("mesh-crash-");
  port = await freePort();
  await restart();
  admin = await tokenFor(dataDir, "crash-auditor", ["admin"]);
  const url = `http://127.0.0.1:${port}`;
  const token = await tokenFor(dataDir, `crash-sender-${run}`, ["sender"]);
  const hasty = await tokenFor(dataDir, `hasty-sender-${run}`, ["sender"]);
  [patient, impatient] = await Promise.all([
    Promise.all(Array.from({ length: 4 }, () => startMcpAgent({ CONTROLLER_URL: url, MESH_JWT_TOKEN: token, MESH_RETRY_COUNT: "10", MESH_TIMEOUT_SECS: "2" }))),
    Promise.all(Array.from({ length: 2 }, () => startMcpAgent({ CONTROLLER_URL: url, MESH_JWT_TOKEN: hasty, MESH_RETRY_COUNT: "2", MESH_TIMEOUT_SECS: "1" }))),
  ]);
  pids = [...patient, ...impatient].map((a) => a.pid);
});

afterAll(async () => {
  await Promise.all([...patient, ...impatient].map((a) => a.close()));
  controller?.proc.kill("SIGCONT");
  await controller?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The MCP servers are the same processes as at the start, alive, and wrote only frames. */
function agentsLiveOn() {
  const all = [...patient, ...impatient];
  expect(all.map((a) => a.pid)).toEqual(pids);
  for (const a of all) {
    expect(alive(a.pid)).toBe(true);
    expect(a.closedEarly()).toBe(false);
    expect(a.transportErrors).toEqual([]);
  }
}

const send = (agent: McpAgent, target: string, marker: string) => sendLoad({ agents: [agent], concurrency: 1, target, run: marker, more: (n) => n < 1 });

test(
  `kill -9 twice during ${CALLS} send_task calls: answered calls are stored, retried ones once, MCP servers live on`,
  async () => {
    const target = `crash-${run}`;
    const killAt = [Math.floor(CALLS * 0.25), Math.floor(CALLS * 0.6)];
    const outages: { killedAt: number; backAt: number }[] = [];
    let acked = 0;
    let crash: Promise<void> | null = null;
    const crashed: Promise<void>[] = [];
    const calls = await sendLoad({
      agents: patient,
      concurrency: 10,
      target,
      run: `crash-${run}`,
      more: (n) => n < CALLS,
      onDone(s) {
        if (s.ok) acked++;
        if (!crash && outages.length < killAt.length && acked >= killAt[outages.length]!) {
          const outage = { killedAt: performance.now(), backAt: Infinity };
          outages.push(outage);
          crash = (async () => {
            await controller.kill9();
            await restart();
            outage.backAt = performance.now();
          })().finally(() => (crash = null));
          crashed.push(crash);
        }
      },
    });
    await Promise.all(crashed);
    expect(outages).toHaveLength(2);

    const stored = await storedTasks(controller.url, admin, target);
    const verdict = reconcile(calls, stored);
    const across = (s: Sent) => outages.some((o) => s.startedAt < o.killedAt && s.endedAt > o.backAt);
    const retriedThrough = calls.filter(across);
    console.log(
      "kill -9 under load:",
      JSON.stringify({
        ...figures(verdict),
        kills: outages.length,
        outageMs: outages.map((o) => Math.round(o.backAt - o.killedAt)),
        retriedThroughOutage: retriedThrough.length,
      }),
    );
    expect(verdict.calls).toBe(CALLS);
    expect(verdict.failed).toBe(0);
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.lost).toEqual([]);
    expect(verdict.mismatched).toEqual([]);
    expect(verdict.ghosts).toEqual([]);
    expect(verdict.stored).toBe(CALLS);
    // Calls that were in flight when the controller died finished after it came back, each once.
    expect(retriedThrough.length).toBeGreaterThan(0);
    expect(retriedThrough.every((s) => s.ok)).toBe(true);
    expect(await createdAuditRows(controller.url, admin, `crash-sender-${run}`)).toBe(CALLS);
    agentsLiveOn();
  },
  HEAVY_TEST_MS,
);

test(
  "controller down for a while: calls fail clearly within their retry budget, and work again once it is back",
  async () => {
    const target = `down-${run}`;
    await controller.kill9();

    // Patient calls start now and keep retrying through the outage.
    const riding = sendLoad({ agents: patient, concurrency: 2, target, run: `ride-${run}`, more: (n) => n < 8 });

    const started = performance.now();
    const refused = await sendLoad({ agents: impatient, concurrency: 5, target, run: `refused-${run}`, more: (n) => n < 10 });
    const elapsed = performance.now() - started;
    // Two retries: backoff at most 0.5 s + 1 s, and a refused connection fails at once.
    expect(elapsed).toBeLessThan(5_000);
    for (const c of refused) {
      expect(c.ok).toBe(false);
      expect(isClearFailure(c)).toBe(true);
      expect(c.text).toStartWith(`Could not reach the controller at http://127.0.0.1:${port}`);
      expect(c.text).toContain("Gave up after 3 attempts.");
    }

    await restart();
    const rode = await riding;
    const after = await Promise.all(impatient.map((a, i) => send(a, target, `back-${i}-${run}`)));
    const verdict = reconcile([...refused, ...rode, ...after.flat()], await storedTasks(controller.url, admin, target));
    console.log("controller down:", JSON.stringify({ ...figures(verdict), failFastMs: Math.round(elapsed) }));
    expect(rode.every((c) => c.ok)).toBe(true);
    expect(after.flat().every((c) => c.ok)).toBe(true);
    // Refused connections reached nothing: none of those calls is stored.
    expect(verdict.failedButStored).toBe(0);
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.lost).toEqual([]);
    expect(verdict.ghosts).toEqual([]);
    agentsLiveOn();
  },
  HEAVY_TEST_MS,
);

test(
  "controller hung (SIGSTOP): calls time out clearly naming their key; what reached it is done at most once after SIGCONT",
  async () => {
    const target = `hung-${run}`;
    const routed = () => metric(controller.url, "mesh_http_requests_total", { route: "/tasks/route" });
    const before = await routed();
    controller.proc.kill("SIGSTOP");
    const started = performance.now();
    const timedOut = await sendLoad({ agents: impatient, concurrency: 5, target, run: `hung-${run}`, more: (n) => n < 10 });
    const elapsed = performance.now() - started;
    // Three attempts of 1 s each and at most 1.5 s of backoff.
    expect(elapsed).toBeLessThan(8_000);
    for (const c of timedOut) {
      expect(c.ok).toBe(false);
      expect(isClearFailure(c)).toBe(true);
      expect(c.text).toContain("did not answer in time");
      expect(c.text).toContain("Gave up after 3 attempts.");
      expect(c.text).toMatch(/Idempotency key: [0-9a-f-]{36}/);
    }
    controller.proc.kill("SIGCONT");
    // Every attempt sat in the controller's socket queue; once it runs, it answers them all (to no one).
    await until(async () => (await routed()) - before >= timedOut.length * 3, "the controller has handled the queued attempts");

    const after = await Promise.all(impatient.map((a, i) => send(a, target, `unhung-${i}-${run}`)));
    const verdict = reconcile([...timedOut, ...after.flat()], await storedTasks(controller.url, admin, target));
    console.log("controller hung:", JSON.stringify({ ...figures(verdict), timeoutMs: Math.round(elapsed) }));
    expect(after.flat().every((c) => c.ok)).toBe(true);
    // Three attempts with one key each: a timed-out call is carried out at most once.
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.ghosts).toEqual([]);
    expect(verdict.lost).toEqual([]);
    agentsLiveOn();
  },
  HEAVY_TEST_MS,
);
