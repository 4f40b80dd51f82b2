/** `fetch_status(task_id)`: where a task stands, optionally waiting for it to change. */
import { z } from "zod";
import { Id, TaskDetail } from "../contract/schemas.ts";
import { taskStatus } from "./describe.ts";
import { waitSeconds } from "./fields.ts";
import { defineTool, READS, succeed } from "./tool.ts";

export const fetchStatus = defineTool({
  name: "fetch_status",
  title: "Fetch a task's status",
  description:
    "Where a task stands: its status, who holds it, its result or error, its approvals and its history. " +
    "With wait_seconds, waits for the task to change first (e.g. to see it completed or an approval decided).",
  input: {
    task_id: Id.describe("The task's id, as send_task or check_inbox gave it."),
    wait_seconds: waitSeconds("for the task to change"),
    after_version: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("With wait_seconds: wait until the task's version is above this (the version you last saw); default: its current version."),
  },
  output: { task: TaskDetail },
  annotations: READS,
  async run({ task_id, wait_seconds, after_version }, ctx) {
    const stop = ctx.waiting(wait_seconds, `waiting for task ${task_id} to change`);
    const r = await ctx.client.call("getTask", { params: { id: task_id }, query: { wait: wait_seconds || undefined, after_version } }, ctx.call).finally(stop);
    if (!r.ok) return r;
    // With a version to compare, a wait that ran out can say so.
    const unchanged = wait_seconds > 0 && after_version !== undefined && r.value.version <= after_version ? `Nothing changed within ${wait_seconds} s.\n` : "";
    return succeed({ task: r.value }, `${unchanged}${taskStatus(r.value)}`);
  },
});
