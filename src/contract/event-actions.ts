/**
 * What the audit trail and the event stream say happened: one list, kept free of
 * imports so the browser page can take it without bundling zod. The schemas build
 * their enum from it.
 */
export const EVENT_ACTIONS = [
  "task.created",
  "task.claimed",
  "task.completed",
  "task.failed",
  "task.cancelled",
  "task.lease_lapsed",
  "task.retry_scheduled",
  "task.dead_lettered",
  "task.expired",
  "task.revived",
  "task.progress",
  "task.input_required",
  "task.answered",
  "task.noted",
  "approval.requested",
  "approval.approved",
  "approval.rejected",
  "approval.expired",
  "approval.escalated",
] as const;
