/** `fail_task`: give up a claimed task, saying why, or hand it back to be tried again. */
import { FailTaskRequest, Id, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { defineTool, SETTLES, succeed } from "./tool.ts";
import { heldAttempt, heldAttemptInput, settled } from "./holding.ts";

const HEADLINES: Partial<Record<Task["status"], (t: Task) => string>> = {
  failed: (t) => `Marked task ${t.task_id} failed; its sender can see why.`,
  pending: (t) => `Handed task ${t.task_id} back to be tried again from ${t.retry_at} (attempt ${t.attempt} of ${t.max_attempts} used).`,
  dead_lettered: (t) => `Task ${t.task_id} has used all ${t.max_attempts} attempts, so it is dead-lettered; its sender or an admin may put it back.`,
};

export const failTask = defineTool({
  name: "fail_task",
  title: "Fail a task",
  description:
    "Give up a task you claimed, saying why, so that its sender can decide what to do instead; or, with retry, hand it back to be tried again (by you or another) after a short wait, until its attempts run out.",
  input: {
    task_id: Id.describe("The task's id, as check_inbox gave it."),
    reason: FailTaskRequest.shape.error.describe("Why it could not be done, and what would help."),
    retry: FailTaskRequest.shape.retry.describe(
      "True when trying again may succeed (a flaky service, a timeout); the task goes back to pending after a backoff.",
    ),
    attempt: heldAttemptInput,
  },
  output: { task: Task },
  annotations: SETTLES,
  async run({ task_id, reason, retry, attempt }, ctx) {
    const held = await heldAttempt(ctx, task_id, attempt);
    if (!held.ok) return held;
    const body = { attempt: held.attempt, error: reason, retry };
    const r = settled(ctx, task_id, await ctx.client.call("failTask", { params: { id: task_id }, body }, ctx.call));
    if (!r.ok) return r;
    return succeed({ task: r.value }, taskMoved(HEADLINES[r.value.status]?.(r.value) ?? `Task ${task_id} is ${r.value.status}.`, r.value));
  },
});
