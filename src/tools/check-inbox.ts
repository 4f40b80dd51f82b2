/** `check_inbox`: the tasks addressed to my roles, optionally waiting for new ones. */
import { z } from "zod";
import { LIMITS, Role, Task, TaskSpec, TaskStatus } from "../lib/schemas.ts";
import { taskList } from "./describe.ts";
import { waitSeconds } from "./fields.ts";
import { acrossMyRoles } from "./my-roles.ts";
import { defineTool, READS, succeed } from "./tool.ts";

export const checkInbox = defineTool({
  name: "check_inbox",
  title: "Check the inbox",
  description:
    "The tasks addressed to your roles (or one role), oldest first: by default the pending ones, waiting to be claimed. " +
    "With wait_seconds, waits for new ones when there are none. Take one with claim_task(task_id).",
  input: {
    role: Role.optional().describe("Only this role's tasks; default: every role your token grants."),
    status: TaskStatus.default("pending").describe("Which tasks: `pending` (default) to find work, `claimed` to see what is being worked on, or a finished state."),
    task_type: TaskSpec.shape.task_type.optional().describe("Only tasks of this type, e.g. `code_review` or `notification`."),
    wait_seconds: waitSeconds("for a matching task when there is none yet"),
    limit: z.number().int().min(1).max(LIMITS.pageSize).default(20).describe("At most this many tasks per role."),
  },
  output: { tasks: z.array(Task), roles: z.array(Role).describe("The roles looked at.") },
  annotations: READS,
  async run({ role, status, task_type, wait_seconds, limit }, ctx) {
    const stop = ctx.waiting(wait_seconds, "waiting for tasks");
    const r = await acrossMyRoles(ctx, role, wait_seconds, (target, wait, call) => ctx.client.listTasks({ target, status, task_type, limit, wait }, call)).finally(stop);
    if (!r.ok) return r;
    const tasks = r.items.sort((a, b) => a.created_at.localeCompare(b.created_at));
    const roles = r.roles.join(", ");
    const text = tasks.length
      ? `${tasks.length} ${status} task(s) for ${roles}:\n${taskList(tasks)}`
      : `No ${status} tasks for ${roles}${wait_seconds ? ` after waiting ${wait_seconds} s` : ""}.`;
    return succeed({ tasks, roles: r.roles }, text);
  },
});
