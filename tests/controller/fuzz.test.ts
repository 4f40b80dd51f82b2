/**
 * Property-based fuzzing of the HTTP API: hostile bodies, query strings and headers
 * always get a 4xx problem (never a 5xx, never a crash), and a refused request
 * stores nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string;
let admin: string;
let taskId: string;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["worker"]);
  admin = await c.token("root", ["admin"]);
  taskId = (await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "t" } }, { "idempotency-key": "seed" })).body.task_id;
});
afterAll(() => c.stop());

const auditCount = async () => (await c.api(admin, "GET", "/audit?limit=200")).body.items.length as number;

const hostileKey = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "target", "task", "task_type", "data", "priority", "source", ""),
  fc.string(),
);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, "", "worker", "notification", "low", "x".repeat(20_000)),
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie("value"), { maxKeys: 5 }),
  ),
})).value;

const bodies = fc.oneof(
  hostileValue.map((v) => JSON.stringify(v) ?? "null"),
  fc.record({ target: hostileValue, task: fc.oneof(hostileValue, fc.record({ task_type: hostileValue, data: hostileValue })) }).map((v) => JSON.stringify(v)),
  fc.string(), // not JSON at all
  fc.uint8Array({ maxLength: 64 }).map((b) => new TextDecoder("latin1").decode(b)),
  fc.integer({ min: 1, max: 5000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)), // deep nesting
  fc.integer({ min: 1, max: 5000 }).map((depth) => `{"target":"worker","task":{"task_type":"t","data":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}}`),
  fc.constant('{"target":"worker","target":"other","task":{"task_type":"t"}}'), // duplicate keys
);

const POSTS = ["/tasks/route", "/approvals", `/tasks/ID/claim`, `/tasks/ID/complete`, `/tasks/ID/fail`, `/tasks/ID/cancel`, "/approvals/ID/decision"];

function checkProblem(status: number, body: any, what: string) {
  expect(status, what).toBeGreaterThanOrEqual(200);
  expect(status, what).toBeLessThan(500);
  if (status >= 400) {
    expect(body.status, what).toBe(status);
    expect(typeof body.trace_id, what).toBe("string");
  }
}

test("hostile bodies on every POST: a 4xx problem, nothing stored", async () => {
  const before = await auditCount();
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...POSTS), bodies, fc.string({ maxLength: 40 }), async (path, body, key) => {
      const res = await c.api(alice, "POST", path.replace("ID", taskId), body, key ? { "idempotency-key": key } : {});
      checkProblem(res.status, res.body, `${path} ${body.slice(0, 200)}`);
      if (res.status < 300) accepted++;
    }),
    { numRuns: RUNS },
  );
  // only requests that were answered 2xx may have written anything
  expect((await auditCount()) - before).toBeLessThanOrEqual(accepted);
});

test("hostile query strings on every GET: a 4xx problem or an answer", async () => {
  const param = fc.oneof(
    fc.constantFrom("limit", "wait", "cursor", "status", "target", "source", "task_type", "order", "after_version", "since", "until", "actor", "approver_role"),
    fc.string({ maxLength: 10 }),
  );
  const value = fc.oneof(
    fc.constantFrom("-1", "0", "1e400", "NaN", "Infinity", "99999999999999999999", "0x10", "1.5", "", "%00", "pending", "asc"),
    fc.string({ maxLength: 30 }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("/tasks", `/tasks/${taskId}`, "/approvals", "/audit", "/approvals/x"),
      fc.array(fc.tuple(param, value), { maxLength: 4 }),
      async (path, pairs) => {
        const query = new URLSearchParams(pairs.filter(([k]) => k !== "wait")).toString();
        const res = await c.api(admin, "GET", `${path}?${query}`);
        checkProblem(res.status, res.body, `${path}?${query}`);
      },
    ),
    { numRuns: RUNS },
  );
});

test("hostile headers: a 4xx problem or an answer", async () => {
  const header = fc.constantFrom("authorization", "idempotency-key", "traceparent", "x-trace-id", "last-event-id", "content-type", "content-length");
  const value = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.constantFrom("Bearer ", "Bearer a.b.c", "-1", "99999999999", `00-${"0".repeat(32)}-${"0".repeat(16)}-01`),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom("/tasks", "/tasks/route"), header, value, async (path, name, v) => {
      const printable = v.replace(/[^\x20-\x7e]/g, "");
      if (name === "content-length") return; // a lying length is the HTTP server's business, not ours
      const headers = { [name]: printable };
      const token = name === "authorization" ? null : alice;
      const res = await c.api(
        token,
        path === "/tasks" ? "GET" : "POST",
        path,
        path === "/tasks" ? undefined : { target: "worker", task: { task_type: "t" } },
        headers,
      );
      checkProblem(res.status, res.body, `${name}: ${printable}`);
    }),
    { numRuns: RUNS },
  );
});
