import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createTestDatabase } from "../postgres/database.ts";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string;
let admin: string;
beforeAll(async () => {
  c = await startTestController({ MESH_IDEMPOTENCY_TTL: "2s", MESH_IDEMPOTENCY_RETRY_WINDOW: "1s" });
  alice = await c.token("alice", []);
  admin = await c.token("root", ["admin"]);
});
afterAll(() => c.stop());

const body = { target: "worker", task: { task_type: "review", data: { a: 1, b: [1, 2] } } };
const route = (token: string, key: string, b: unknown = body) => c.api(token, "POST", "/tasks/route", b, { "idempotency-key": key });
const tasksCreatedBy = async (sub: string) => (await c.api(admin, "GET", `/audit?actor=${sub}&action=task.created&limit=200`)).body.items.length as number;

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
  const complete = (key: string) => c.api(worker, "POST", `/tasks/${task_id}/complete`, { attempt: 1, result: { n: 1 } }, { "idempotency-key": key });
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

/** A controller on each engine, with a way to ask its database what the stored answers weigh. */
const engines = [
  {
    name: "sqlite",
    async start(env: Record<string, string> = {}) {
      const controller = await startTestController(env);
      const storedBytes = async () => {
        const db = new Database(join(controller.dataDir, "mesh.db"), { readonly: true });
        try {
          return db.query<{ n: number }, []>("SELECT coalesce(sum(length(response)), 0) AS n FROM idempotency").get()!.n;
        } finally {
          db.close();
        }
      };
      return { controller, storedBytes, stop: () => controller.stop() };
    },
  },
  {
    name: "postgres",
    async start(env: Record<string, string> = {}) {
      const db = await createTestDatabase();
      const controller = await startTestController({ ...env, MESH_DATABASE_URL: db.url() });
      const storedBytes = async () => Number((await db.sql`SELECT coalesce(sum(pg_column_size(response)), 0) AS n FROM idempotency`)[0].n);
      return { controller, storedBytes, stop: async () => (await controller.stop(), await db.drop()) };
    },
  },
];

for (const engine of engines) {
  describe(`stored answers: ${engine.name}`, () => {
    test("a re-claim with a fresh key stores a few hundred bytes, whatever the size of the task", async () => {
      const { controller: k, storedBytes, stop } = await engine.start();
      try {
        const sender = await k.token("sam", []);
        const worker = await k.token("wes", ["worker"]);
        // Random text, so no engine can compress the copies away.
        const big = Buffer.from(crypto.getRandomValues(new Uint8Array(192 * 1024))).toString("base64");
        const { task_id } = (
          await k.api(sender, "POST", "/tasks/route", { target: "worker", task: { task_type: "big", data: { big } } }, { "idempotency-key": "big" })
        ).body;
        await k.api(worker, "POST", `/tasks/${task_id}/claim`, {}, { "idempotency-key": "claim-0" });
        const before = await storedBytes();
        for (let i = 1; i <= 10; i++) {
          const again = await k.api(worker, "POST", `/tasks/${task_id}/claim`, {}, { "idempotency-key": `claim-${i}` });
          expect(again.status).toBe(200);
          expect(again.body.data.big).toBe(big);
        }
        expect(((await storedBytes()) - before) / 10).toBeLessThan(512);
      } finally {
        await stop();
      }
    });

    test("a retried move gets the task as that move left it, even after the task moved on", async () => {
      const { controller: k, stop } = await engine.start();
      try {
        const sender = await k.token("sam", []);
        const worker = await k.token("wes", ["worker"]);
        const { task_id } = (
          await k.api(sender, "POST", "/tasks/route", { target: "worker", task: { task_type: "t", data: { n: 1 } } }, { "idempotency-key": "t" })
        ).body;
        const claim = (key: string) => k.api(worker, "POST", `/tasks/${task_id}/claim`, {}, { "idempotency-key": key });
        const claimed = await claim("first");
        const reclaimed = await claim("again");
        await k.api(sender, "POST", "/approvals", { task_id, approver_role: "lead", reason: "r" }, { "idempotency-key": "ask" });
        const completed = await k.api(worker, "POST", `/tasks/${task_id}/complete`, { attempt: 1, result: { ok: true } }, { "idempotency-key": "done" });
        const cancelled = await k.api(sender, "POST", `/tasks/${task_id}/cancel`, { reason: "too late" }, { "idempotency-key": "cancel" });
        expect(cancelled.status).toBe(409);
        expect(claimed.body).toMatchObject({ status: "claimed", claimed_by: "wes", result: null, error: null, version: 2 });
        expect(reclaimed.body).toEqual(claimed.body);
        expect(completed.body).toMatchObject({ status: "completed", result: { ok: true }, version: 4 });
        expect((await claim("first")).body).toEqual(claimed.body);
        expect((await claim("again")).body).toEqual(claimed.body);
        expect((await k.api(worker, "POST", `/tasks/${task_id}/complete`, { attempt: 1, result: { ok: true } }, { "idempotency-key": "done" })).body).toEqual(
          completed.body,
        );
      } finally {
        await stop();
      }
    });

    test("a caller's keys past its budget are forgotten oldest first once out of the retry window; other callers keep theirs; a burst past it is refused, nothing done", async () => {
      const { controller: k, stop } = await engine.start({ MESH_IDEMPOTENCY_KEYS_PER_CALLER: "3", MESH_IDEMPOTENCY_RETRY_WINDOW: "2s" });
      try {
        const [sam, tom, ann] = [await k.token("sam", []), await k.token("tom", []), await k.token("ann", [])];
        const send = (token: string, key: string) => k.api(token, "POST", "/tasks/route", body, { "idempotency-key": key });
        const tomsFirst = await send(tom, "k1");
        const sams = [];
        for (const key of ["k1", "k2", "k3"]) sams.push((await send(sam, key)).body.task_id);
        await Bun.sleep(2100);
        sams.push((await send(sam, "k4")).body.task_id);
        // The newest three are remembered: their retries change nothing.
        expect((await send(sam, "k4")).body.task_id).toBe(sams[3]);
        expect((await send(sam, "k2")).body.task_id).toBe(sams[1]);
        // The oldest was forgotten: its retry is a new request.
        expect((await send(sam, "k1")).body.task_id).not.toBe(sams[0]);
        expect((await send(tom, "k1")).body.task_id).toBe(tomsFirst.body.task_id);

        // Within the window no key is forgotten to make room: a fourth is refused and creates nothing, the first three still replay.
        const anns = [];
        for (const key of ["a1", "a2", "a3"]) anns.push((await send(ann, key)).body.task_id);
        const refused = await send(ann, "a4");
        expect(refused.status).toBe(429);
        expect(refused.body.detail).toContain("MESH_IDEMPOTENCY_KEYS_PER_CALLER");
        expect((await k.api(ann, "GET", "/tasks?source=ann")).body.items.length).toBe(3);
        expect((await send(ann, "a1")).body.task_id).toBe(anns[0]);
      } finally {
        await stop();
      }
    });

    test("a large budget is looked at once per hundredth of it: a burst is refused at most that far past it, and every key it kept still replays", async () => {
      const { controller: k, stop } = await engine.start({ MESH_IDEMPOTENCY_KEYS_PER_CALLER: "500" });
      try {
        const sam = await k.token("sam", []);
        const send = (key: string) => k.api(sam, "POST", "/tasks/route", body, { "idempotency-key": key });
        const created: string[] = [];
        let refusedAt = 0;
        for (let i = 1; i <= 520 && !refusedAt; i++) {
          const answer = await send(`k${i}`);
          if (answer.status === 429) refusedAt = i;
          else created.push(answer.body.task_id);
        }
        expect(refusedAt).toBeGreaterThan(500);
        expect(refusedAt).toBeLessThanOrEqual(506);
        expect((await send("k1")).body.task_id).toBe(created[0]);
        expect((await send(`k${created.length}`)).body.task_id).toBe(created.at(-1));
      } finally {
        await stop();
      }
    });
  });
}
