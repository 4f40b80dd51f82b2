/**
 * Three agents, each the compiled binary over stdio with its own identity, hand one
 * task along: alice sends it, bob takes it from his inbox and asks for approval,
 * carol approves, bob completes it, and alice, waiting, sees it completed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Agent } from "./support/agent.ts";
import { startMesh, type Mesh } from "./support/mesh.ts";

let mesh: Mesh;
beforeAll(async () => (mesh = await startMesh()));
afterAll(() => mesh.stop());

/** Calls a waiting tool and resolves `started` once the server reports that it waits. */
function waitingCall(agent: Agent, tool: string, args: Record<string, unknown>) {
  let started!: () => void;
  const waiting = new Promise<void>((resolve) => (started = resolve));
  const result = agent.call(tool, args, { onprogress: () => started() });
  return { waiting, result };
}

test("send → inbox → claim → approval → decision → complete → the sender sees it", async () => {
  const [alice, bob, carol] = await Promise.all([mesh.agent("alice", ["dev"]), mesh.agent("bob", ["reviewer"]), mesh.agent("carol", ["lead"])]);
  const traces: string[] = [];
  const ok = async (agent: Agent, tool: string, args: Record<string, unknown>) => {
    const r = await agent.call(tool, args);
    expect({ tool, isError: r.isError ?? false, text: r.isError ? r.text : "" }).toEqual({ tool, isError: false, text: "" });
    traces.push(r.structured.trace_id);
    return r.structured;
  };

  // bob is already waiting for work when alice sends it
  const inbox = waitingCall(bob, "check_inbox", { wait_seconds: 20 });
  await inbox.waiting;
  const sent = await ok(alice, "send_task", {
    target: "reviewer",
    task: { type: "code_review", description: "Review PR 42", pr: 42 },
    context: { repo: "mesh" },
  });
  const found = await inbox.result;
  expect(found.structured.tasks).toHaveLength(1);
  expect(found.structured.tasks[0]).toMatchObject({ task_id: sent.task_id, source: "alice", data: { pr: 42 }, context: { repo: "mesh" } });

  await ok(bob, "claim_task", { task_id: sent.task_id });
  const asked = await ok(bob, "request_approval", { task_id: sent.task_id, approver_role: "lead", reason: "Changes the billing code" });

  const pending = await ok(carol, "list_approvals", { wait_seconds: 20 });
  expect(pending.approvals.map((a: any) => a.approval_id)).toEqual([asked.approval_id]);
  await ok(carol, "decide_approval", { approval_id: asked.approval_id, decision: "approved", comments: "Ship it" });

  const seen = await ok(bob, "fetch_status", { task_id: sent.task_id });
  expect(seen.task.approvals[0]).toMatchObject({ status: "approved", decided_by: "carol", comments: "Ship it" });

  // alice waits for the next change while bob finishes
  const outcome = waitingCall(alice, "fetch_status", { task_id: sent.task_id, wait_seconds: 20, after_version: seen.task.version });
  await outcome.waiting;
  await ok(bob, "complete_task", { task_id: sent.task_id, result: { verdict: "approved and merged" } });
  const final = await outcome.result;
  expect(final.structured.task).toMatchObject({ status: "completed", claimed_by: "bob", result: { verdict: "approved and merged" } });
  expect(final.text).toContain("is completed");
  traces.push(final.structured.trace_id);

  // One trace id per tool call, and the controller's history carries the ones that changed something.
  const history = final.structured.task.history as { action: string; actor: string; trace_id: string }[];
  expect(history.map((h) => [h.action, h.actor])).toEqual([
    ["task.created", "alice"],
    ["task.claimed", "bob"],
    ["approval.requested", "bob"],
    ["approval.approved", "carol"],
    ["task.completed", "bob"],
  ]);
  for (const h of history) expect(traces).toContain(h.trace_id);
  expect(new Set(traces).size).toBe(traces.length);
});
