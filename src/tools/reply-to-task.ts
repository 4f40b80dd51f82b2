/** `reply_to_task`: the sender answers the question its task's holder asked. */
import { Id, ReplyRequest, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { CREATES, defineTool, succeed } from "./tool.ts";

export const replyToTask = defineTool({
  name: "reply_to_task",
  title: "Answer a question about a task you sent",
  description:
    "Answer the question the holder of a task you sent asked (the task is input_required; fetch_status shows the question in its thread). " +
    "The task goes back to its holder, claimed, to carry on.",
  input: {
    task_id: Id.describe("The task's id, as send_task gave it."),
    answer: ReplyRequest.shape.answer,
    data: ReplyRequest.shape.data,
  },
  output: { task: Task },
  annotations: CREATES,
  async run({ task_id, answer, data }, ctx) {
    const r = await ctx.client.call("replyToTask", { params: { id: task_id }, body: { answer, data } }, ctx.call);
    if (!r.ok) return r;
    return succeed(
      { task: r.value },
      taskMoved(`Answered; task ${task_id} is back with ${r.value.claimed_by}. Follow it with fetch_status(task_id="${task_id}", wait_seconds=30).`, r.value),
    );
  },
});
