/** `ask_sender`: the holder of a task asks its sender for what is missing, instead of failing it. */
import { AskRequest, Id, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { heldAttempt, heldAttemptInput } from "./holding.ts";
import { CREATES, defineTool, succeed } from "./tool.ts";

export const askSender = defineTool({
  name: "ask_sender",
  title: "Ask the sender of a task",
  description:
    "When a task you claimed lacks something (which branch, which account, a choice only the sender can make), ask its sender " +
    "instead of failing it. The task waits in input_required, still yours (its lease does not run out; its deadline still holds), " +
    "until the sender answers; then it is claimed by you again. Wait for the answer with fetch_status(task_id, wait_seconds).",
  input: {
    task_id: Id.describe("The task's id, as check_inbox gave it."),
    question: AskRequest.shape.question,
    data: AskRequest.shape.data,
    attempt: heldAttemptInput,
  },
  output: { task: Task },
  annotations: CREATES,
  async run({ task_id, question, data, attempt }, ctx) {
    const held = await heldAttempt(ctx, task_id, attempt);
    if (!held.ok) return held;
    const r = await ctx.client.call("askSender", { params: { id: task_id }, body: { attempt: held.attempt, question, data } }, ctx.call);
    if (!r.ok) return r;
    return succeed(
      { task: r.value },
      taskMoved(
        `Asked ${r.value.source}, the sender of task ${task_id}; it waits in input_required, still yours, until they answer.\n` +
          `Wait for the answer with fetch_status(task_id="${task_id}", wait_seconds=60); once it is claimed again, read the answer in its thread and carry on.`,
        r.value,
      ),
    );
  },
});
