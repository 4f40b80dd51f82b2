/** `claim_task`: take a pending task addressed to my role, as a lease this session keeps alive. */
import { Id, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { defineTool, SETTLES, succeed } from "./tool.ts";

export const claimTask = defineTool({
  name: "claim_task",
  title: "Claim a task",
  description:
    "Take a pending task addressed to your role, so that no one else does it. While this session lives it keeps the claim alive for you, however long the work takes. Then do the work and finish with complete_task or fail_task.",
  input: { task_id: Id.describe("The task's id, as check_inbox gave it.") },
  output: { task: Task },
  annotations: SETTLES,
  async run({ task_id }, ctx) {
    const r = await ctx.client.call("claimTask", { params: { id: task_id }, body: { lease_seconds: ctx.leases.leaseSeconds } }, ctx.call);
    if (!r.ok) return r;
    ctx.leases.hold(r.value, ctx.client);
    return succeed(
      { task: r.value },
      taskMoved(
        `Claimed task ${task_id} (attempt ${r.value.attempt}); it is yours while this session lives, which renews its lease for you. Finish with complete_task or fail_task.`,
        r.value,
      ),
    );
  },
});
