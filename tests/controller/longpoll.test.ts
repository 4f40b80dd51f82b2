import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string;
let bob: string;
beforeAll(async () => {
  c = await startTestController({ MESH_MAX_WAITS_PER_CALLER: "3" });
  alice = await c.token("alice", []);
  bob = await c.token("bob", ["poller", "quiet"]);
});
afterAll(() => c.stop());

let n = 0;
const send = (target = "poller") => c.api(alice, "POST", "/tasks/route", { target, task: { task_type: "t" } }, { "idempotency-key": `lp-${++n}` });

test("an inbox long-poll answers as soon as a task arrives, not at its deadline", async () => {
  const started = performance.now();
  const waiting = c.api(bob, "GET", "/tasks?target=poller&status=pending&wait=20");
  await Bun.sleep(200);
  const sent = await send();
  const res = await waiting;
  const elapsed = performance.now() - started;
  expect(res.status).toBe(200);
  expect(res.body.items.map((t: any) => t.task_id)).toEqual([sent.body.task_id]);
  expect(elapsed).toBeLessThan(5000);
  await c.api(bob, "POST", `/tasks/${sent.body.task_id}/claim`, {});
});

test("an empty inbox waits out the time and answers an empty page", async () => {
  const started = performance.now();
  const res = await c.api(bob, "GET", "/tasks?target=poller&status=pending&wait=1");
  expect(res.status).toBe(200);
  expect(res.body.items).toEqual([]);
  expect(performance.now() - started).toBeGreaterThanOrEqual(950);
});

test("a task long-poll answers when that task changes", async () => {
  const { task_id } = (await send()).body;
  const waiting = c.api(alice, "GET", `/tasks/${task_id}?wait=20`);
  await Bun.sleep(200);
  await c.api(bob, "POST", `/tasks/${task_id}/claim`, {});
  const res = await waiting;
  expect(res.body).toMatchObject({ status: "claimed", version: 2 });
});

test("after_version answers at once when the task has already moved on", async () => {
  const { task_id } = (await send()).body;
  await c.api(bob, "POST", `/tasks/${task_id}/claim`, {});
  const started = performance.now();
  const res = await c.api(alice, "GET", `/tasks/${task_id}?wait=20&after_version=1`);
  expect(res.body.version).toBe(2);
  expect(performance.now() - started).toBeLessThan(2000);
});

test("an approval decision wakes a waiting requester", async () => {
  const mia = await c.token("mia", ["manager"]);
  const { task_id } = (await send()).body;
  const { approval_id } = (await c.api(alice, "POST", "/approvals", { task_id, approver_role: "manager", reason: "r" })).body;
  const { version } = (await c.api(alice, "GET", `/tasks/${task_id}`)).body;
  const waiting = c.api(alice, "GET", `/tasks/${task_id}?wait=20&after_version=${version}`);
  const pending = await c.api(mia, "GET", "/approvals?wait=5");
  expect(pending.body.items.map((a: any) => a.approval_id)).toContain(approval_id);
  await c.api(mia, "POST", `/approvals/${approval_id}/decision`, { decision: "approved" });
  const res = await waiting;
  expect(res.body.approvals[0].status).toBe("approved");
});

test("an approval long-poll answers with the decision once it is made, and with the pending approval when time runs out", async () => {
  const mia = await c.token("mia", ["manager"]);
  const { task_id } = (await send()).body;
  const { approval_id } = (await c.api(alice, "POST", "/approvals", { task_id, approver_role: "manager", reason: "r" })).body;
  const timedOut = await c.api(alice, "GET", `/approvals/${approval_id}?wait=1`);
  expect(timedOut.body.status).toBe("pending");
  const started = performance.now();
  const waiting = c.api(alice, "GET", `/approvals/${approval_id}?wait=20`);
  await Bun.sleep(200);
  await c.api(mia, "POST", `/approvals/${approval_id}/decision`, { decision: "rejected", comments: "not now" });
  const res = await waiting;
  expect(res.body).toMatchObject({ status: "rejected", decided_by: "mia", comments: "not now" });
  expect(performance.now() - started).toBeLessThan(5000);
  // Decided already: it answers at once.
  expect((await c.api(alice, "GET", `/approvals/${approval_id}?wait=20`)).body.status).toBe("rejected");
});

test("a change another caller may not see does not answer the poll", async () => {
  const waiting = c.api(bob, "GET", "/tasks?target=quiet&status=pending&wait=1");
  await send("elsewhere");
  const res = await waiting;
  expect(res.body.items).toEqual([]);
});

test("too many long-polls from one caller: 429", async () => {
  const polls = Array.from({ length: 3 }, () => c.api(bob, "GET", "/tasks?target=nobody&wait=2"));
  await Bun.sleep(200);
  const extra = await c.api(bob, "GET", "/tasks?target=nobody&wait=2");
  expect(extra.status).toBe(429);
  expect(extra.headers.get("retry-after")).toBe("1");
  await Promise.all(polls);
  expect((await c.api(bob, "GET", "/tasks?target=nobody&wait=0")).status).toBe(200);
});

test("wait beyond the limit is a 422 naming wait", async () => {
  const res = await c.api(bob, "GET", "/tasks?wait=61");
  expect(res.status).toBe(422);
  expect(res.body.errors[0].field).toBe("wait");
});

test("holders of a role waiting on its inbox together each get the new task; someone without the role waiting on the same query sees only their own", async () => {
  const carol = await c.token("carol", ["shared-inbox"]);
  const dave = await c.token("dave", ["shared-inbox"]);
  const query = "/tasks?target=shared-inbox&status=pending&wait=20";
  const [carols, daves, alices] = [c.api(carol, "GET", query), c.api(dave, "GET", query), c.api(alice, "GET", `${query.replace("20", "2")}`)];
  await Bun.sleep(200);
  const sent = await c.api(bob, "POST", "/tasks/route", { target: "shared-inbox", task: { task_type: "t" } }, { "idempotency-key": "shared-1" });
  for (const answer of [await carols, await daves]) expect(answer.body.items.map((t: any) => t.task_id)).toEqual([sent.body.task_id]);
  // Alice neither holds the role nor sent the task: her wait on the same query hears nothing of it.
  expect((await alices).body.items).toEqual([]);
});
