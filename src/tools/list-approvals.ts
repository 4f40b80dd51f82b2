/** `list_approvals`: the approvals my roles are asked to decide. */
import { z } from "zod";
import { Approval, ApprovalStatus, Id, Role } from "../contract/schemas.ts";
import { approvalLine } from "./describe.ts";
import { waitSeconds } from "./fields.ts";
import { defineTool, READS, succeed } from "./tool.ts";

export const listApprovals = defineTool({
  name: "list_approvals",
  title: "List approvals to decide",
  description:
    "The approvals your roles (or one role) are asked to decide, by default the pending ones. " +
    "With wait_seconds, waits for one to arrive. Read the task with fetch_status, then decide with decide_approval.",
  input: {
    role: Role.optional().describe("Only approvals for this role; default: every role your token grants."),
    status: ApprovalStatus.default("pending").describe("`pending` (default), `approved` or `rejected`."),
    task_id: Id.optional().describe("Only approvals of this task."),
    wait_seconds: waitSeconds("for an approval when there is none yet"),
  },
  output: { approvals: z.array(Approval) },
  annotations: READS,
  async run({ role, status, task_id, wait_seconds }, ctx) {
    const stop = ctx.waiting(wait_seconds, "waiting for approvals");
    const r = await ctx.client
      .call("listApprovals", { query: { for: "me", approver_role: role, status, task_id, wait: wait_seconds || undefined } }, ctx.call)
      .finally(stop);
    if (!r.ok) return r;
    const approvals = r.value.items;
    const whose = role ? `role ${role}` : "your roles";
    const text = approvals.length
      ? `${approvals.length} ${status} approval(s) for ${whose}:\n${approvals.map(approvalLine).join("\n")}`
      : `No ${status} approvals for ${whose}.`;
    return succeed({ approvals }, text);
  },
});
