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
  "approval.requested",
  "approval.approved",
  "approval.rejected",
] as const;
