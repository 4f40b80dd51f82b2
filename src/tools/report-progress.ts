/** `report_progress`: tell the sender of a task you hold how far along it is. */
import { Id, Progress, Task } from "../contract/schemas.ts";
import { taskMoved } from "./describe.ts";
import { heldAttempt, heldAttemptInput, settled } from "./holding.ts";
import { defineTool, REPORTS, succeed } from "./tool.ts";

export const reportProgress = defineTool({
  name: "report_progress",
  title: "Report progress on a task",
  description:
    "Tell whoever sent a task you claimed how far along it is (a short message, a percentage); they see it in fetch_status and on the page. " +
    "Your claim stays alive by itself while this session lives; this is only for the sender.",
  input: {
    task_id: Id.describe("The task's id, as claim_task gave it."),
    message: Progress.shape.message.describe("What is done and what is next, in a sentence."),
    percent: Progress.shape.percent.describe("How much of the work is done, 0 to 100."),
    attempt: heldAttemptInput,
  },
  output: { task: Task },
  annotations: REPORTS,
  async run({ task_id, message, percent, attempt }, ctx) {
    const held = await heldAttempt(ctx, task_id, attempt);
    if (!held.ok) return held;
    const body = { attempt: held.attempt, progress: { message, percent } };
    // A lost lease ends this session's renewals too.
    const r = settled(ctx, task_id, await ctx.client.call("heartbeatTask", { params: { id: task_id }, body }, ctx.call));
    if (!r.ok) return r;
    return succeed({ task: r.value }, taskMoved(`Told the sender of task ${task_id} how far along it is.`, r.value));
  },
});
