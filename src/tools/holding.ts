/** What the tools that act on a held task share: the attempt this session claimed it in, and letting its lease go once settled. */
import type { Outcome } from "../client/controller-client.ts";
import { Attempt, HELD, type TaskStatus } from "../contract/schemas.ts";
import { refuse, type ToolContext, type ToolFailure } from "./tool.ts";

/** The attempt a holding tool takes: its session knows it, so only a claim made elsewhere gives it. */
export const heldAttemptInput = Attempt.optional().describe("Only for a task claimed outside this session: the attempt its claim answered with.");

/**
 * The attempt to finish `taskId` in: as given, or as this session claimed it. Without
 * either, the task is looked up, so an unknown or unreadable one is said as such.
 */
export async function heldAttempt(ctx: ToolContext, taskId: string, given: number | undefined): Promise<{ ok: true; attempt: number } | ToolFailure> {
  const attempt = given ?? ctx.leases.attemptOf(taskId);
  if (attempt !== undefined) return { ok: true, attempt };
  const task = await ctx.client.call("getTask", { params: { id: taskId } }, ctx.call);
  if (!task.ok) return task;
  const holder = task.value.claimed_by ? `, attempt ${task.value.attempt} held by ${task.value.claimed_by}` : "";
  return refuse(
    `this session has not claimed task ${taskId} (it is ${task.value.status}${holder}).`,
    "Claim it with claim_task first, or, if another session of yours claimed it, pass the attempt that claim answered with.",
    "task_id",
  );
}

/**
 * Once the controller says the lease is gone, or (`finished`) has settled the task, this
 * session stops renewing it. A refusal that leaves the task held (completing a parent whose
 * subtasks still run) keeps it: `keepOnConflict`; a lease truly lost is learnt by the next renewal.
 */
export function settled<T extends { status: string }>(ctx: ToolContext, taskId: string, outcome: Outcome<T>, keepOnConflict = false): Outcome<T> {
  if (outcome.ok ? !HELD.has(outcome.value.status as TaskStatus) : outcome.failure.kind === "conflict" && !keepOnConflict) ctx.leases.release(taskId);
  return outcome;
}
