/**
 * The clocks that bear on a task or an approval (attempts, lease, progress, retry time,
 * deadline, dead letter, expiry, escalation), in words: one wording for the tools, the
 * terminal and the page. Types only from the contract, so the page bundles it without zod.
 */
import type { ApprovalRecord, Task } from "../contract/schemas.ts";

/** One line per clock that bears on the task now. */
export function taskClocks(t: Task): string[] {
  const percent = t.progress?.percent === undefined ? "" : `${t.progress.percent}%`;
  const progress = [percent, t.progress?.message].filter(Boolean).join(", ");
  const lines = [
    t.attempt > 0 && `Attempt: ${t.attempt} of ${t.max_attempts}`,
    t.status === "input_required" && `Lease: kept for ${t.claimed_by} while the task waits for its sender's answer`,
    t.status === "claimed" &&
      t.lease_expires_at !== null &&
      `Lease: held by ${t.claimed_by} until ${t.lease_expires_at} unless renewed (its holder's MCP session renews it while it lives)`,
    progress !== "" && `Progress: ${progress}`,
    t.status === "pending" && t.retry_at !== null && `Retry: the last attempt failed; it may be claimed again from ${t.retry_at}`,
    t.deadline !== null && `Deadline: ${t.deadline}${t.status === "expired" ? " (missed)" : ""}`,
    t.status === "dead_lettered" && `Dead letter: all ${t.max_attempts} attempts are used; its sender or an admin may put it back with a fresh budget`,
  ];
  return lines.filter((line): line is string => typeof line === "string");
}

/** When an undecided approval expires or passes on, and whether it already did: parts of a sentence. */
export function approvalClock(a: Pick<ApprovalRecord, "status" | "expires_at" | "escalate_to" | "escalated_from">): string[] {
  const parts: string[] = [];
  if (a.escalated_from) parts.push(`escalated from role ${a.escalated_from}, who did not decide in time`);
  if (a.status === "pending" && a.expires_at !== null)
    parts.push(`${a.escalate_to ? `passes to role ${a.escalate_to}` : "expires"} at ${a.expires_at} if undecided`);
  return parts;
}
