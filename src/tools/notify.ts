/** `notify(target, message, priority = "normal")`: a notification is a task of type "notification". */
import { z } from "zod";
import { LIMITS, Priority, Role, RouteTaskResponse } from "../contract/schemas.ts";
import { idempotencyKey } from "./fields.ts";
import { CREATES, defineTool, succeed } from "./tool.ts";

export const notify = defineTool({
  name: "notify",
  title: "Notify a role",
  description:
    "Tell whoever holds a role something they should know, without asking them to do work. " + "It arrives in their inbox as a task of type `notification`.",
  input: {
    target: Role.describe("The role to tell, e.g. `oncall`."),
    message: z.string().min(1, "must not be empty").max(LIMITS.textLength).describe("What they should know, in full sentences."),
    priority: Priority.default("normal").describe("How urgent: `low`, `normal` or `high`."),
    idempotency_key: idempotencyKey,
  },
  output: RouteTaskResponse.extend({ target: Role, priority: Priority }).shape,
  annotations: CREATES,
  async run({ target, message, priority, idempotency_key }, ctx) {
    const r = await ctx.client.call(
      "routeTask",
      { body: { target, task: { task_type: "notification", description: message, data: { priority } }, priority } },
      { ...ctx.call, idempotencyKey: idempotency_key },
    );
    if (!r.ok) return r;
    return succeed({ ...r.value, target, priority }, `Notified role ${target} (${priority} priority) as task ${r.value.task_id}.`);
  },
});
