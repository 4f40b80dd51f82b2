/** `request_approval(task_id, approver_role, reason, decision = "pending", comments = "")`, optionally waiting for the decision. */
import type { z } from "zod";
import { explainFailure } from "../client/explain.ts";
import { Approval, ApprovalRequest, LIMITS } from "../contract/schemas.ts";
import { approvalPage } from "./describe.ts";
import { idempotencyKey, waitSeconds } from "./fields.ts";
import { CREATES, defineTool, succeed, type ToolContext } from "./tool.ts";

/** A longer wait is several long-polls in a row; ten minutes is as long as one call should hold a client. */
const MAX_WAIT_SECONDS = 600;

const { task_id, approver_role, reason, decision, comments, expires_in_seconds, escalate_to } = ApprovalRequest.shape;

/** The approval as the requester sees it, decided or not. */
const Asked = Approval.pick({
  approval_id: true,
  status: true,
  task_id: true,
  approver_role: true,
  decided_by: true,
  comments: true,
  expires_at: true,
  escalated_from: true,
});

const keepWaiting = (taskId: string) =>
  `Wait for the decision with fetch_status(task_id="${taskId}", wait_seconds=60); calling request_approval again would ask a second time.`;

/** Long-polls the approval, one controller wait after another, until it is decided, expires, escalates or `seconds` are up. */
async function waitForDecision(id: string, role: string, seconds: number, ctx: ToolContext) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const wait = Math.min(LIMITS.waitSeconds, Math.max(0, deadline - Date.now()) / 1000);
    const r = await ctx.client.call("getApproval", { params: { id }, query: { wait } }, ctx.call);
    if (!r.ok || r.value.status !== "pending" || r.value.approver_role !== role || Date.now() >= deadline) return r;
  }
}

/** What became of an approval that is no longer simply waiting, in words for the agent. */
function outcome(a: z.infer<typeof Asked>, seconds: number): string {
  if (a.status === "expired") return "Nobody decided it in time, so it expired; ask again if it is still needed.";
  if (a.status !== "pending") return `${a.decided_by} ${a.status} it${a.comments ? `, commenting: ${a.comments}` : ", without comments"}.`;
  if (a.escalated_from)
    return `Role ${a.escalated_from} did not decide it in time, so it passed to role ${a.approver_role}; it is pending.\n${keepWaiting(a.task_id)}`;
  return `Still pending after ${seconds} s.\n${keepWaiting(a.task_id)}`;
}

export const requestApproval = defineTool({
  name: "request_approval",
  title: "Ask a role to approve a task",
  description:
    "Ask whoever holds a role (often a person) to approve or reject a task before it goes on. " +
    `Answers at once with the approval_id, or with wait_seconds (up to ${MAX_WAIT_SECONDS}, i.e. 10 minutes) waits for the decision, ` +
    "with progress notifications meanwhile, and answers with it: approved or rejected, by whom, with their comments. " +
    "A decision that comes later shows in fetch_status(task_id) under approvals.",
  input: {
    task_id: task_id.describe("The task that needs approval."),
    approver_role: approver_role.describe("The role whose holders may decide, e.g. `lead`."),
    reason: reason.describe("Why approval is needed, in words the person deciding can judge."),
    decision: decision.unwrap().default("pending").describe("Kept for the seed's contract: always `pending`. The approver decides with decide_approval."),
    comments: comments.unwrap().default("").describe("Anything else the approver should know."),
    expires_in_seconds,
    escalate_to,
    idempotency_key: idempotencyKey,
    wait_seconds: waitSeconds("for the decision", MAX_WAIT_SECONDS),
  },
  output: {
    ...Asked.shape,
    status: Asked.shape.status.describe("`pending` until someone decides, then `approved` or `rejected`; `expired` if nobody decided in time."),
    comments: Asked.shape.comments.describe("The decider's comments once decided; until then the ones sent with the request."),
  },
  annotations: CREATES,
  async run({ idempotency_key, wait_seconds, ...args }, ctx) {
    const r = await ctx.client.call("requestApproval", { body: args }, { ...ctx.call, idempotencyKey: idempotency_key });
    if (!r.ok) return r;
    const id = r.value.approval_id;
    const asked = `Asked role ${args.approver_role} to approve task ${args.task_id} (approval ${id}; a person decides it at ${approvalPage(ctx.client.baseUrl, id)}).`;
    const pending = {
      approval_id: id,
      status: r.value.status,
      task_id: args.task_id,
      approver_role: args.approver_role,
      decided_by: null,
      comments: args.comments,
      expires_at: null,
      escalated_from: null,
    };
    if (wait_seconds === 0) return succeed(pending, `${asked} It is pending.\n${keepWaiting(args.task_id)}`);

    const stop = ctx.waiting(wait_seconds, `waiting for role ${args.approver_role} to decide approval ${id}`);
    const waited = await waitForDecision(id, args.approver_role, wait_seconds, ctx).finally(stop);
    // The approval stands even if waiting failed: say so, or the caller may ask again.
    if (!waited.ok)
      return succeed(pending, `${asked} It is pending, but waiting for the decision failed:\n${explainFailure(waited.failure, ctx.client.tokens.origin)}`);
    const a = Asked.parse(waited.value);
    return succeed(a, `${asked}\n${outcome(a, wait_seconds)}`);
  },
});
