/**
 * A field the contract does not know is refused and named, over HTTP and over MCP:
 * never dropped on the way, so nothing is stored other than what was sent.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Agent } from "./support/agent.ts";
import { startMesh, type Mesh } from "./support/mesh.ts";

let mesh: Mesh;
let alice: Agent;
let token: string;
beforeAll(async () => {
  mesh = await startMesh();
  alice = await mesh.agent("alice", ["dev"]);
  token = await mesh.controller.token("alice", ["dev"]);
});
afterAll(() => mesh.stop());

test("POST /tasks/route refuses an unknown field inside task with a 422 naming it, and stores nothing", async () => {
  const before = (await mesh.allTasks()).length;
  const r = await mesh.controller.api(
    token,
    "POST",
    "/tasks/route",
    { target: "reviewer", task: { task_type: "review", priority: "high" } },
    { "idempotency-key": crypto.randomUUID() },
  );
  expect(r.status).toBe(422);
  expect(r.body.errors).toEqual([expect.objectContaining({ field: "task.priority" })]);
  expect((await mesh.allTasks()).length).toBe(before);
});

test("a tool refuses an argument it does not take, naming it, instead of dropping it", async () => {
  const before = (await mesh.allTasks()).length;
  const r = await alice.call("send_task", { target: "reviewer", task: { task_type: "review" }, priority: "high" });
  expect(r.isError).toBe(true);
  expect(r.text).toContain("priority");
  expect((await mesh.allTasks()).length).toBe(before);
});
