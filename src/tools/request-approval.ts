/** `request_approval(task_id, approver_role, reason, decision = "pending", comments = "")`. */
import { ApprovalCreated, ApprovalRequest } from "../lib/schemas.ts";
import { idempotencyKey } from "./fields.ts";
import { CREATES, defineTool, succeed } from "./tool.ts";

const { task_id, approver_role, reason, decision, comments } = ApprovalRequest.shape;

export const requestApproval = defineTool({
  name: "request_approval",
  title: "Ask a role to approve a task",
  description:
    "Ask whoever holds a role (often a person) to approve or reject a task before it goes on. " +
    "Answers at once with the approval_id; the decision comes later and shows in fetch_status(task_id) under approvals.",
  input: {
    task_id: task_id.describe("The task that needs approval."),
    approver_role: approver_role.describe("The role whose holders may decide, e.g. `lead`."),
    reason: reason.describe("Why approval is needed, in words the person deciding can judge."),
    decision: decision.unwrap().default("pending").describe("Kept for the seed's contract: always `pending`. The approver decides with decide_approval."),
    comments: comments.unwrap().default("").describe("Anything else the approver should know."),
    idempotency_key: idempotencyKey,
  },
  output: ApprovalCreated.extend({ task_id, approver_role }).shape,
  annotations: CREATES,
  async run({ idempotency_key, ...args }, ctx) {
    const r = await ctx.client.requestApproval(args, { ...ctx.call, idempotencyKey: idempotency_key });
    if (!r.ok) return r;
    return succeed(
      { ...r.value, task_id: args.task_id, approver_role: args.approver_role },
      `Asked role ${args.approver_role} to approve task ${args.task_id} (approval ${r.value.approval_id}, pending).\n` +
        `Wait for the decision with fetch_status(task_id="${args.task_id}", wait_seconds=30).`,
    );
  },
});
