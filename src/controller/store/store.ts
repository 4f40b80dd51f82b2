/**
 * The storage boundary. The mesh service owns every rule; a store only keeps rows,
 * runs a unit of work atomically and tells listeners about committed changes.
 * Each engine (SQLite, PostgreSQL) implements this and passes the same contract tests.
 */
import type { Visibility } from "../policy.ts";
import type { ApprovalRecord, ApprovalStatus, AuditEntry, ChangeEvent, JsonObject, Presence, Task, TaskStatus, ThreadMessage } from "../../contract/schemas.ts";

/** A committed change: one audit row. Long-polls and live events wake on these. */
export type Change = ChangeEvent;

export type NewAuditEntry = Omit<AuditEntry, "seq">;

/** Whom a change concerns, so listeners can tell who may hear of it and which waits it wakes. */
export type ChangeAbout = Pick<Change, "target" | "source" | "approver_role" | "parent_task_id">;

export type NewThreadMessage = Omit<ThreadMessage, "seq">;

/** Someone who is not an admin, as far as hearing of changes goes. */

/** What happened when a unit of work tried to take an idempotency key. */
export type IdempotencyReservation = { kind: "reserved" } | { kind: "replay"; request_hash: string; response: JsonObject };

export interface TaskFilter {
  /** Only tasks the caller may see; undefined means all (an admin). */
  visibleTo?: Visibility;
  /** Tasks for any of these roles. */
  targets?: readonly string[];
  source?: string;
  status?: TaskStatus;
  task_type?: string;
  /** Keyset position: the `seq` to continue after. */
  after?: number;
  order: "asc" | "desc";
  limit: number;
}

export interface ApprovalFilter {
  visibleTo?: Visibility;
  /** Approvals any of these roles decide. */
  approver_roles?: readonly string[];
  task_id?: string;
  status?: ApprovalStatus;
  decided_by?: string;
  after?: number;
  limit: number;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  task_id?: string;
  since?: string;
  until?: string;
  after?: number;
  limit: number;
}

/** A person signed in to the web page. The cookie holds the session id; the store keeps only its hash. */
export type WebSession = {
  id_hash: string;
  subject: string;
  roles: string[];
  /** Sent back by the page with every change; a forged cross-site request cannot know it. */
  csrf_token: string;
  created_at: string;
  expires_at: string;
};

/** Rows come back with their keyset position so the service can make cursors. */
export type Positioned<T> = T & { seq: number };

export type TaskPatch = Pick<
  Task,
  "status" | "claimed_by" | "result" | "error" | "updated_at" | "version" | "attempt" | "max_attempts" | "lease_expires_at" | "retry_at" | "progress"
>;
export type ApprovalPatch = Pick<
  ApprovalRecord,
  "status" | "decided_by" | "comments" | "decided_at" | "approver_role" | "expires_at" | "escalate_to" | "escalated_from"
>;

/** The operations allowed inside one atomic unit of work. */
export interface StoreTx {
  /**
   * Take `key` for `scope`, or find who already took it. Concurrent callers with one
   * key are serialised: the second sees the first's response once it has committed.
   */
  reserveIdempotency(scope: string, key: string, requestHash: string, now: string, expiresAt: string): Promise<IdempotencyReservation>;
  saveIdempotentResponse(scope: string, key: string, response: JsonObject): Promise<void>;
  /**
   * Keeps `scope` within its newest `keep` idempotency keys by forgetting older ones, but
   * never one taken at or after `protectedFrom` (a retry may still come for it): false
   * when the budget cannot be kept that way.
   */
  forgetOldestKeys(scope: string, keep: number, protectedFrom: string): Promise<boolean>;

  insertTask(task: Task): Promise<void>;
  /** Reads a task and locks it against concurrent changes until the unit of work ends. */
  getTaskForUpdate(id: string): Promise<Task | null>;
  updateTask(id: string, patch: TaskPatch): Promise<void>;

  insertApproval(approval: ApprovalRecord): Promise<void>;
  /** How many of a task's approvals wait for a decision, its own new ones included. */
  countPendingApprovals(taskId: string): Promise<number>;
  getApprovalForUpdate(id: string): Promise<ApprovalRecord | null>;
  updateApproval(id: string, patch: ApprovalPatch): Promise<void>;

  /**
   * A task whose deadline or lease has passed by `now`, locked for this unit of work;
   * null when none is due. Rows another controller holds are skipped, so each expiry
   * is acted on once however many controllers look.
   */
  lockDueTask(now: string): Promise<Task | null>;
  /** A pending approval whose expiry has passed by `now`, locked likewise; null when none is due. */
  lockDueApproval(now: string): Promise<ApprovalRecord | null>;

  /** Adds a message to a task's thread; answers it with its position. */
  insertMessage(taskId: string, message: NewThreadMessage): Promise<ThreadMessage>;
  /** How many messages a task's thread holds. */
  countMessages(taskId: string): Promise<number>;
  /** A task's subtasks, oldest first, locked for this unit of work. */
  lockSubtasks(parentId: string): Promise<Task[]>;

  /** Appends to the audit trail; listeners hear of it after commit. */
  appendAudit(entry: NewAuditEntry, about: ChangeAbout): Promise<void>;
}

export interface Store {
  readonly engine: "sqlite" | "postgres";
  /** Runs `work` atomically: all of it is committed, or none of it. */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;

  getTask(id: string): Promise<Task | null>;
  listTasks(filter: TaskFilter): Promise<Positioned<Task>[]>;
  getApproval(id: string): Promise<ApprovalRecord | null>;
  /** A task's thread, oldest first. */
  listThread(taskId: string): Promise<ThreadMessage[]>;
  /** A task's subtasks, oldest first. */
  listSubtasks(parentId: string): Promise<Task[]>;
  /** The status of each of these tasks that exists, e.g. to judge a page of approvals. */
  taskStatuses(ids: readonly string[]): Promise<Map<string, TaskStatus>>;
  listApprovals(filter: ApprovalFilter): Promise<Positioned<ApprovalRecord>[]>;
  /** Audit rows, newest first; with `task_id`, that task's history. */
  listAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /**
   * Changes after `seq`, oldest first, for resuming an event stream: with `hearer`, only
   * those that caller may hear, filtered in the database; without, all (an admin, the feed).
   */
  changesSince(seq: number, limit: number, hearer?: Visibility): Promise<Change[]>;

  /** Calls `listener` for every committed change, from any controller on this database. */
  onChange(listener: (change: Change) => void): () => void;

  /** The earliest time a lease, a deadline or an approval's expiry falls due; null when none is set. */
  nextDueAt(): Promise<string | null>;

  /** How many tasks are in each state, for /metrics. */
  countTasksByStatus(): Promise<Partial<Record<TaskStatus, number>>>;

  saveSession(session: WebSession): Promise<void>;
  /** The session with this id hash, unless it has expired by `now`. */
  findSession(idHash: string, now: string): Promise<WebSession | null>;
  deleteSession(idHash: string): Promise<void>;
  /** Marks a one-time sign-in ticket used; false when it already was (kept until it expires). */
  useTicket(ticketId: string, expiresAt: string): Promise<boolean>;

  /**
   * Retention: removes the payloads (description, data, context, result, error, approval
   * texts) of at most `limit` tasks in one of `statuses` last changed before `before`,
   * keeping ids, states and times. Says how many tasks it emptied; 0 when none is left.
   */
  removeOldPayloads(statuses: readonly TaskStatus[], before: string, limit: number): Promise<number>;
  /**
   * Erasure: removes every payload `subject` wrote or was sent about (tasks they sent or
   * claimed, approvals they asked for or decided, answers kept for their retries) and
   * records that it happened. Says how many records it emptied.
   */
  eraseSubject(subject: string, erasedBy: string, at: string): Promise<number>;

  /** Remembers that each worker or session was seen serving its role, until `expiresAt` (purgeExpired forgets it). */
  recordPresence(seen: readonly Presence[], expiresAt: string, keepPerSubject: number): Promise<void>;
  /** Each worker or session seen since `since`, the most recent first. */
  listPresence(since: string): Promise<Presence[]>;
  /** Forgets idempotency keys, sessions, used tickets and presence that expired by `now`; says how many rows went. */
  purgeExpired(now: string): Promise<number>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Raised by a store when its database cannot be reached; the service answers 503. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}
