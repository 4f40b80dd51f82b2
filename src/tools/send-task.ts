/** `send_task(target, task, context = {})`: the seed's way to hand work to a role. */
import { z } from "zod";
import { JsonObject, OPEN, Role, RouteTaskRequest, RouteTaskResponse, TaskSpec } from "../contract/schemas.ts";
import { maskedNote } from "./describe.ts";
import { idempotencyKey } from "./fields.ts";
import { CREATES, defineTool, refuse, succeed, type ToolContext } from "./tool.ts";

const FreeFormTask = TaskSpec.partial()
  .extend({ type: z.string().optional().describe("Accepted in place of task_type.") })
  .loose()
  .meta(OPEN)
  .describe(
    "The work. Give {task_type, description, data}, or any object such as {type: 'review', files: [...]}: " +
      "`type` stands in for task_type (default `task`), and every other field is kept in data.",
  );

type Normalised = { ok: true; task: TaskSpec } | { ok: false; field: string; message: string };

/** Brings a free-form task into the {task_type, description, data} shape without losing a field. */
export function normaliseTask(raw: z.infer<typeof FreeFormTask>): Normalised {
  const { task_type, type, description, data, ...rest } = raw;
  const typeField = task_type !== undefined ? "task_type" : type !== undefined ? "type" : undefined;
  // With both given, task_type names the work and `type` is just another field.
  const extras: Record<string, unknown> = task_type !== undefined && type !== undefined ? { type, ...rest } : rest;
  const clash = Object.keys(extras).find((key) => data && key in data);
  if (clash) return { ok: false, field: `task.${clash}`, message: "is given both in task and in task.data; give it once" };
  const merged = { ...data, ...extras };
  const parsed = TaskSpec.safeParse({
    task_type: task_type ?? type ?? "task",
    ...(description !== undefined && { description }),
    ...(Object.keys(merged).length > 0 && { data: merged }),
  });
  if (parsed.success) return { ok: true, task: parsed.data };
  const issue = parsed.error.issues[0]!;
  const field = issue.path[0] === "task_type" && typeField ? typeField : issue.path.join(".");
  return { ok: false, field: `task.${field}`, message: issue.message };
}

/** A line for a task sent to a role no worker or session has served lately: it waits until one does. Nothing when unknown. */
async function unservedNote(target: string, ctx: ToolContext): Promise<string> {
  const roles = await ctx.client.call("listRoles", {}, ctx.call);
  if (!roles.ok) return "";
  const served = roles.value.items.find((r) => r.role === target);
  if (!served) return `\nNote: no agent has served role ${target} in the last hour; the task waits until one does (e.g. agent-mesh worker --role ${target}).`;
  if (served.workers + served.sessions === 0)
    return `\nNote: no agent serves role ${target} right now (one last did at ${served.servers[0]?.last_seen}); the task waits until one does.`;
  return "";
}

const output = RouteTaskResponse.extend({ target: Role, task: TaskSpec.describe("The task as sent, after normalising.") }).shape;

export const sendTask = defineTool({
  name: "send_task",
  title: "Send a task to a role",
  description:
    "Hand a piece of work to whoever holds a role (another agent or a person). Answers at once with the task_id; " +
    "the task stays pending until a holder of the role claims it. Follow it with fetch_status(task_id, wait_seconds).",
  input: {
    target: Role.describe("The role that should do the work, e.g. `reviewer`."),
    task: FreeFormTask,
    context: JsonObject.default({}).describe("Where the task comes from, for the taker: conversation, repository, ticket."),
    max_attempts: RouteTaskRequest.shape.max_attempts,
    deadline: RouteTaskRequest.shape.deadline,
    deadline_seconds: RouteTaskRequest.shape.deadline_seconds,
    parent_task_id: RouteTaskRequest.shape.parent_task_id,
    idempotency_key: idempotencyKey,
  },
  output,
  annotations: CREATES,
  async run({ target, task, context, idempotency_key, parent_task_id, ...limits }, ctx) {
    const normalised = normaliseTask(task);
    if (!normalised.ok) return refuse(normalised.message, "Correct that field and call again.", normalised.field);
    const body = { target, task: normalised.task, context, parent_task_id, ...limits };
    const r = await ctx.client.call("routeTask", { body }, { ...ctx.call, idempotencyKey: idempotency_key });
    if (!r.ok) return r;
    const unserved = await unservedNote(target, ctx);
    return succeed(
      { ...r.value, target, task: normalised.task },
      `Sent task ${r.value.task_id} (${normalised.task.task_type}) to role ${target}; it is pending until a holder of ${target} claims it.` +
        (limits.deadline !== undefined || limits.deadline_seconds !== undefined ? " It expires if not finished by its deadline.\n" : "\n") +
        (parent_task_id === undefined
          ? `Follow it with fetch_status(task_id="${r.value.task_id}", wait_seconds=30).`
          : `It is a subtask of ${parent_task_id}: fetch_status(task_id="${parent_task_id}", wait_seconds=60) wakes when any of its subtasks changes.`) +
        (r.value.masked ? `\n${maskedNote(r.value.masked)}` : "") +
        unserved,
    );
  },
});
