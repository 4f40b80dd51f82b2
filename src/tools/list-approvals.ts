/** `list_approvals`: the approvals my roles are asked to decide. */
import { z } from "zod";
import { Approval, ApprovalStatus, Id, Role } from "../lib/schemas.ts";
import { approvalLine } from "./describe.ts";
import { waitSeconds } from "./fields.ts";
import { acrossMyRoles } from "./my-roles.ts";
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
  output: { approvals: z.array(Approval), roles: z.array(Role).describe("The roles looked at.") },
  annotations: READS,
  async run({ role, status, task_id, wait_seconds }, ctx) {
    const stop = ctx.waiting(wait_seconds, "waiting for approvals");
    const r = await acrossMyRoles(ctx, role, wait_seconds, (approver_role, wait, call) => ctx.client.listApprovals({ approver_role, status, task_id, wait }, call)).finally(stop);
    if (!r.ok) return r;
    const approvals = r.items.sort((a, b) => a.created_at.localeCompare(b.created_at));
    const roles = r.roles.join(", ");
    const text = approvals.length ? `${approvals.length} ${status} approval(s) for ${roles}:\n${approvals.map(approvalLine).join("\n")}` : `No ${status} approvals for ${roles}.`;
    return succeed({ approvals, roles: r.roles }, text);
  },
});
