import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string; // sends work
let bob: string; // a worker
let carol: string; // another worker
let admin: string;

beforeAll(async () => {
  c = await startTestController();
  [alice, bob, carol, admin] = await Promise.all([
    c.token("alice", ["dev"]),
    c.token("bob", ["worker"]),
    c.token("carol", ["worker"]),
    c.token("root", ["admin"]),
  ]);
});
afterAll(() => c.stop());

let keys = 0;
const route = (token: string, body: unknown, key = `key-${++keys}`) => c.api(token, "POST", "/tasks/route", body, { "idempotency-key": key });

async function newTask(body: Record<string, unknown> = {}) {
  const res = await route(alice, { target: "worker", task: { task_type: "review", description: "look", data: { pr: 7 } }, ...body });
  expect(res.status).toBe(202);
  return res.body.task_id as string;
}

describe("routing a task", () => {
  test("202 with id, pending status and the trace id it was sent with", async () => {
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const res = await c.api(
      alice,
      "POST",
      "/tasks/route",
      { target: "worker", task: { task_type: "review" }, context: { repo: "x" }, priority: "high" },
      {
        "idempotency-key": "trace-1",
        traceparent: `00-${traceId}-b7ad6b7169203331-01`,
      },
    );
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ task_id: expect.any(String), status: "pending", trace_id: traceId });
    expect(res.headers.get("x-trace-id")).toBe(traceId);
    expect(res.headers.get("traceparent")).toStartWith(`00-${traceId}-`);

    const read = await c.api(alice, "GET", `/tasks/${res.body.task_id}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      target: "worker",
      source: "alice",
      task_type: "review",
      priority: "high",
      status: "pending",
      context: { repo: "x" },
      trace_id: traceId,
      version: 1,
    });
    expect(read.body.history).toEqual([expect.objectContaining({ actor: "alice", action: "task.created", to_status: "pending", trace_id: traceId })]);
    expect(read.body.approvals).toEqual([]);
  });

  test("an X-Trace-Id header is used and echoed", async () => {
    const res = await c.api(
      alice,
      "POST",
      "/tasks/route",
      { target: "worker", task: { task_type: "review" } },
      { "idempotency-key": "trace-2", "x-trace-id": "my-trace-42" },
    );
    expect(res.body.trace_id).toBe("my-trace-42");
    expect(res.headers.get("x-trace-id")).toBe("my-trace-42");
  });

  test("without an Idempotency-Key: 400 problem saying to send one", async () => {
    const res = await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "review" } });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body.detail).toContain("Idempotency-Key");
  });

  test("unknown task: 404 problem with a trace id", async () => {
    const res = await c.api(alice, "GET", "/tasks/no-such-task");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ type: "urn:agent-mesh:problem:not-found", title: "Not found", status: 404, trace_id: expect.any(String) });
    expect(res.body.detail).toContain("no-such-task");
  });
});

describe("notifications", () => {
  test("a notification is a task whose data.priority is low, normal or high", async () => {
    for (const priority of ["low", "normal", "high"]) {
      const res = await route(alice, { target: "worker", task: { task_type: "notification", description: "build broke", data: { priority } } });
      expect(res.status).toBe(202);
    }
  });

  test("any other priority is a 422 naming the field", async () => {
    const res = await route(alice, { target: "worker", task: { task_type: "notification", data: { priority: "urgent" } } });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ field: "task.data.priority", message: expect.any(String) }]);
  });
});

describe("the state machine", () => {
  const move = (token: string, id: string, to: string, body: unknown = {}) => c.api(token, "POST", `/tasks/${id}/${to}`, body);

  test("pending → claimed → completed, with who, when and trace id in the history", async () => {
    const id = await newTask();
    const claimed = await move(bob, id, "claim");
    expect(claimed.status).toBe(200);
    expect(claimed.body).toMatchObject({ status: "claimed", claimed_by: "bob", version: 2 });
    const done = await move(bob, id, "complete", { attempt: 1, result: { verdict: "lgtm" } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: "completed", result: { verdict: "lgtm" }, version: 3 });
    const read = await c.api(alice, "GET", `/tasks/${id}`);
    expect(read.body.history.map((h: any) => [h.action, h.actor, h.from_status, h.to_status])).toEqual([
      ["task.created", "alice", null, "pending"],
      ["task.claimed", "bob", "pending", "claimed"],
      ["task.completed", "bob", "claimed", "completed"],
    ]);
    for (const h of read.body.history) expect(h.at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  test("pending → claimed → failed keeps the error", async () => {
    const id = await newTask();
    await move(bob, id, "claim");
    const failed = await move(bob, id, "fail", { attempt: 1, error: "repo is gone" });
    expect(failed.body).toMatchObject({ status: "failed", error: "repo is gone" });
  });

  test("pending → cancelled and claimed → cancelled, by the source", async () => {
    const a = await newTask();
    expect((await move(alice, a, "cancel", { reason: "not needed" })).body.status).toBe("cancelled");
    const b = await newTask();
    await move(bob, b, "claim");
    expect((await move(alice, b, "cancel")).body.status).toBe("cancelled");
  });

  test("every illegal transition is a 409 problem that says why", async () => {
    const pending = await newTask();
    const claimed = await newTask();
    await move(bob, claimed, "claim");
    const completed = await newTask();
    await move(bob, completed, "claim");
    await move(bob, completed, "complete", { attempt: 1, result: {} });
    const failed = await newTask();
    await move(bob, failed, "claim");
    await move(bob, failed, "fail", { attempt: 1, error: "x" });
    const cancelled = await newTask();
    await move(alice, cancelled, "cancel");

    const illegal: [string, string, string, unknown][] = [
      [pending, "complete", bob, { attempt: 1, result: {} }],
      [pending, "fail", bob, { attempt: 1, error: "x" }],
      [claimed, "claim", carol, {}],
      ...[completed, failed, cancelled].flatMap((id): [string, string, string, unknown][] => [
        [id, "claim", bob, {}],
        [id, "complete", bob, { attempt: 1, result: {} }],
        [id, "fail", bob, { attempt: 1, error: "x" }],
        [id, "cancel", alice, {}],
      ]),
    ];
    for (const [id, to, token, body] of illegal) {
      const res = await move(token, id, to, body);
      expect(res.status, `${to} on ${id}`).toBe(409);
      expect(res.body.type).toBe("urn:agent-mesh:problem:conflict");
      expect(res.body.detail).toContain("can be");
    }
  });

  test("claiming a task you already hold succeeds and changes nothing", async () => {
    const id = await newTask();
    const first = await move(bob, id, "claim");
    const again = await move(bob, id, "claim");
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect((await c.api(alice, "GET", `/tasks/${id}`)).body.history).toHaveLength(2);
  });

  test("unknown task: 404 for every move", async () => {
    for (const to of ["claim", "complete", "fail", "cancel"]) {
      const body = { claim: {}, complete: { attempt: 1 }, fail: { attempt: 1, error: "x" }, cancel: {} }[to];
      expect((await move(bob, "missing", to, body)).status).toBe(404);
    }
  });

  test("a claim race has exactly one winner", async () => {
    const id = await newTask();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => c.token(`racer-${i}`, ["worker"])));
    const results = await Promise.all(tokens.map((t) => move(t, id, "claim")));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
  });
});

describe("who am I", () => {
  test("GET /me says what the verified token says", async () => {
    const res = await c.api(bob, "GET", "/me");
    expect(res.body).toEqual({ subject: "bob", roles: ["worker"], is_admin: false });
    expect((await c.api(admin, "GET", "/me")).body.is_admin).toBe(true);
  });
});

describe("listing", () => {
  test("filters by target, source, status and task_type", async () => {
    const id = await newTask({ task: { task_type: "unique-kind" } });
    const res = await c.api(bob, "GET", "/tasks?target=worker&source=alice&status=pending&task_type=unique-kind");
    expect(res.status).toBe(200);
    expect(res.body.items.map((t: any) => t.task_id)).toEqual([id]);
  });

  test("cursor pagination walks every task once, in both orders", async () => {
    const c2 = await startTestController();
    try {
      const a = await c2.token("alice", []);
      const w = await c2.token("w", ["pager"]);
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await c2.api(a, "POST", "/tasks/route", { target: "pager", task: { task_type: "t" } }, { "idempotency-key": `p${i}` });
        ids.push(res.body.task_id);
      }
      for (const order of ["asc", "desc"] as const) {
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 5; page++) {
          const q: string = `/tasks?target=pager&limit=3&order=${order}${cursor ? `&cursor=${cursor}` : ""}`;
          const res = await c2.api(w, "GET", q);
          expect(res.status).toBe(200);
          seen.push(...res.body.items.map((t: any) => t.task_id));
          cursor = res.body.next_cursor;
          if (res.body.items.length < 3) break;
        }
        expect(seen).toEqual(order === "asc" ? ids : [...ids].reverse());
      }
    } finally {
      await c2.stop();
    }
  });

  test("for=me lists what is addressed to any of my roles, and not what I sent", async () => {
    const both = await c.token("dana", ["ops", "security"]);
    const forOps = (await route(alice, { target: "ops", task: { task_type: "t" } })).body.task_id;
    const forSec = (await route(alice, { target: "security", task: { task_type: "t" } })).body.task_id;
    await route(both, { target: "elsewhere", task: { task_type: "t" } });
    const mine = await c.api(both, "GET", "/tasks?for=me");
    expect(mine.body.items.map((t: any) => t.task_id)).toEqual([forOps, forSec]);
    const onlyOps = await c.api(both, "GET", "/tasks?for=me&target=ops");
    expect(onlyOps.body.items.map((t: any) => t.task_id)).toEqual([forOps]);
    expect((await c.api(both, "GET", "/tasks?for=me&target=worker")).body.items).toEqual([]);
    expect((await c.api(both, "GET", "/tasks?for=everyone")).status).toBe(422);
  });

  test("a cursor the controller did not issue is a 422 naming cursor", async () => {
    const res = await c.api(bob, "GET", "/tasks?cursor=bogus");
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("cursor");
  });

  test("limit out of range is a 422 naming limit", async () => {
    for (const limit of ["0", "-1", "201", "abc", "1e9"]) {
      const res = await c.api(bob, "GET", `/tasks?limit=${limit}`);
      expect(res.status, limit).toBe(422);
      expect(res.body.errors[0].field).toBe("limit");
    }
  });
});

describe("approvals", () => {
  let manager: string;
  beforeAll(async () => {
    manager = await c.token("mia", ["manager"]);
  });

  test("ask, list pending, decide once; the task shows it", async () => {
    const id = await newTask();
    const asked = await c.api(
      alice,
      "POST",
      "/approvals",
      { task_id: id, approver_role: "manager", reason: "touches prod", decision: "pending", comments: "" },
      { "idempotency-key": `ap-${id}` },
    );
    expect(asked.status).toBe(202);
    expect(asked.body).toEqual({ approval_id: expect.any(String), status: "pending", trace_id: expect.any(String) });
    const approvalId = asked.body.approval_id;

    const pending = await c.api(manager, "GET", "/approvals?approver_role=manager");
    expect(pending.body.items.map((a: any) => a.approval_id)).toContain(approvalId);

    const decided = await c.api(manager, "POST", `/approvals/${approvalId}/decision`, { decision: "approved", comments: "go" });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ status: "approved", decided_by: "mia", comments: "go" });

    const again = await c.api(manager, "POST", `/approvals/${approvalId}/decision`, { decision: "rejected" });
    expect(again.status).toBe(409);

    const one = await c.api(alice, "GET", `/approvals/${approvalId}`);
    expect(one.body).toMatchObject({ approval_id: approvalId, task_id: id, status: "approved", requested_by: "alice" });

    const task = await c.api(alice, "GET", `/tasks/${id}`);
    expect(task.body.approvals).toEqual([expect.objectContaining({ approval_id: approvalId, status: "approved" })]);
    expect(task.body.history.map((h: any) => h.action)).toEqual(["task.created", "approval.requested", "approval.approved"]);

    const stillPending = await c.api(manager, "GET", "/approvals?approver_role=manager");
    expect(stillPending.body.items.map((a: any) => a.approval_id)).not.toContain(approvalId);
  });

  test("decided_by lists someone's past decisions, both kinds, newest first", async () => {
    const ask = async () => (await c.api(alice, "POST", "/approvals", { task_id: await newTask(), approver_role: "manager", reason: "r" })).body.approval_id;
    const [first, second, open] = [await ask(), await ask(), await ask()];
    await c.api(manager, "POST", `/approvals/${first}/decision`, { decision: "approved" });
    await c.api(manager, "POST", `/approvals/${second}/decision`, { decision: "rejected" });
    const mine = await c.api(manager, "GET", "/approvals?decided_by=mia&limit=200");
    const ids = mine.body.items.map((a: any) => a.approval_id);
    expect(ids.indexOf(second)).toBeLessThan(ids.indexOf(first));
    expect(ids).toContain(first);
    expect(ids).not.toContain(open);
    expect(mine.body.items.every((a: any) => a.decided_by === "mia")).toBe(true);
    const approvedOnly = await c.api(manager, "GET", "/approvals?decided_by=mia&status=approved&limit=200");
    expect(approvedOnly.body.items.map((a: any) => a.approval_id)).not.toContain(second);
  });

  test("a decision other than approved or rejected is a 422 naming decision", async () => {
    const res = await c.api(manager, "POST", `/approvals/whatever/decision`, { decision: "maybe" });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("decision");
  });

  test("asking with decision other than pending is a 422 (seed contract)", async () => {
    const id = await newTask();
    const res = await c.api(alice, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r", decision: "approved" });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("decision");
  });

  test("approval on an unknown task: 404; on a finished task: 409", async () => {
    expect((await c.api(alice, "POST", "/approvals", { task_id: "missing", approver_role: "manager", reason: "r" })).status).toBe(404);
    const id = await newTask();
    await c.api(alice, "POST", `/tasks/${id}/cancel`, {});
    expect((await c.api(alice, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" })).status).toBe(409);
  });

  test("an approval of a task that has finished can no longer be decided: 409", async () => {
    const id = await newTask();
    const { approval_id } = (await c.api(alice, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" })).body;
    await c.api(alice, "POST", `/tasks/${id}/cancel`, {});
    const res = await c.api(manager, "POST", `/approvals/${approval_id}/decision`, { decision: "approved" });
    expect(res.status).toBe(409);
    expect(res.body.detail).toContain("cancelled");
  });

  test("unknown approval: 404", async () => {
    expect((await c.api(manager, "GET", "/approvals/missing")).status).toBe(404);
    expect((await c.api(manager, "POST", "/approvals/missing/decision", { decision: "approved" })).status).toBe(404);
  });
});

describe("audit", () => {
  test("admins read every change with filters, newest first", async () => {
    const id = await newTask();
    await c.api(bob, "POST", `/tasks/${id}/claim`, {});
    const res = await c.api(admin, "GET", `/audit?task_id=${id}`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: any) => [e.action, e.actor])).toEqual([
      ["task.claimed", "bob"],
      ["task.created", "alice"],
    ]);
    const byActor = await c.api(admin, "GET", `/audit?actor=bob&action=task.claimed&limit=200`);
    expect(byActor.body.items.every((e: any) => e.actor === "bob" && e.action === "task.claimed")).toBe(true);
    const since = await c.api(admin, "GET", `/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(since.body.items).toEqual([]);
    // the same instant written with an offset selects the same rows
    const created = res.body.items.at(-1).at as string;
    const inParis = new Date(Date.parse(created) + 3_600_000).toISOString().replace("Z", "+01:00");
    const fromParis = await c.api(admin, "GET", `/audit?task_id=${id}&since=${encodeURIComponent(inParis)}`);
    expect(fromParis.body.items.map((e: any) => e.action)).toEqual(["task.claimed", "task.created"]);
  });
});
