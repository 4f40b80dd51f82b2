/** `cancel_task`: withdraw a task I sent. */
import { CancelTaskRequest, Id, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { defineTool, SETTLES, succeed } from "./tool.ts";

export const cancelTask = defineTool({
  name: "cancel_task",
  title: "Cancel a task",
  description: "Withdraw a task you sent that is still pending or claimed, e.g. because it is no longer needed.",
  input: {
    task_id: Id.describe("The task's id, as send_task gave it."),
    reason: CancelTaskRequest.shape.reason.describe("Why it is withdrawn, for whoever holds it."),
  },
  output: { task: Task },
  annotations: SETTLES,
  async run({ task_id, reason }, ctx) {
    const r = await ctx.client.call("cancelTask", { params: { id: task_id }, body: { reason } }, ctx.call);
    if (!r.ok) return r;
    return succeed({ task: r.value }, taskMoved(`Cancelled task ${task_id}.`, r.value));
  },
});
