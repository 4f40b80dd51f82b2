/** `complete_task`: finish a claimed task with its result. */
import { CompleteTaskRequest, Id, MovedTask } from "../contract/schemas.ts";
import { maskedNote, taskMoved } from "./describe.ts";
import { defineTool, SETTLES, succeed } from "./tool.ts";
import { heldAttempt, heldAttemptInput, settled } from "./holding.ts";

export const completeTask = defineTool({
  name: "complete_task",
  title: "Complete a task",
  description: "Finish a task you claimed and hand its result back to whoever sent it.",
  input: {
    task_id: Id.describe("The task's id, as check_inbox gave it."),
    result: CompleteTaskRequest.shape.result
      .unwrap()
      .default({})
      .describe("The outcome as an object the sender can use, e.g. {summary: '…', pull_request: 42}."),
    attempt: heldAttemptInput,
    force: CompleteTaskRequest.shape.force,
  },
  output: { task: MovedTask },
  annotations: SETTLES,
  async run({ task_id, result, attempt, force }, ctx) {
    const held = await heldAttempt(ctx, task_id, attempt);
    if (!held.ok) return held;
    const r = settled(
      ctx,
      task_id,
      await ctx.client.call("completeTask", { params: { id: task_id }, body: { attempt: held.attempt, result, force } }, ctx.call),
      // Refused for unfinished subtasks or a question still open, the task stays this session's.
      true,
    );
    if (!r.ok) return r;
    const done = taskMoved(`Completed task ${task_id}; its sender can see the result.`, r.value);
    return succeed({ task: r.value }, [done, maskedNote(r.value.masked)].filter(Boolean).join("\n"));
  },
});
