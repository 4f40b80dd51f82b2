/** Every action the audit trail and the event stream name; the page imports this list (no zod here). */
export const EVENT_ACTIONS = ["task.created", "task.claimed", "task.completed", "task.failed", "task.cancelled", "approval.requested", "approval.approved", "approval.rejected"] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];
