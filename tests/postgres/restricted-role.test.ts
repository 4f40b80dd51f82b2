/**
 * The setup docs/postgres.md describes: once the owner has migrated, controllers may run
 * as a role with only CONNECT and SELECT, INSERT, UPDATE, DELETE on the tables.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { NO_CLOCKS } from "../store/engines.ts";
import type { Task } from "../../src/contract/schemas.ts";
import { PostgresStore } from "../../src/controller/store/postgres.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

let db: TestDatabase;
const role = `mesh_app_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

beforeAll(async () => {
  db = await createTestDatabase();
  await (await PostgresStore.open(db.url(), { poolSize: 2 })).close(); // the owner migrates
  await db.sql.unsafe(`CREATE ROLE ${role} LOGIN`);
  await db.sql.unsafe(`GRANT CONNECT ON DATABASE ${db.name} TO ${role}`);
  await db.sql.unsafe(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
});

afterAll(async () => {
  await db.drop();
  await db.sql.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
});

test("a role with only the documented table grants writes tasks and reads them by position", async () => {
  const url = new URL(db.url());
  url.username = role;
  const store = await PostgresStore.open(url.href, { poolSize: 2 });
  try {
    const now = new Date().toISOString();
    const task: Task = {
      ...{ task_id: crypto.randomUUID(), target: "worker", source: "alice", task_type: "review", description: null, data: {}, context: {} },
      ...{ priority: "normal", status: "pending", claimed_by: null, result: null, error: null, created_at: now, updated_at: now, version: 1 },
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      ...NO_CLOCKS,
      parent_task_id: null,
    };
    await store.transaction(async (tx) => {
      await tx.insertTask(task);
      await tx.appendAudit(
        {
          at: now,
          actor: "alice",
          action: "task.created",
          task_id: task.task_id,
          approval_id: null,
          from_status: null,
          to_status: "pending",
          trace_id: task.trace_id,
        },
        { target: "worker", source: "alice", approver_role: null, parent_task_id: null },
      );
    });
    expect((await store.listTasks({ targets: ["worker"], order: "asc", limit: 10 })).map((t) => t.task_id)).toEqual([task.task_id]);
    expect((await store.changesSince(0, 10)).map((c) => c.task_id)).toEqual([task.task_id]);
  } finally {
    await store.close();
  }
});
