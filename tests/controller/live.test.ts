/**
 * The live side with many waiters, through the real service and a real SQLite store
 * (whose reads the test counts): a change reaches the waiters after the unit of work
 * that made it has its answer, and waiters woken together that ask the same thing share one read.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { TaskFilter } from "../../src/controller/store/store.ts";
import { MeshService } from "../../src/controller/service.ts";
import { controllerSettings, serviceOptionsOf } from "../../src/controller/settings.ts";
import { SqliteStore } from "../../src/controller/store/sqlite.ts";
import { loadSettings } from "../../src/lib/settings.ts";
import { tempDir } from "../support/controller.ts";

const happened: string[] = [];

class CountedReads extends SqliteStore {
  override listTasks(filter: TaskFilter) {
    happened.push("read");
    return super.listTasks(filter);
  }
}

const dir = tempDir("mesh-live-");
const store = new CountedReads(join(dir, "mesh.db"));
const service = new MeshService(store, serviceOptionsOf(loadSettings(controllerSettings, [], { MESH_DATA_DIR: dir, MESH_MAX_WAITS_PER_CALLER: "100" })));
afterAll(() => store.close());

const context = (subject: string, roles: string[]) => ({
  caller: { subject, roles: new Set(roles), isAdmin: false },
  traceId: crypto.randomUUID().replaceAll("-", ""),
});

test("waiters woken together that ask the same thing share one read, begun after the committer has its answer", async () => {
  const waiting = Array.from({ length: 20 }, () => service.listTasks(context("bob", ["inbox"]), { target: "inbox", wait: 10 }));
  await Bun.sleep(10); // each has made its first reads and waits
  happened.length = 0;

  const { task_id } = await service.routeTask(context("alice", []), { target: "inbox", task: { task_type: "review" } });
  happened.push("committed");

  const pages = await Promise.all(waiting);
  expect(pages.map((page) => page.items.map((t) => t.task_id))).toEqual(Array.from({ length: 20 }, () => [task_id]));
  expect(happened).toEqual(["committed", "read"]);
});
