/** Every rule of who may see and do what, each shown refusing the wrong caller. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
const t: Record<string, string> = {};

beforeAll(async () => {
  c = await startTestController();
  const people: [string, string[]][] = [
    ["alice", ["dev"]], // the source of tasks
    ["bob", ["worker"]], // holds the target role
    ["carol", ["worker"]], // also holds it
    ["eve", ["intruder"]], // holds nothing that matters
    ["mia", ["manager"]], // an approver
    ["root", ["admin"]],
  ];
  for (const [name, roles] of people) t[name] = await c.token(name, roles);
});
afterAll(() => c.stop());

let n = 0;
async function newTask() {
  const res = await c.api(t.alice!, "POST", "/tasks/route", { target: "worker", task: { task_type: "job" } }, { "idempotency-key": `az-${++n}` });
  return res.body.task_id as string;
}
const forbidden = (res: { status: number; body: any }) => {
  expect(res.status).toBe(403);
  expect(res.body.type).toBe("urn:agent-mesh:problem:forbidden");
  expect(res.body.detail.length).toBeGreaterThan(10);
};

describe("reading a task", () => {
  test("the source, the target role and admins read it; anyone else is refused", async () => {
    const id = await newTask();
    for (const who of ["alice", "bob", "root"]) expect((await c.api(t[who]!, "GET", `/tasks/${id}`)).status).toBe(200);
    forbidden(await c.api(t.eve!, "GET", `/tasks/${id}`));
    forbidden(await c.api(t.mia!, "GET", `/tasks/${id}`));
  });

  test("an approver asked about the task may read it", async () => {
    const id = await newTask();
    await c.api(t.alice!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" });
    expect((await c.api(t.mia!, "GET", `/tasks/${id}`)).status).toBe(200);
  });

  test("lists show only what the caller may read", async () => {
    const id = await newTask();
    const ids = async (who: string) => (await c.api(t[who]!, "GET", "/tasks?limit=200")).body.items.map((x: any) => x.task_id);
    expect(await ids("bob")).toContain(id);
    expect(await ids("alice")).toContain(id);
    expect(await ids("root")).toContain(id);
    expect(await ids("eve")).not.toContain(id);
    // asking for another role's tasks by filter shows nothing either
    expect((await c.api(t.eve!, "GET", "/tasks?target=worker")).body.items).toEqual([]);
  });
});

describe("moving a task", () => {
  test("only holders of the target role claim", async () => {
    const id = await newTask();
    for (const who of ["alice", "eve", "mia", "root"]) forbidden(await c.api(t[who]!, "POST", `/tasks/${id}/claim`, {}));
    expect((await c.api(t.bob!, "POST", `/tasks/${id}/claim`, {})).status).toBe(200);
  });

  test("only the claimant finishes (complete or fail)", async () => {
    const id = await newTask();
    await c.api(t.bob!, "POST", `/tasks/${id}/claim`, {});
    for (const who of ["carol", "alice", "eve", "root"]) {
      forbidden(await c.api(t[who]!, "POST", `/tasks/${id}/complete`, { attempt: 1, result: {} }));
      forbidden(await c.api(t[who]!, "POST", `/tasks/${id}/fail`, { attempt: 1, error: "x" }));
    }
    expect((await c.api(t.bob!, "POST", `/tasks/${id}/complete`, { attempt: 1, result: { ok: true } })).status).toBe(200);
  });

  test("only the source or an admin cancels", async () => {
    const a = await newTask();
    for (const who of ["bob", "eve", "mia"]) forbidden(await c.api(t[who]!, "POST", `/tasks/${a}/cancel`, {}));
    expect((await c.api(t.alice!, "POST", `/tasks/${a}/cancel`, {})).status).toBe(200);
    const b = await newTask();
    expect((await c.api(t.root!, "POST", `/tasks/${b}/cancel`, {})).status).toBe(200);
  });

  test("a source forged in the body is refused; the token decides", async () => {
    const res = await c.api(t.eve!, "POST", "/tasks/route", { target: "worker", source: "alice", task: { task_type: "job" } }, { "idempotency-key": "forge" });
    forbidden(res);
    const own = await c.api(t.eve!, "POST", "/tasks/route", { target: "worker", source: "eve", task: { task_type: "job" } }, { "idempotency-key": "own" });
    expect(own.status).toBe(202);
  });
});

describe("approvals", () => {
  test("only the source, the target role or an admin may ask for approval on a task", async () => {
    const id = await newTask();
    forbidden(await c.api(t.eve!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" }));
    forbidden(await c.api(t.mia!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" }));
    expect((await c.api(t.bob!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" })).status).toBe(202);
  });

  test("only holders of the approver role decide", async () => {
    const id = await newTask();
    const { approval_id } = (await c.api(t.alice!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" })).body;
    for (const who of ["alice", "bob", "eve", "root"]) {
      forbidden(await c.api(t[who]!, "POST", `/approvals/${approval_id}/decision`, { decision: "approved" }));
    }
    expect((await c.api(t.mia!, "POST", `/approvals/${approval_id}/decision`, { decision: "rejected", comments: "no" })).status).toBe(200);
  });

  test("whoever asked for an approval may not decide it, even holding the approver role", async () => {
    const both = await c.token("bea", ["worker", "manager"]);
    const id = await newTask();
    const { approval_id } = (await c.api(both, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" })).body;
    forbidden(await c.api(both, "POST", `/approvals/${approval_id}/decision`, { decision: "approved" }));
    expect((await c.api(t.mia!, "POST", `/approvals/${approval_id}/decision`, { decision: "approved" })).status).toBe(200);
  });

  test("an approval is read by who asked, the approver role, task readers and admins only", async () => {
    const id = await newTask();
    const { approval_id } = (await c.api(t.alice!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" })).body;
    for (const who of ["alice", "bob", "mia", "root"]) expect((await c.api(t[who]!, "GET", `/approvals/${approval_id}`)).status).toBe(200);
    forbidden(await c.api(t.eve!, "GET", `/approvals/${approval_id}`));
    const eveSees = (await c.api(t.eve!, "GET", "/approvals?approver_role=manager")).body.items;
    expect(eveSees).toEqual([]);
  });
});

describe("audit", () => {
  test("only admins read the audit trail", async () => {
    for (const who of ["alice", "bob", "mia", "eve"]) forbidden(await c.api(t[who]!, "GET", "/audit"));
    expect((await c.api(t.root!, "GET", "/audit")).status).toBe(200);
  });
});

describe("answers say what the caller may do next", () => {
  test("an approval says whether its reader may decide it now, and which rule refuses when not, the same one the decision would meet", async () => {
    const id = await newTask();
    const ask = await c.api(t.bob!, "POST", "/approvals", { task_id: id, approver_role: "manager", reason: "r" });
    const approvalId = ask.body.approval_id as string;
    const seenBy = async (who: string) => (await c.api(t[who]!, "GET", `/approvals/${approvalId}`)).body.may_decide;
    expect(await seenBy("mia")).toEqual({ allowed: true });
    expect(await seenBy("bob")).toMatchObject({ allowed: false, refusal: "not_an_approver" });
    expect(await seenBy("alice")).toMatchObject({ allowed: false, refusal: "not_an_approver" });
    // The detail says why in the same words a refused decision does.
    const refusedDecision = await c.api(t.alice!, "POST", `/approvals/${approvalId}/decision`, { decision: "approved" });
    expect((await seenBy("alice")).detail).toBe(refusedDecision.body.detail);
    // Lists and a task's detail carry the same answer.
    const listed = (await c.api(t.mia!, "GET", `/approvals?for=me`)).body.items.find((a: any) => a.approval_id === approvalId);
    expect(listed.may_decide).toEqual({ allowed: true });
    expect((await c.api(t.mia!, "GET", `/tasks/${id}`)).body.approvals[0].may_decide).toEqual({ allowed: true });

    const decided = await c.api(t.mia!, "POST", `/approvals/${approvalId}/decision`, { decision: "approved" });
    expect(decided.body.may_decide).toMatchObject({ allowed: false, refusal: "already_decided" });

    // Four eyes: a manager who asked may not decide their own request; an open approval of a finished task decides nothing.
    const mo = await c.token("mo", ["worker", "manager"]);
    const own = (await c.api(mo, "POST", "/approvals", { task_id: await newTask(), approver_role: "manager", reason: "mine" })).body.approval_id;
    expect((await c.api(mo, "GET", `/approvals/${own}`)).body.may_decide).toMatchObject({ allowed: false, refusal: "asked_for_it" });
    expect((await c.api(t.mia!, "GET", `/approvals/${own}`)).body.may_decide).toEqual({ allowed: true });
    expect((await c.api(t.root!, "GET", `/approvals/${own}`)).body.may_decide).toMatchObject({ allowed: false, refusal: "not_an_approver" });
    const another = (await c.api(t.bob!, "POST", "/approvals", { task_id: await newTask(), approver_role: "manager", reason: "r" })).body.approval_id;
    const itsTask = (await c.api(t.mia!, "GET", `/approvals/${another}`)).body.task_id;
    await c.api(t.alice!, "POST", `/tasks/${itsTask}/cancel`, {});
    expect((await c.api(t.mia!, "GET", `/approvals/${another}`)).body.may_decide).toMatchObject({ allowed: false, refusal: "task_finished" });
  });
});
