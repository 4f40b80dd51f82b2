/** `check_inbox`: the tasks addressed to my roles, optionally waiting for new ones. */
import { z } from "zod";
import { HELD, Id, LIMITS, Role, Task, TaskSpec, TaskStatus, ThreadMessage } from "../contract/schemas.ts";
import { taskList, threadLines } from "./describe.ts";
import { waitSeconds } from "./fields.ts";
import { defineTool, READS, succeed } from "./tool.ts";

/** Task details read at once for their threads. */
const DETAILS_AT_ONCE = 8;

export const checkInbox = defineTool({
  name: "check_inbox",
  title: "Check the inbox",
  description:
    "The tasks addressed to your roles (or one role), oldest first: by default the pending ones, waiting to be claimed. " +
    "With wait_seconds, waits for new ones when there are none. Take one with claim_task(task_id).",
  input: {
    role: Role.optional().describe("Only this role's tasks; default: every role your token grants."),
    status: TaskStatus.default("pending").describe(
      "Which tasks: `pending` (default) to find work, `claimed` to see what is being worked on, or a finished state.",
    ),
    task_type: TaskSpec.shape.task_type.optional().describe("Only tasks of this type, e.g. `code_review` or `notification`."),
    wait_seconds: waitSeconds("for a matching task when there is none yet"),
    limit: z.number().int().min(1).max(LIMITS.pageSize).default(20).describe("At most this many tasks."),
  },
  output: {
    tasks: z.array(Task),
    more: z.boolean().describe("More tasks match than the limit let through."),
    threads: z
      .record(Id, z.array(ThreadMessage))
      .describe("For claimed or input_required tasks: each one's questions, answers and notes, by task id (tasks without any are left out)."),
  },
  annotations: READS,
  async run({ role, status, task_type, wait_seconds, limit }, ctx) {
    // A session that waits on its inbox serves its roles; GET /roles shows it (a refusal here changes nothing for the inbox).
    if (wait_seconds) void ctx.client.call("reportPresence", { body: { kind: "session", instance: ctx.session, roles: role ? [role] : undefined } }, ctx.call);
    const stop = ctx.waiting(wait_seconds, "waiting for tasks");
    const r = await ctx.client
      .call("listTasks", { query: { for: "me", target: role, status, task_type, limit, wait: wait_seconds || undefined } }, ctx.call)
      .finally(stop);
    if (!r.ok) return r;
    const tasks = r.value.items;
    // The controller gives a cursor exactly when more follow, whether the page ended at its limit or its byte budget.
    const more = r.value.next_cursor !== null;
    // Work under way may have a conversation: the taker sees the answers where it looks for its work.
    const threads: Record<string, ThreadMessage[]> = {};
    // A few at a time: a page may list up to LIMITS.pageSize tasks.
    for (let i = 0; HELD.has(status) && i < tasks.length; i += DETAILS_AT_ONCE) {
      const details = await Promise.all(tasks.slice(i, i + DETAILS_AT_ONCE).map((t) => ctx.client.call("getTask", { params: { id: t.task_id } }, ctx.call)));
      for (const d of details) if (d.ok && d.value.thread.length > 0) threads[d.value.task_id] = d.value.thread;
    }
    const whose = role ? `role ${role}` : "your roles";
    const talks = Object.entries(threads).map(([id, thread]) => `Thread of ${id}:\n${threadLines(thread)}`);
    const text = tasks.length
      ? `${more ? `The oldest ${tasks.length}` : tasks.length} ${status} task(s) for ${whose}:\n${taskList(tasks)}` +
        (talks.length ? `\n${talks.join("\n")}` : "") +
        (more
          ? `\nMore are waiting: call check_inbox with a larger limit (up to ${LIMITS.pageSize})${status === "pending" ? ", or again once these are claimed" : ""}.`
          : "")
      : `No ${status} tasks for ${whose}${wait_seconds ? ` after waiting ${wait_seconds} s` : ""}.`;
    return succeed({ tasks, more, threads }, text);
  },
});
