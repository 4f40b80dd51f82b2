/**
 * `bun bench/largest-task.ts`: the largest answer `GET /tasks/{id}` can give, and the
 * controller's resident memory while 8 readers fetch it at once (issue 13, item 3).
 * The task is made as large as the limits allow: data and result each fill a body,
 * every text field is at its length limit in characters JSON escapes to 6 bytes, and
 * it gathers more approvals and history than its detail shows. Runs the compiled binary
 * (`npm run build` first) on SQLite, or with BENCH_POSTGRES=1 on a throwaway PostgreSQL
 * database; takes about half a minute.
 */
import { rmSync } from "node:fs";
import { createTestDatabase } from "../tests/postgres/database.ts";
import { spawnController, tempDir, tokenFor } from "../tests/support/controller.ts";
import { LIMITS } from "../src/contract/schemas.ts";
import { rssBytes } from "./lib/processes.ts";

const READERS = 8;
const READS_PER_READER = 25;
const MiB = 1024 * 1024;

/** Text at the length limit that JSON writes 6 bytes per character (\u0001). */
const widest = "\u0001".repeat(LIMITS.textLength);
/** A JSON object whose request body stays just under the body limit. */
const filling = (room: number) => ({ blob: "x".repeat(room) });

const dataDir = tempDir("mesh-largest-");
const postgres = process.env.BENCH_POSTGRES === "1" ? await createTestDatabase() : null;
const controller = await spawnController(["--data-dir", dataDir, ...(postgres ? ["--db", postgres.url()] : [])]);
const pid = controller.proc.pid;
try {
  const [alice, worker, lead] = await Promise.all([
    tokenFor(dataDir, "alice", []),
    tokenFor(dataDir, "wendy", ["worker"]),
    tokenFor(dataDir, "lena", ["lead"]),
  ]);
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${controller.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "idempotency-key": crypto.randomUUID() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };

  const { task_id } = await call(alice, "POST", "/tasks/route", {
    target: "worker",
    task: { task_type: "big", description: widest, data: filling(LIMITS.bodyBytes - 6 * LIMITS.textLength - 101_000) },
    context: filling(100_000),
  });
  await call(worker, "POST", `/tasks/${task_id}/claim`, {});
  // Asked and decided in rounds, as the open-approval limit allows, until the detail is full and then some.
  let asked = 0;
  while (asked < LIMITS.detailApprovals * 2) {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++, asked++)
      ids.push((await call(alice, "POST", "/approvals", { task_id, approver_role: "lead", reason: widest, comments: widest })).approval_id);
    for (const id of ids) await call(lead, "POST", `/approvals/${id}/decision`, { decision: "approved", comments: widest });
  }
  await call(worker, "POST", `/tasks/${task_id}/complete`, { attempt: 1, result: filling(LIMITS.bodyBytes - 100) });

  const answer = await fetch(`${controller.url}/tasks/${task_id}`, { headers: { authorization: `Bearer ${alice}` } });
  const bytes = (await answer.arrayBuffer()).byteLength;

  Bun.gc(true);
  await Bun.sleep(500);
  const idle = rssBytes(pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: READERS }, async () => {
      for (let i = 0; i < READS_PER_READER; i++) {
        const res = await fetch(`${controller.url}/tasks/${task_id}`, { headers: { authorization: `Bearer ${alice}` } });
        await res.arrayBuffer();
      }
    }),
  );
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      engine: postgres ? "postgres" : "sqlite",
      approvals_on_task: asked,
      detail_bytes: bytes,
      detail_mib: +(bytes / MiB).toFixed(2),
      readers: READERS,
      reads: READERS * READS_PER_READER,
      seconds: +seconds.toFixed(1),
      rss_before_mib: +(idle / MiB).toFixed(1),
      rss_peak_mib: +(peak / MiB).toFixed(1),
    }),
  );
} finally {
  await controller.stop();
  await postgres?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
