/**
 * The live side with many waiters, on a real SQLite store: a change reaches the waiters
 * after the unit of work that made it has its answer, and waiters woken together that
 * ask the same thing share one read.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Task } from "../../src/contract/schemas.ts";
import { Live } from "../../src/controller/live.ts";
import { callerOf } from "../../src/controller/policy.ts";
import { SqliteStore } from "../../src/controller/store/sqlite.ts";
import { tempDir } from "../support/controller.ts";

const store = new SqliteStore(join(tempDir("mesh-live-"), "mesh.db"));
afterAll(() => store.close());

function newTask(target: string): Task {
  const now = new Date().toISOString();
  return {
    task_id: crypto.randomUUID(),
    target,
    source: "alice",
    task_type: "review",
    description: null,
    data: {},
    context: {},
    priority: "normal",
    status: "pending",
    claimed_by: null,
    result: null,
    error: null,
    created_at: now,
    updated_at: now,
    version: 1,
    trace_id: "0af7651916cd43dd8448eb211c80319c",
  };
}

test("waiters woken together that ask the same thing share one read, begun after the committer has its answer", async () => {
  const live = new Live(store, { maxWaitsPerCaller: 100 });
  const ctx = { caller: callerOf("bob", ["inbox"], "admin"), traceId: "t" };
  const happened: string[] = [];
  const read = async () => {
    happened.push("read");
    return store.listTasks({ targets: ["inbox"], order: "asc", limit: 10 });
  };
  const waiting = Array.from({ length: 20 }, () => live.readOrWait(ctx, 10, read, (c) => c.target === "inbox", "the inbox"));
  await Bun.sleep(10); // each has made its first reads and waits
  happened.length = 0;

  const task = newTask("inbox");
  await store.transaction(async (tx) => {
    await tx.insertTask(task);
    await tx.appendAudit(
      {
        at: task.created_at,
        actor: "alice",
        action: "task.created",
        task_id: task.task_id,
        approval_id: null,
        from_status: null,
        to_status: "pending",
        trace_id: task.trace_id,
      },
      { target: task.target, source: task.source, approver_role: null },
    );
  });
  happened.push("committed");

  const found = await Promise.all(waiting);
  expect(found.map((rows) => rows.map((t) => t.task_id))).toEqual(Array.from({ length: 20 }, () => [task.task_id]));
  expect(happened).toEqual(["committed", "read"]);
});
