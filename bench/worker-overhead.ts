/**
 * The worker's overhead per task, beside the controller's own round trip: a worker
 * (the compiled binary, concurrency 1) runs a command that prints a JSON line and exits,
 * for BENCH_WORKER_TASKS tasks (default 100), and its logs say how long each task took from
 * the claim's answer to the process running, and from its exit to `complete` answered.
 * Beside them: the controller alone, claim and complete called over loopback HTTP.
 * `bun run build && bun bench/worker-overhead.ts`
 */
import { join } from "node:path";
import { BINARY, startTestController, tempDir } from "../tests/support/controller.ts";
import { summarize } from "./lib/stats.ts";

const TASKS = Number(process.env.BENCH_WORKER_TASKS ?? 100);
const c = await startTestController();
const alice = await c.token("alice", ["dev"]);
const route = async (target: string) =>
  (await c.api(alice, "POST", "/tasks/route", { target, task: { task_type: "bench" } }, { "idempotency-key": crypto.randomUUID() })).body.task_id as string;

// The controller alone: claim, then complete, each one HTTP round trip.
const direct = await c.token("direct", ["direct"]);
const claims: number[] = [];
const completes: number[] = [];
for (let i = 0; i < TASKS; i++) {
  const id = await route("direct");
  let t = performance.now();
  const claimed = await c.api(direct, "POST", `/tasks/${id}/claim`, {});
  claims.push(performance.now() - t);
  t = performance.now();
  await c.api(direct, "POST", `/tasks/${id}/complete`, { attempt: claimed.body.attempt, result: { ok: true } });
  completes.push(performance.now() - t);
}

// The worker: the same tasks through `agent-mesh worker -- sh -c 'echo {...}'`.
for (let i = 0; i < TASKS; i++) await route("bench");
const proc = Bun.spawn([BINARY, "worker", "--role", "bench", "--data-dir", join(tempDir(), "w"), "--", "/bin/sh", "-c", "echo '{\"ok\":true}'"], {
  stdout: "ignore",
  stderr: "pipe",
  env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: c.url.replace(/\/$/, ""), MESH_JWT_TOKEN: await c.token("worker", ["bench"]) },
});
let log = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  log += decoder.decode(chunk, { stream: true });
  if ((log.match(/"task completed"/g)?.length ?? 0) >= TASKS) break;
}
proc.kill("SIGTERM");
await proc.exited;
await c.stop();

const field = (name: string) => [...log.matchAll(new RegExp(`"${name}":([\\d.]+)`, "g"))].map((m) => Number(m[1]));
const show = (what: string, xs: number[]) => {
  const s = summarize(xs);
  console.log(`${what.padEnd(44)} p50 ${s.p50.toFixed(2)} ms  p95 ${s.p95.toFixed(2)} ms  (n=${xs.length})`);
};
show("worker: claim answered → process started", field("claim_to_start_ms"));
show("worker: process exited → complete answered", field("exit_to_report_ms"));
show("controller alone: claim round trip", claims);
show("controller alone: complete round trip", completes);
