/** Row ⇄ record mapping shared by the engines: JSON columns, keyset positions, what can be kept. */
import { refuseUnkeepable } from "../../contract/keepable.ts";
import type { ApprovalRecord, AuditEntry, EventAction, JsonObject, Presence, Task, ThreadMessage } from "../../contract/schemas.ts";
import type { Change, Positioned, StoreTx, WebSession } from "./store.ts";

type Row = Record<string, unknown>;

/** SQLite hands back JSON columns as text, PostgreSQL's jsonb as values. */
const json = (value: unknown): JsonObject | null =>
  value === null || value === undefined ? null : typeof value === "string" ? JSON.parse(value) : (value as JsonObject);

/** PostgreSQL hands back timestamptz as Date, SQLite as the text we stored. */
const time = (value: unknown): string => (value instanceof Date ? value.toISOString() : String(value));
export const timeOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : time(value));

export const toTask = (r: Row): Positioned<Task> => ({
  seq: Number(r.seq),
  task_id: String(r.task_id),
  target: String(r.target),
  source: String(r.source),
  task_type: String(r.task_type),
  description: (r.description as string | null) ?? null,
  data: json(r.data) ?? {},
  context: json(r.context) ?? {},
  priority: r.priority as Task["priority"],
  status: r.status as Task["status"],
  claimed_by: (r.claimed_by as string | null) ?? null,
  result: json(r.result),
  error: (r.error as string | null) ?? null,
  created_at: time(r.created_at),
  updated_at: time(r.updated_at),
  version: Number(r.version),
  trace_id: String(r.trace_id),
  attempt: Number(r.attempt),
  max_attempts: Number(r.max_attempts),
  lease_expires_at: timeOrNull(r.lease_expires_at),
  retry_at: timeOrNull(r.retry_at),
  deadline: timeOrNull(r.deadline),
  progress: json(r.progress),
  parent_task_id: (r.parent_task_id as string | null) ?? null,
});

export const toMessage = (r: Row): ThreadMessage => ({
  seq: Number(r.seq),
  kind: r.kind as ThreadMessage["kind"],
  author: String(r.author),
  at: time(r.at),
  text: String(r.text),
  data: json(r.data),
});

export const toApproval = (r: Row): Positioned<ApprovalRecord> => ({
  seq: Number(r.seq),
  approval_id: String(r.approval_id),
  task_id: String(r.task_id),
  approver_role: String(r.approver_role),
  reason: String(r.reason),
  status: r.status as ApprovalRecord["status"],
  requested_by: String(r.requested_by),
  decided_by: (r.decided_by as string | null) ?? null,
  comments: String(r.comments ?? ""),
  created_at: time(r.created_at),
  decided_at: timeOrNull(r.decided_at),
  trace_id: String(r.trace_id),
  expires_at: timeOrNull(r.expires_at),
  escalate_to: (r.escalate_to as string | null) ?? null,
  escalated_from: (r.escalated_from as string | null) ?? null,
});

export const toAudit = (r: Row): AuditEntry => {
  const findings = json(r.findings) as Record<string, number> | null;
  return { ...auditOf(r), ...(findings && { findings }) };
};

const auditOf = (r: Row): AuditEntry => ({
  seq: Number(r.seq),
  at: time(r.at),
  actor: String(r.actor),
  action: r.action as EventAction,
  task_id: String(r.task_id),
  approval_id: (r.approval_id as string | null) ?? null,
  from_status: (r.from_status as string | null) ?? null,
  to_status: (r.to_status as string | null) ?? null,
  trace_id: String(r.trace_id),
});

export const toChange = (r: Row): Change => ({
  ...toAudit(r),
  target: String(r.target),
  source: String(r.source),
  approver_role: (r.approver_role as string | null) ?? null,
  parent_task_id: (r.parent_task_id as string | null) ?? null,
});

export const toSession = (r: Row): WebSession => ({
  id_hash: String(r.id_hash),
  subject: String(r.subject),
  roles: (typeof r.roles === "string" ? JSON.parse(r.roles) : r.roles) as string[],
  csrf_token: String(r.csrf_token),
  created_at: time(r.created_at),
  expires_at: time(r.expires_at),
});

/** Drops the keyset position when a caller wants the plain record. */
export const withoutSeq = <T extends { seq: number }>({ seq: _seq, ...rest }: T): Omit<T, "seq"> => rest;

/**
 * Refuses values a database would not keep as given (PostgreSQL fails on U+0000, SQLite
 * turns a lone surrogate into U+FFFD, JSON writes Infinity as null), so every engine
 * answers alike: a 422 naming the field, for a write and for a lookup.
 */
export const refuseUnstorable = (value: unknown, name = "") => refuseUnkeepable(value, "This cannot be stored as given", name);

/** A unit of work whose every operation first refuses what cannot be kept (see refuseUnstorable). */
export function keepingText(tx: StoreTx): StoreTx {
  const checked = Object.entries(tx).map(([name, operation]: [string, (...args: unknown[]) => Promise<unknown>]) => [
    name,
    async (...args: unknown[]) => {
      for (const arg of args) refuseUnstorable(arg, typeof arg === "string" ? "id" : "");
      return operation(...args);
    },
  ]);
  return Object.fromEntries(checked) as StoreTx;
}

export const toPresence = (r: Record<string, unknown>): Presence => ({
  role: String(r.role),
  kind: r.kind as Presence["kind"],
  subject: String(r.subject),
  instance: String(r.instance),
  last_seen: time(r.last_seen),
});
