/**
 * Getting approvals decided, through the compiled binary over stdio against a real
 * controller: request_approval waiting for the decision, and ask_person_to_decide putting
 * an approval to the client's user as a form (MCP elicitation) and recording the answer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ElicitRequestSchema, type ElicitRequest, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import type { Agent } from "./support/agent.ts";
import { startMesh, type Mesh } from "./support/mesh.ts";
import { misbehave, type Misbehaving } from "./support/misbehaving.ts";

const FORMS = { elicitation: {} };

let mesh: Mesh;
let alice: Agent; // a developer who sends work and asks for approval
let bob: Agent; // a reviewer: may read the tasks, not decide for role lead; his client shows forms
let carol: Agent; // a lead whose client shows forms
let lena: Agent; // a lead whose client cannot show forms

beforeAll(async () => {
  mesh = await startMesh();
  [alice, bob, carol, lena] = await Promise.all([
    mesh.agent("alice", ["dev"]),
    mesh.agent("bob", ["reviewer"], FORMS),
    mesh.agent("carol", ["lead"], FORMS),
    mesh.agent("lena", ["lead"]),
  ]);
});
afterAll(() => mesh.stop());

/** A task for role reviewer with a pending approval for role lead, both from alice. */
async function pendingApproval(description = "Deploy the billing change", reason = "Touches billing") {
  const sent = await alice.call("send_task", { target: "reviewer", task: { task_type: "deploy", description, data: { pr: 42 } } });
  const asked = await alice.call("request_approval", { task_id: sent.structured.task_id, approver_role: "lead", reason });
  expect(asked.isError).toBeFalsy();
  return { taskId: sent.structured.task_id as string, approvalId: asked.structured.approval_id as string };
}

/** The approval as the controller holds it. */
async function stored(approvalId: string) {
  const r = await mesh.controller.api(await mesh.controller.token("auditor", ["admin"]), "GET", `/approvals/${approvalId}`);
  return r.body;
}

/** Answers every form the agent's client is shown with `answer`; returns the forms it was shown. */
function answerForms(agent: Agent, answer: (signal: AbortSignal) => ElicitResult | Promise<ElicitResult>) {
  const shown: ElicitRequest["params"][] = [];
  agent.client.setRequestHandler(ElicitRequestSchema, async (request, extra) => {
    shown.push(request.params);
    return answer(extra.signal);
  });
  return shown;
}

/** Resolves `started` once the server reports that the call waits. */
function waitingCall(agent: Agent, tool: string, args: Record<string, unknown>) {
  let started!: () => void;
  const waiting = new Promise<void>((resolve) => (started = resolve));
  const progress: { progress: number; total?: number; message?: string }[] = [];
  const result = agent.call(tool, args, {
    onprogress: (p) => {
      progress.push(p);
      started();
    },
  });
  return { waiting, result, progress };
}

describe("request_approval with wait_seconds", () => {
  let fake: Misbehaving | undefined;
  afterEach(() => fake?.stop());

  test("returns the decision another caller makes while it waits, with progress meanwhile", async () => {
    const sent = await alice.call("send_task", { target: "reviewer", task: { task_type: "deploy" } });
    const taskId = sent.structured.task_id;
    // Longer than one long-poll of the controller may last.
    const asking = waitingCall(alice, "request_approval", { task_id: taskId, approver_role: "lead", reason: "Go live?", wait_seconds: 90 });
    await asking.waiting;
    const [approval] = (await carol.call("list_approvals", { task_id: taskId })).structured.approvals;
    await carol.call("decide_approval", { approval_id: approval.approval_id, decision: "rejected", comments: "Not on a Friday" });
    const r = await asking.result;
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({
      approval_id: approval.approval_id,
      task_id: taskId,
      approver_role: "lead",
      status: "rejected",
      decided_by: "carol",
      comments: "Not on a Friday",
    });
    expect(r.text).toContain("carol rejected it, commenting: Not on a Friday");
    expect(asking.progress[0]).toMatchObject({ progress: 0, total: 90 });
    expect(asking.progress[0]!.message).toContain(`waiting for role lead to decide approval ${approval.approval_id}`);
  });

  test("when the time is up, says it is still pending and how to keep waiting", async () => {
    const sent = await alice.call("send_task", { target: "reviewer", task: { task_type: "deploy" } });
    const started = performance.now();
    const r = await alice.call("request_approval", { task_id: sent.structured.task_id, approver_role: "lead", reason: "Go live?", wait_seconds: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({ status: "pending", decided_by: null, comments: "" });
    expect(r.text).toContain("Still pending after 1 s.");
    expect(r.text).toContain(`fetch_status(task_id="${sent.structured.task_id}", wait_seconds=60)`);
    expect((await stored(r.structured.approval_id)).status).toBe("pending");
  });

  test("without wait_seconds answers at once, pending", async () => {
    const sent = await alice.call("send_task", { target: "reviewer", task: { task_type: "deploy" } });
    const r = await alice.call("request_approval", { task_id: sent.structured.task_id, approver_role: "lead", reason: "r", comments: "Small change" });
    expect(r.structured).toMatchObject({ status: "pending", decided_by: null, comments: "Small change" });
    expect(r.text).toContain("It is pending.");
    // A person can be sent straight to it.
    expect(r.text).toContain(`a person decides it at ${new URL(`/?approval=${r.structured.approval_id}`, mesh.controller.url).href}`);
  });

  test("polls again while the controller's long-polls run out, each for the time still left", async () => {
    const approval = (status: string, decided_by: string | null) => ({
      approval_id: "a-1",
      task_id: "t-1",
      approver_role: "lead",
      reason: "r",
      status,
      requested_by: "alice",
      decided_by,
      comments: decided_by ? "Fine" : "",
      created_at: "2030-01-01T00:00:00.000Z",
      decided_at: decided_by ? "2030-01-01T00:00:02.000Z" : null,
      trace_id: "x",
      expires_at: null,
      escalate_to: null,
      escalated_from: null,
      may_decide: decided_by ? { allowed: false, refusal: "already_decided" } : { allowed: false, refusal: "asked_for_it" },
    });
    const stillPending = { afterMs: 500, response: Response.json(approval("pending", null)) };
    fake = misbehave([
      Response.json({ approval_id: "a-1", status: "pending", trace_id: "x" }, { status: 202 }),
      stillPending,
      stillPending,
      Response.json(approval("approved", "dan")),
    ]);
    const agent = await mesh.agentWith({ CONTROLLER_URL: fake.url, MESH_JWT_TOKEN: "a.b.c" });
    const r = await agent.call("request_approval", { task_id: "t-1", approver_role: "lead", reason: "r", wait_seconds: 10 });
    expect(r.structured).toMatchObject({ status: "approved", decided_by: "dan", comments: "Fine" });
    const polls = fake.seen.slice(1).map((s) => new URL(s.path, fake!.url));
    expect(polls.map((u) => u.pathname)).toEqual(["/approvals/a-1", "/approvals/a-1", "/approvals/a-1"]);
    const waits = polls.map((u) => Number(u.searchParams.get("wait")));
    expect(waits[0]).toBe(10);
    expect(waits[1]).toBeLessThanOrEqual(9.5);
    expect(waits[2]).toBeLessThanOrEqual(9);
    expect(waits[2]).toBeGreaterThan(8);
  });

  test("a cancelled wait stops its request to the controller", async () => {
    fake = misbehave([Response.json({ approval_id: "a-1", status: "pending", trace_id: "x" }, { status: 202 }), "hang"]);
    const agent = await mesh.agentWith({ CONTROLLER_URL: fake.url, MESH_JWT_TOKEN: "a.b.c" });
    const cancel = new AbortController();
    const call = agent.call("request_approval", { task_id: "t-1", approver_role: "lead", reason: "r", wait_seconds: 600 }, { signal: cancel.signal });
    await fake.received(2);
    cancel.abort("no longer needed");
    expect(await call.catch((e) => String(e))).toContain("no longer needed");
    await fake.seen[1]!.aborted;
  });

  test("more than ten minutes is refused by the input schema", async () => {
    const r = await alice.call("request_approval", { task_id: "t", approver_role: "lead", reason: "r", wait_seconds: 601 });
    expect(r.isError).toBe(true);
    expect(r.text).toContain("wait_seconds");
  });
});

describe("ask_person_to_decide", () => {
  test("approve with a comment: the form shows what is asked, and the decision is recorded as the agent's", async () => {
    const { taskId, approvalId } = await pendingApproval("Deploy the billing change", "Touches billing");
    const shown = answerForms(carol, () => ({ action: "accept", content: { decision: "approve", comment: "Ship it" } }));
    const r = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({
      outcome: "decided",
      approval: { approval_id: approvalId, status: "approved", decided_by: "carol", comments: "Ship it" },
    });
    expect(r.text).toContain("approved by carol");

    expect(shown).toHaveLength(1);
    const form = shown[0]! as Extract<ElicitRequest["params"], { requestedSchema: unknown }>;
    expect(form.mode).toBe("form");
    for (const part of ["alice asks role lead to approve", "Why: Touches billing", `${taskId} (deploy)`, "Description: Deploy the billing change", '"pr":42'])
      expect(form.message).toContain(part);
    expect(form.requestedSchema.required).toEqual(["decision"]);
    expect(form.requestedSchema.properties.decision).toMatchObject({
      type: "string",
      oneOf: [
        { const: "approve", title: "Approve" },
        { const: "reject", title: "Reject" },
      ],
    });
    expect(form.requestedSchema.properties.comment).toMatchObject({ type: "string" });

    expect(await stored(approvalId)).toMatchObject({ status: "approved", decided_by: "carol", comments: "Ship it" });
    const status = await alice.call("fetch_status", { task_id: taskId });
    expect(status.text).toContain("approved by carol");
  });

  test("reject, without naming the approval: the newest one waiting for the agent's roles", async () => {
    await pendingApproval("An older one");
    const { approvalId } = await pendingApproval("The newest one");
    const shown = answerForms(carol, () => ({ action: "accept", content: { decision: "reject", comment: "Not without tests" } }));
    const r = await carol.call("ask_person_to_decide", {});
    expect(r.structured).toMatchObject({
      outcome: "decided",
      approval: { approval_id: approvalId, status: "rejected", decided_by: "carol", comments: "Not without tests" },
    });
    expect(shown[0]!.message).toContain("Description: The newest one");
    expect(await stored(approvalId)).toMatchObject({ status: "rejected", decided_by: "carol", comments: "Not without tests" });
  });

  test("a comment is optional", async () => {
    const { approvalId } = await pendingApproval();
    answerForms(carol, () => ({ action: "accept", content: { decision: "approve" } }));
    const r = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.structured.approval).toMatchObject({ status: "approved", comments: "" });
  });

  test("decline: nothing is recorded, the approval stays pending", async () => {
    const { approvalId } = await pendingApproval();
    answerForms(carol, () => ({ action: "decline" }));
    const r = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({ outcome: "declined", approval: { status: "pending" } });
    expect(r.text).toContain("declined to decide");
    expect(r.text).toContain(`approval ${approvalId} stays pending`);
    expect(await stored(approvalId)).toMatchObject({ status: "pending", decided_by: null });
  });

  test("cancel: nothing is recorded, the approval stays pending", async () => {
    const { approvalId } = await pendingApproval();
    answerForms(carol, () => ({ action: "cancel" }));
    const r = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.structured).toMatchObject({ outcome: "cancelled" });
    expect(r.text).toContain("dismissed the form");
    expect(await stored(approvalId)).toMatchObject({ status: "pending", decided_by: null });
  });

  test("an answer that is not approve or reject records nothing", async () => {
    const { approvalId } = await pendingApproval();
    answerForms(carol, () => ({ action: "accept", content: { decision: "maybe", comment: "Ask me tomorrow" } }));
    const maybe = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(maybe.isError).toBe(true);
    expect(maybe.text).toStartWith('Not sent: decision: the form came back with "maybe", which is not valid');
    expect(maybe.text).toContain(`approval ${approvalId} stays pending`);
    answerForms(carol, () => ({ action: "accept", content: { comment: "No decision at all" } }));
    const missing = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(missing.isError).toBe(true);
    expect(missing.text).toStartWith("Not sent: decision: the form came back without it");
    expect(await stored(approvalId)).toMatchObject({ status: "pending", decided_by: null });
  });

  test("a client that fails to show the form: nothing is recorded, and the page is named", async () => {
    const { approvalId } = await pendingApproval();
    answerForms(carol, () => {
      throw new Error("no window to show it in");
    });
    const r = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.isError).toBe(true);
    expect(r.text).toStartWith("Not sent: the form got no answer (MCP error");
    expect(r.text).toContain("no window to show it in");
    expect(r.text).toContain(`/?approval=${approvalId}`);
    expect(await stored(approvalId)).toMatchObject({ status: "pending" });
  });

  test("a client that cannot show forms is pointed to the approvals page and decide_approval", async () => {
    const { approvalId } = await pendingApproval();
    const r = await lena.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.isError).toBe(true);
    expect(r.text).toContain("this MCP client cannot show forms");
    expect(r.text).toContain(new URL(`/?approval=${approvalId}`, mesh.controller.url).href);
    expect(r.text).toContain(`decide_approval(approval_id="${approvalId}")`);
    expect(await stored(approvalId)).toMatchObject({ status: "pending" });
  });

  test("an approval the agent may not decide is refused before anyone is asked", async () => {
    const { approvalId } = await pendingApproval();
    const shown = answerForms(bob, () => ({ action: "accept", content: { decision: "approve" } }));
    const r = await bob.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.isError).toBe(true);
    expect(r.text).toStartWith(`Not sent: you (bob) do not hold role lead, and only its holders decide approval ${approvalId}. Nobody was asked.`);
    expect(r.text).toContain(`/?approval=${approvalId}`);
    expect(shown).toEqual([]);
    expect(await stored(approvalId)).toMatchObject({ status: "pending" });
  });

  test("an approval the agent asked for itself is never put to its person: another holder decides", async () => {
    const dana = await mesh.agent("dana", ["lead", "reviewer"], FORMS);
    const shown = answerForms(dana, () => ({ action: "cancel" }));
    const sent = await dana.call("send_task", { target: "reviewer", task: { task_type: "deploy" } });
    const own = (await dana.call("request_approval", { task_id: sent.structured.task_id, approver_role: "lead", reason: "mine" })).structured.approval_id;
    const named = await dana.call("ask_person_to_decide", { approval_id: own });
    expect(named.text).toContain(`you asked for approval ${own} yourself; another holder of role lead must decide it`);
    // Chosen for it: the newest waiting approval it did not ask for.
    const { approvalId } = await pendingApproval();
    const chosen = await dana.call("ask_person_to_decide", {});
    expect(chosen.structured).toMatchObject({ outcome: "cancelled", approval: { approval_id: approvalId } });
    expect(shown).toHaveLength(1);
  });

  test("without an id, the approval put to the person is the newest the controller says they may decide: not one whose task has finished", async () => {
    const decidable = await pendingApproval("Ship the docs", "Public text");
    const moot = await pendingApproval("Rotate the keys", "Touches secrets");
    await alice.call("cancel_task", { task_id: moot.taskId });
    const shown = answerForms(carol, () => ({ action: "cancel" }));
    const chosen = await carol.call("ask_person_to_decide", {});
    expect(chosen.structured).toMatchObject({ outcome: "cancelled", approval: { approval_id: decidable.approvalId } });
    expect(shown).toHaveLength(1);
  });

  test("an answer that could not be recorded is handed back with the call that records it, so the person is not asked again", async () => {
    const { taskId, approvalId } = await pendingApproval();
    answerForms(carol, async () => {
      // While the person decides, the task is withdrawn: the decision can no longer be recorded.
      await alice.call("cancel_task", { task_id: taskId });
      return { action: "accept", content: { decision: "approve", comment: "ok by me" } };
    });
    const r = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(r.isError).toBe(true);
    expect(r.text).toContain('your person decided (approved, "ok by me"), but recording it failed');
    expect(r.text).toContain(`decide_approval(approval_id="${approvalId}", decision="approved", comments="ok by me"); do not ask them again.`);
    expect(await stored(approvalId)).toMatchObject({ status: "pending" });
  });

  test("nobody is asked when nothing waits, or when the approval is already decided", async () => {
    const quinn = await mesh.agent("quinn", ["quality"], FORMS);
    const shown = answerForms(quinn, () => ({ action: "cancel" }));
    const none = await quinn.call("ask_person_to_decide", {});
    expect(none.structured).toEqual({ outcome: "nothing_pending", approval: null, trace_id: none.structured.trace_id });
    expect(none.text).toContain("No approval is waiting for your roles.");

    const { approvalId } = await pendingApproval();
    await carol.call("decide_approval", { approval_id: approvalId, decision: "approved" });
    const carolShown = answerForms(carol, () => ({ action: "cancel" }));
    const done = await carol.call("ask_person_to_decide", { approval_id: approvalId });
    expect(done.structured).toMatchObject({ outcome: "already_decided", approval: { status: "approved", decided_by: "carol" } });
    expect(shown).toEqual([]);
    expect(carolShown).toEqual([]);
  });

  test("an unknown approval is not found", async () => {
    const r = await carol.call("ask_person_to_decide", { approval_id: "no-such-approval" });
    expect(r.isError).toBe(true);
    expect(r.text).toStartWith("Not found: No approval has the id no-such-approval.");
  });

  test("cancelling the call withdraws the form and records nothing", async () => {
    const { approvalId } = await pendingApproval();
    let shownForm!: () => void;
    const formShown = new Promise<void>((resolve) => (shownForm = resolve));
    let withdrawn!: (reason: unknown) => void;
    const formWithdrawn = new Promise((resolve) => (withdrawn = resolve));
    answerForms(carol, (signal) => {
      shownForm();
      // A person who never answers: only the server withdrawing the form ends this.
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => {
          withdrawn(signal.reason);
          reject(signal.reason);
        }),
      );
    });
    const cancel = new AbortController();
    const call = carol.call("ask_person_to_decide", { approval_id: approvalId }, { signal: cancel.signal });
    await formShown;
    cancel.abort("moved on");
    expect(await call.catch((e) => String(e))).toContain("moved on");
    expect(String(await formWithdrawn)).toContain("moved on");
    expect(await stored(approvalId)).toMatchObject({ status: "pending" });
    await carol.client.ping();
  });
});
