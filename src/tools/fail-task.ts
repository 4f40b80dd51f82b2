/** `fail_task`: give up a claimed task, saying why. */
import { FailTaskRequest, Id, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { defineTool, SETTLES, succeed } from "./tool.ts";

export const failTask = defineTool({
  name: "fail_task",
  title: "Fail a task",
  description: "Give up a task you claimed, saying why, so that its sender can decide what to do instead.",
  input: {
    task_id: Id.describe("The task's id, as check_inbox gave it."),
    reason: FailTaskRequest.shape.error.describe("Why it could not be done, and what would help."),
  },
  output: { task: Task },
  annotations: SETTLES,
  async run({ task_id, reason }, ctx) {
    const r = await ctx.client.call("failTask", { params: { id: task_id }, body: { error: reason } }, ctx.call);
    if (!r.ok) return r;
    return succeed({ task: r.value }, taskMoved(`Marked task ${task_id} failed; its sender can see why.`, r.value));
  },
});
