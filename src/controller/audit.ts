/** The one way a unit of work writes the audit trail, which is also the change feed (ADR 0001, point 4). */
import type { ApprovalRecord, EventAction, Task } from "../contract/schemas.ts";
import type { RequestContext } from "./request-context.ts";
import type { StoreTx } from "./store/store.ts";

export type Happened = {
  action: EventAction;
  task: Task;
  /** The approval asked for or decided, when the change is about one. */
  approval?: ApprovalRecord;
  from: string | null;
  to: string | null;
  /** What the privacy guard masked in the change's payload, by kind (never the values). */
  findings?: Record<string, number> | null;
};

/** Records what the caller did, with whom it concerns, so listeners can tell who may hear of it. */
export function recordChange(
  tx: StoreTx,
  { caller, traceId }: RequestContext,
  at: string,
  { action, task, approval, from, to, findings }: Happened,
): Promise<void> {
  return tx.appendAudit(
    {
      at,
      actor: caller.subject,
      action,
      task_id: task.task_id,
      approval_id: approval?.approval_id ?? null,
      from_status: from,
      to_status: to,
      trace_id: traceId,
      ...(findings && { findings }),
    },
    { target: task.target, source: task.source, approver_role: approval?.approver_role ?? null, parent_task_id: task.parent_task_id },
  );
}
