/**
 * Several controllers on one PostgreSQL database: two real controller processes, real
 * concurrent HTTP clients, and a proxy in front of PostgreSQL to take it away.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openSse } from "../support/sse.ts";
import { signIn } from "../support/web.ts";
import { until, startCluster, type Api, type Cluster } from "./cluster.ts";

const unique = (what: string) => `${what}-${crypto.randomUUID().slice(0, 8)}`;
const route = (target: string, description = "work") => ({ target, task: { task_type: "review", description } });

let cluster: Cluster;
let A: Api;
let B: Api;
/** Alternates between the two controllers, as a load balancer would. */
const either = (i: number) => (i % 2 === 0 ? A : B);

beforeAll(async () => {
  // One long-poll per caller: a second one being refused shows the first is being held.
  cluster = await startCluster(2, { MESH_MAX_WAITS_PER_CALLER: "1" });
  [A, B] = cluster.apis as [Api, Api];
});

afterAll(async () => {
  await cluster?.stop();
});

const rows = (text: string, ...params: unknown[]) => cluster.db.sql.unsafe(text, params) as Promise<Record<string, any>[]>;

async function routeTask(api: Api, token: string, target: string) {
  const res = await api(token, "POST", "/tasks/route", route(target), { "idempotency-key": unique("key") });
  expect(res.status).toBe(202);
  return res.body.task_id as string;
}

/**
 * Starts a long-poll and resolves once the controller holds it (a probe by the same
 * caller is refused: the caller's one slot is taken), with the answer still to come.
 */
async function heldLongPoll(api: Api, token: string, path: string): Promise<{ answer: ReturnType<Api> }> {
  for (;;) {
    let settled = false;
    const poll = api(token, "GET", path).finally(() => (settled = true));
    for (;;) {
      const probe = await api(token, "GET", `/tasks?target=${unique("probe")}&wait=0.05`);
      if (probe.status === 429) return { answer: poll };
      if (settled) break;
    }
    // The probe held the slot just as the poll arrived; start over.
    if ((await poll).status !== 429) return { answer: poll };
  }
}

describe("two controllers on one PostgreSQL database", () => {
  test("one Idempotency-Key gives one task when its retries land on both controllers at the same moment", async () => {
    const token = await cluster.token(unique("sender"));
    const target = unique("role");
    const keys = Array.from({ length: 10 }, () => unique("key"));
    const retries = 16;
    const answers = await Promise.all(
      keys.flatMap((key) =>
        Array.from({ length: retries }, (_, i) => either(i)(token, "POST", "/tasks/route", route(target, key), { "idempotency-key": key })),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
    for (const [k, key] of keys.entries()) {
      const ids = new Set(answers.slice(k * retries, (k + 1) * retries).map((a) => a.body.task_id));
      expect({ key, tasks: ids.size }).toEqual({ key, tasks: 1 });
    }
    const [stored] = await rows("SELECT count(*)::int AS tasks, count(DISTINCT description)::int AS keys FROM tasks WHERE target = $1", target);
    expect(stored).toEqual({ tasks: keys.length, keys: keys.length });
    const [audited] = await rows("SELECT count(*)::int AS n FROM audit WHERE target = $1 AND action = 'task.created'", target);
    expect(audited!.n).toBe(keys.length);
  });

  test("a claim raced through both controllers has exactly one winner", async () => {
    const target = unique("role");
    const sender = await cluster.token(unique("sender"));
    const racers = await Promise.all(Array.from({ length: 40 }, (_, i) => cluster.token(`racer-${i}-${unique("w")}`, [target])));
    const tasks = await Promise.all(Array.from({ length: 10 }, () => routeTask(A, sender, target)));
    for (const taskId of tasks) {
      const answers = await Promise.all(racers.map((token, i) => either(i)(token, "POST", `/tasks/${taskId}/claim`, {})));
      const winners = answers.filter((a) => a.status === 200);
      expect({ taskId, winners: winners.length }).toEqual({ taskId, winners: 1 });
      expect(answers.filter((a) => a.status === 409)).toHaveLength(racers.length - 1);
      const [task] = await rows("SELECT status, claimed_by, version FROM tasks WHERE task_id = $1", taskId);
      expect(task).toEqual({ status: "claimed", claimed_by: winners[0]!.body.claimed_by, version: 2 });
    }
    const claims = await rows("SELECT task_id, count(*)::int AS n FROM audit WHERE target = $1 AND action = 'task.claimed' GROUP BY task_id", target);
    expect(claims.map((c) => c.n)).toEqual(tasks.map(() => 1));
  });

  test("each of 100 lapsing leases is acted on exactly once, by one of the two controllers", async () => {
    const target = unique("role");
    const sender = await cluster.token(unique("sender"));
    const worker = await cluster.token(unique("worker"), [target]);
    const tasks = await Promise.all(Array.from({ length: 100 }, (_, i) => routeTask(either(i), sender, target)));
    const claims = await Promise.all(tasks.map((id, i) => either(i + 1)(worker, "POST", `/tasks/${id}/claim`, { lease_seconds: 1 })));
    expect(claims.map((c) => c.status)).toEqual(tasks.map(() => 200));
    await until(async () => {
      const [row] = await rows("SELECT count(*)::int AS n FROM tasks WHERE target = $1 AND status = 'pending'", target);
      return row!.n === tasks.length;
    }, "every lease lapsed");
    await Bun.sleep(500); // a second act on any of them would land now
    const lapses = await rows("SELECT task_id, count(*)::int AS n FROM audit WHERE target = $1 AND action = 'task.lease_lapsed' GROUP BY task_id", target);
    expect(lapses.length).toBe(tasks.length);
    expect(lapses.filter((l) => l.n !== 1)).toEqual([]);
  });

  test("a long-poll waiting on one controller wakes when the change is made through the other", async () => {
    const target = unique("role");
    const worker = await cluster.token(unique("worker"), [target]);
    const sender = await cluster.token(unique("sender"));
    const poll = await heldLongPoll(A, worker, `/tasks?target=${target}&status=pending&wait=15`);
    const started = performance.now();
    const taskId = await routeTask(B, sender, target);
    const answer = await poll.answer;
    expect(answer.status).toBe(200);
    expect(answer.body.items.map((t: { task_id: string }) => t.task_id)).toEqual([taskId]);
    expect(performance.now() - started).toBeLessThan(5_000);

    // And a task's own long-poll, the other way round.
    const claimed = await heldLongPoll(B, sender, `/tasks/${taskId}?wait=15&after_version=1`);
    expect((await A(worker, "POST", `/tasks/${taskId}/claim`, {})).status).toBe(200);
    expect((await claimed.answer).body).toMatchObject({ task_id: taskId, status: "claimed", version: 2 });
  });

  test("a person signed in through one controller is signed in on the other, and their page hears changes made through either", async () => {
    const role = unique("approver");
    const [a, b] = cluster.controllers.map((c) => c.url) as [string, string];
    const person = await signIn({ url: a, dataDir: cluster.dataDir }, unique("person"), [role]);
    const me = await fetch(new URL("/me", b), { headers: { cookie: person.cookie } });
    expect((await me.json()).roles).toEqual([role]);

    const events = await openSse(new URL("/events", b).href, null, { cookie: person.cookie });
    try {
      expect(events.status).toBe(200);
      const sender = await cluster.token(unique("sender"));
      const taskId = await routeTask(A, sender, unique("worker"));
      const started = performance.now();
      const asked = await A(sender, "POST", "/approvals", { task_id: taskId, approver_role: role, reason: "r" });
      // The first event is the approval: the task's creation was for another role, so it was not sent.
      const event = await events.next(10_000);
      expect(event).toMatchObject({ event: "approval.requested", data: { approval_id: asked.body.approval_id, task_id: taskId } });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      events.close();
    }
  });

  test("the audit trail has one row per change, whichever controller made it", async () => {
    const target = unique("role");
    const approver = unique("approver");
    const sender = await cluster.token(unique("sender"));
    const worker = await cluster.token(unique("worker"), [target]);
    const colleague = await cluster.token(unique("worker"), [target]);
    const lead = await cluster.token(unique("lead"), [approver]);
    const admin = await cluster.token(unique("admin"), ["admin"]);
    const key = { "idempotency-key": unique("key") };
    const created = await A(sender, "POST", "/tasks/route", route(target), key);
    const taskId = created.body.task_id;
    expect((await B(sender, "POST", "/tasks/route", route(target), key)).body.task_id).toBe(taskId); // a replay, not a change
    expect((await B(worker, "POST", `/tasks/${taskId}/claim`, {})).status).toBe(200);
    expect((await A(colleague, "POST", `/tasks/${taskId}/claim`, {})).status).toBe(409);
    expect((await A(worker, "POST", `/tasks/${taskId}/claim`, {})).status).toBe(200); // already theirs: no change
    const asked = await A(worker, "POST", "/approvals", { task_id: taskId, approver_role: approver, reason: "risky" });
    expect(asked.status).toBe(202);
    expect((await B(lead, "POST", `/approvals/${asked.body.approval_id}/decision`, { decision: "approved" })).status).toBe(200);
    expect((await A(lead, "POST", `/approvals/${asked.body.approval_id}/decision`, { decision: "rejected" })).status).toBe(409);
    expect((await A(worker, "POST", `/tasks/${taskId}/complete`, { attempt: 1, result: { ok: true } })).status).toBe(200);

    const expected = ["task.created", "task.claimed", "approval.requested", "approval.approved", "task.completed"];
    for (const api of [A, B]) {
      const audit = await api(admin, "GET", `/audit?task_id=${taskId}`);
      expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual([...expected].reverse());
      const detail = await api(sender, "GET", `/tasks/${taskId}`);
      expect(detail.body.history.map((e: { action: string }) => e.action)).toEqual(expected);
    }
  });

  test("with PostgreSQL gone: 503 problems, not ready, nothing half-written, and recovery without a restart", async () => {
    const target = unique("role");
    const sender = await cluster.token(unique("sender"));
    const worker = await cluster.token(unique("worker"), [target]);
    const pending = await routeTask(A, sender, target);
    const pids = cluster.controllers.map((c) => c.proc.pid);

    // Eight clients writing steadily through both controllers; the database goes away mid-stream.
    const keys = Array.from({ length: 400 }, () => unique("key"));
    const send = (key: string, i: number) => either(i)(sender, "POST", "/tasks/route", route(target, key), { "idempotency-key": key });
    const during: Awaited<ReturnType<Api>>[] = [];
    const clients = Array.from({ length: 8 }, async (_, c) => {
      for (let i = c; i < keys.length; i += 8) during[i] = await send(keys[i]!, i);
    });
    const committed = async () => (await rows("SELECT count(*)::int AS n FROM tasks WHERE target = $1", target))[0]!.n;
    await until(async () => (await committed()) > 40, "some writes are committed");
    await cluster.proxy.cut();
    await Promise.all(clients);
    const statuses = new Set(during.map((a) => a.status));
    expect(statuses).toEqual(new Set([202, 503]));

    for (const api of [A, B]) {
      const refused = await api(sender, "POST", "/tasks/route", route(target), { "idempotency-key": unique("key") });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("content-type")).toContain("application/problem+json");
      expect(refused.body).toMatchObject({ type: "urn:agent-mesh:problem:unavailable", status: 503, trace_id: expect.any(String) });
      expect((await api(worker, "POST", `/tasks/${pending}/claim`, {})).status).toBe(503);
      expect((await api(worker, "GET", `/tasks?target=${target}`)).status).toBe(503);
      const ready = await api(null, "GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe("not ready");
      expect((await api(null, "GET", "/healthz")).status).toBe(200);
    }

    await cluster.proxy.restore();
    for (const api of [A, B]) await until(async () => (await api(null, "GET", "/readyz")).status === 200, "the controller is ready again");
    expect(cluster.controllers.map((c) => c.proc.pid)).toEqual(pids);
    expect(cluster.controllers.every((c) => c.proc.exitCode === null)).toBe(true);

    // Every write is whole or absent: each created task has its audit row and its idempotency record.
    const [orphans] = await rows(
      `SELECT count(*) FILTER (WHERE a.seq IS NULL)::int AS unaudited, count(*) FILTER (WHERE i.response IS NULL)::int AS unrecorded
       FROM tasks t LEFT JOIN audit a ON a.task_id = t.task_id AND a.action = 'task.created'
       LEFT JOIN idempotency i ON i.response->>'task_id' = t.task_id WHERE t.target = $1`,
      target,
    );
    expect(orphans).toEqual({ unaudited: 0, unrecorded: 0 });
    // A client retrying what failed gets exactly one task per key, and what succeeded is replayed.
    const retried = await Promise.all(keys.map((key, i) => send(key, i + 1)));
    expect(retried.map((a) => a.status)).toEqual(keys.map(() => 202));
    for (const [i, answer] of during.entries()) if (answer.status === 202) expect(retried[i]!.body.task_id).toBe(answer.body.task_id);
    const [counted] = await rows("SELECT count(*)::int AS n FROM tasks WHERE target = $1", target);
    expect(counted!.n).toBe(keys.length + 1);

    // The task nobody could claim during the outage is still pending, and the change feed is back across controllers.
    const poll = await heldLongPoll(A, worker, `/tasks/${pending}?wait=15&after_version=1`);
    expect((await B(worker, "POST", `/tasks/${pending}/claim`, {})).status).toBe(200);
    expect((await poll.answer).body).toMatchObject({ task_id: pending, status: "claimed", version: 2 });
  });
});
