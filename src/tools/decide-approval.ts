/** `decide_approval`: approve or reject, once, as a holder of the approver role. */
import { DecisionRequest, Id, Approval } from "../contract/schemas.ts";
import { approvalLine } from "./describe.ts";
import { defineTool, SETTLES, succeed } from "./tool.ts";

export const decideApproval = defineTool({
  name: "decide_approval",
  title: "Decide an approval",
  description: "Approve or reject a task you were asked to approve. Decided once, for everyone; the requester sees it in fetch_status.",
  input: {
    approval_id: Id.describe("The approval's id, as list_approvals gave it."),
    decision: DecisionRequest.shape.decision.describe("`approved` or `rejected`."),
    comments: DecisionRequest.shape.comments.unwrap().default("").describe("Why, or under which conditions; the requester reads this."),
  },
  output: { approval: Approval },
  annotations: SETTLES,
  async run({ approval_id, decision, comments }, ctx) {
    const r = await ctx.client.call("decideApproval", { params: { id: approval_id }, body: { decision, comments } }, ctx.call);
    if (!r.ok) return r;
    return succeed({ approval: r.value }, `Approval ${approval_id} ${decision}.\n${approvalLine(r.value)}`);
  },
});
