import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string;
let admin: string;
beforeAll(async () => {
  c = await startTestController({ MESH_IDEMPOTENCY_TTL: "2s" });
  alice = await c.token("alice", []);
  admin = await c.token("root", ["admin"]);
});
afterAll(() => c.stop());

const body = { target: "worker", task: { task_type: "review", data: { a: 1, b: [1, 2] } } };
const route = (token: string, key: string, b: unknown = body) => c.api(token, "POST", "/tasks/route", b, { "idempotency-key": key });
const tasksCreatedBy = async (sub: string) =>
  (await c.api(admin, "GET", `/audit?actor=${sub}&action=task.created&limit=200`)).body.items.length as number;

test("same key, same body: the first answer again and no second task", async () => {
  const first = await route(alice, "same-1");
  const again = await route(alice, "same-1");
  // key order in the body does not make it a different request
  const reordered = await route(alice, "same-1", { task: { data: { b: [1, 2], a: 1 }, task_type: "review" }, target: "worker" });
  expect(first.status).toBe(202);
  expect(again.status).toBe(202);
  expect(again.body).toEqual(first.body);
  expect(reordered.body).toEqual(first.body);
  expect(await tasksCreatedBy("alice")).toBe(1);
});

test("same key, another body: 422 and nothing written", async () => {
  await route(alice, "diff-1");
  const before = await tasksCreatedBy("alice");
  const other = await route(alice, "diff-1", { ...body, target: "someone-else" });
  expect(other.status).toBe(422);
  expect(other.body.type).toBe("urn:agent-mesh:problem:idempotency-mismatch");
  expect(await tasksCreatedBy("alice")).toBe(before);
});

test("keys are scoped to the caller: another caller's same key makes its own task", async () => {
  const bob = await c.token("bob", []);
  const a = await route(alice, "shared-key");
  const b = await route(bob, "shared-key");
  expect(b.status).toBe(202);
  expect(b.body.task_id).not.toBe(a.body.task_id);
});

test("concurrent requests with one key make one task", async () => {
  const dave = await c.token("dave", []);
  const answers = await Promise.all(Array.from({ length: 25 }, () => route(dave, "burst")));
  expect(answers.every((r) => r.status === 202)).toBe(true);
  expect(new Set(answers.map((r) => r.body.task_id)).size).toBe(1);
  expect(await tasksCreatedBy("dave")).toBe(1);
});

test("a key can be used again once it has expired", async () => {
  const erin = await c.token("erin", []);
  const first = await route(erin, "expiring");
  await Bun.sleep(2100); // MESH_IDEMPOTENCY_TTL is 2s here
  const later = await route(erin, "expiring");
  expect(later.status).toBe(202);
  expect(later.body.task_id).not.toBe(first.body.task_id);
});

test("a retried completion replays its success instead of a 409", async () => {
  const worker = await c.token("wendy", ["worker"]);
  const { task_id } = (await route(alice, "for-complete")).body;
  await c.api(worker, "POST", `/tasks/${task_id}/claim`, {});
  const complete = (key: string) => c.api(worker, "POST", `/tasks/${task_id}/complete`, { result: { n: 1 } }, { "idempotency-key": key });
  const first = await complete("done-1");
  const retry = await complete("done-1");
  expect(first.status).toBe(200);
  expect(retry.status).toBe(200);
  expect(retry.body).toEqual(first.body);
  expect((await complete("done-2")).status).toBe(409);
});

test("an approval request is idempotent too", async () => {
  const { task_id } = (await route(alice, "for-approval")).body;
  const ask = () => c.api(alice, "POST", "/approvals", { task_id, approver_role: "manager", reason: "r" }, { "idempotency-key": "ap-1" });
  const [a, b] = await Promise.all([ask(), ask()]);
  expect(a.body.approval_id).toBe(b.body.approval_id);
  const task = await c.api(alice, "GET", `/tasks/${task_id}`);
  expect(task.body.approvals).toHaveLength(1);
});

test("a malformed key is a 400", async () => {
  const res = await route(alice, "x".repeat(300));
  expect(res.status).toBe(400);
});
