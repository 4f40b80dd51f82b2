/**
 * The mesh service: the task and approval state machines, applied as the policy
 * (policy.ts) says who may do what. Routes only translate HTTP; the machinery the
 * service runs on is elsewhere: waiting and event streams in live.ts, idempotent units
 * of work in unit-of-work.ts, audit rows in audit.ts, timers in clocks.ts, the privacy
 * guard in privacy/.
 */
import { MeshError } from "../contract/errors.ts";
import type {
  Approval,
  ApprovalCreated,
  ApprovalPage,
  ApprovalQuery,
  ApprovalReadQuery,
  ApprovalRecord,
  ApprovalRequest,
  AuditPage,
  AuditQuery,
  DecidedApproval,
  DecisionRequest,
  Erasure,
  HeartbeatRequest,
  HistoryPage,
  JsonObject,
  MaskedField,
  Me,
  MovedTask,
  PresenceRecorded,
  PresenceReport,
  RoleList,
  NoteRequest,
  ReplyRequest,
  AskRequest,
  Subtask,
  ThreadMessage,
  RouteTaskRequest,
  RouteTaskResponse,
  Task,
  TaskDetail,
  TaskListQuery,
  TaskPage,
  TaskQuery,
  TaskReadQuery,
} from "../contract/schemas.ts";
import {
  FINISHED,
  HELD,
  LIMITS,
  Priority,
  startsFrom,
  Subtask as SubtaskSchema,
  Task as TaskSchema,
  TaskStatus,
  TRANSITIONS,
  type EventAction,
} from "../contract/schemas.ts";
import { newTraceId } from "../lib/trace.ts";
import { recordChange } from "./audit.ts";
import type { RequestContext } from "./request-context.ts";
import { Live, type EventStream } from "./live.ts";
import { decodeCursor, encodeCursor, pageOf } from "./paging.ts";
import {
  callerOf,
  holdsLease,
  leaseLost,
  mayAddSubtask,
  mayAskForApproval,
  mayCompleteWith,
  mayDecide,
  mayErase,
  mayHear,
  mayMove,
  mayNote,
  mayReadApproval,
  mayReadAudit,
  mayReadTask,
  mayRevive,
  mayServe,
  readApprovalRefusal,
  readsAsHolder,
  readTaskRefusal,
  visibilityOf,
  type Caller,
  type CallerMove,
  type Verdict,
} from "./policy.ts";
import type { NewThreadMessage, StoreTx, Store } from "./store/store.ts";
import { withoutSeq } from "./store/rows.ts";
import { keptWhole, UnitsOfWork, type Keeping } from "./unit-of-work.ts";
import { countsOf, type PrivacyGuard } from "./privacy/guard.ts";

/** What an event stream hands the routes. */
export { HEARTBEAT, type EventStream } from "./live.ts";

export type ServiceOptions = {
  /** How long an Idempotency-Key is remembered. */
  idempotencyTtlSeconds: number;
  /** Idempotency-Keys remembered per caller; past it the oldest are forgotten. */
  idempotencyKeysPerCaller: number;
  /** How long a key is surely remembered, budget or not. */
  idempotencyRetryWindowSeconds: number;
  /** Long-polls one caller may hold open at once. */
  maxWaitsPerCaller: number;
  /** Approvals one task may have waiting for a decision at once. */
  maxOpenApprovalsPerTask: number;
  /** A claim's lease when the claimant does not say. */
  leaseSeconds: number;
  /** What may be stored: every payload passes it first. */
  privacy: PrivacyGuard;
  now?: () => Date;
};

/** Who the audit trail says acted when the controller's clocks move a task (a lease lapsing, a deadline passing). */
export const CONTROLLER_ACTOR = "agent-mesh";

/** Expiries one controller acts on at once; each is still its own unit of work. */
const DUE_WORKERS = 4;

/** Backoff before a retried task may be claimed again: exponential from 1 s, at most 5 min, with jitter (half to all of it). */
export const retryDelayMs = (attempt: number) => Math.min(300_000, 1000 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);

const secondsAfter = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

/** What the clocks did, for /metrics. */
export type TimerCounts = Record<"leases_lapsed" | "retries" | "dead_letters" | "deadlines_missed" | "approvals_expired" | "approvals_escalated", number>;

/** What a move changes in a task; the rest of it stays as it was sent. */
const TaskAsMoved = TaskSchema.pick({
  task_id: true,
  status: true,
  claimed_by: true,
  error: true,
  updated_at: true,
  version: true,
  attempt: true,
  max_attempts: true,
  lease_expires_at: true,
  retry_at: true,
  progress: true,
});

/**
 * A move answers with the task as the move left it; a replay must get that task again
 * even if it has moved on since (ADR 0003). Only what a move changes is kept. The rest
 * is the task as it is now: the result is set only by the move that completes a task,
 * and nothing changes a completed task, so it is null before and final after.
 */
const TASK_AS_MOVED: Keeping<Task> = {
  keep: (task) => TaskAsMoved.parse(task),
  restore: async (kept, tx) => {
    const moved = TaskAsMoved.parse(kept);
    const now = await tx.getTaskForUpdate(moved.task_id);
    if (!now) throw new Error(`task ${moved.task_id} of a kept answer is gone`);
    return { ...now, ...moved, result: moved.status === "completed" ? now.result : null };
  },
};

/** An approval as `caller` reads it: with the policy's answer to whether they may decide it now. */
function seenBy(caller: Caller, approval: ApprovalRecord, taskStatus: TaskStatus): Approval {
  const verdict = mayDecide(caller, approval, { task_id: approval.task_id, status: taskStatus });
  return { ...approval, may_decide: verdict.ok ? { allowed: true } : { allowed: false, refusal: verdict.refusal, detail: verdict.why } };
}

/** What an answer says of masking: nothing when nothing was masked. */
const saying = (masked: MaskedField[]) => (masked.length ? { masked } : {});

/** Retention empties this many tasks per transaction, so requests queue behind a short one at most. */
const RETENTION_BATCH = 200;

/**
 * Everything a list read depends on, so waiters that would read the same share one
 * read: who reads (null when it does not matter) and the query.
 */
const readKey = (list: string, caller: Caller | null, query: object) =>
  JSON.stringify([list, caller && [caller.subject, [...caller.roles].sort(), caller.isAdmin], { ...query, wait: undefined }]);

/** A refusal from the policy, as the error the API answers with. */
function enforce(verdict: Verdict): void {
  if (!verdict.ok) throw new MeshError(verdict.kind, verdict.why);
}

export class MeshService {
  readonly #store: Store;
  readonly #clock: () => Date;
  readonly #live: Live;
  readonly #work: UnitsOfWork;
  readonly #maxOpenApprovalsPerTask: number;
  readonly #leaseSeconds: number;
  readonly #privacy: PrivacyGuard;
  readonly #timerCounts: TimerCounts = {
    leases_lapsed: 0,
    retries: 0,
    dead_letters: 0,
    deadlines_missed: 0,
    approvals_expired: 0,
    approvals_escalated: 0,
  };

  constructor(store: Store, options: ServiceOptions) {
    this.#store = store;
    this.#maxOpenApprovalsPerTask = options.maxOpenApprovalsPerTask;
    this.#leaseSeconds = options.leaseSeconds;
    this.#privacy = options.privacy;
    this.#clock = options.now ?? (() => new Date());
    this.#live = new Live(store, { maxWaitsPerCaller: options.maxWaitsPerCaller });
    this.#work = new UnitsOfWork(store, {
      ttlSeconds: options.idempotencyTtlSeconds,
      keysPerCaller: options.idempotencyKeysPerCaller,
      retryWindowSeconds: options.idempotencyRetryWindowSeconds,
      now: this.#clock,
    });
  }

  // ── reading what the policy allows ────────────────────────────────────────

  /** The policy's mayReadTask; the approvals on the task are looked up only when the rest does not already allow it. */
  async #mayRead(caller: Caller, task: Task): Promise<boolean> {
    if (mayReadTask(caller, task, [])) return true;
    const asked = await this.#store.listApprovals({ task_id: task.task_id, approver_roles: [...caller.roles], limit: 1 });
    return mayReadTask(
      caller,
      task,
      asked.map((a) => a.approver_role),
    );
  }

  /** One role, or with `for=me` the caller's roles (narrowed to `role` if given). */
  #roleFilter(caller: Caller, forWhom: "me" | undefined, role: string | undefined): string[] | undefined {
    if (forWhom !== "me") return role === undefined ? undefined : [role];
    const mine = [...caller.roles];
    return role === undefined ? mine : mine.filter((r) => r === role);
  }

  async #readableTask(caller: Caller, id: string): Promise<Task> {
    const task = await this.#store.getTask(id);
    if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
    if (!(await this.#mayRead(caller, task))) throw new MeshError("forbidden", readTaskRefusal(task));
    return task;
  }

  /** Who the controller takes the caller to be, as its verified token says. */
  whoami({ caller }: RequestContext): Me {
    return { subject: caller.subject, roles: [...caller.roles].sort(), is_admin: caller.isAdmin };
  }

  // ── tasks ──────────────────────────────────────────────────────────────────

  async routeTask(ctx: RequestContext, input: RouteTaskRequest): Promise<RouteTaskResponse> {
    const { caller, traceId } = ctx;
    if (input.source !== undefined && input.source !== caller.subject) {
      throw new MeshError("forbidden", `source is taken from your token (${caller.subject}); leave it out or set it to that.`);
    }
    if (input.task.task_type === "notification") {
      const priority = input.task.data?.priority;
      if (priority !== undefined && !Priority.safeParse(priority).success) {
        throw new MeshError("invalid", "a notification's priority must be low, normal or high", [
          { field: "task.data.priority", message: "must be low, normal or high" },
        ]);
      }
    }
    if (input.deadline !== undefined && input.deadline_seconds !== undefined) {
      throw new MeshError("invalid", "Give deadline or deadline_seconds, not both.", [{ field: "deadline_seconds", message: "not with deadline" }]);
    }
    const { fields, masked } = await this.#privacy.screen({ "task.description": input.task.description, "task.data": input.task.data, context: input.context });
    return this.#work.run(ctx, "route", { ...input, source: caller.subject }, keptWhole(), async (tx, now) => {
      const parent = input.parent_task_id === undefined ? null : await this.#parentFor(tx, caller, input.parent_task_id);
      const deadline =
        input.deadline_seconds !== undefined
          ? secondsAfter(now, input.deadline_seconds)
          : input.deadline === undefined
            ? null
            : new Date(input.deadline).toISOString();
      if (deadline !== null && deadline <= now) {
        throw new MeshError("invalid", `The deadline ${input.deadline} has already passed.`, [{ field: "deadline", message: "must be in the future" }]);
      }
      const task: Task = {
        task_id: crypto.randomUUID(),
        target: input.target,
        source: caller.subject,
        task_type: input.task.task_type,
        description: fields["task.description"] ?? null,
        data: fields["task.data"] ?? {},
        context: fields.context ?? {},
        priority: input.priority ?? "normal",
        status: "pending",
        claimed_by: null,
        result: null,
        error: null,
        created_at: now,
        updated_at: now,
        version: 1,
        trace_id: traceId,
        attempt: 0,
        max_attempts: input.max_attempts ?? LIMITS.defaultMaxAttempts,
        lease_expires_at: null,
        retry_at: null,
        deadline,
        progress: null,
        parent_task_id: parent?.task_id ?? null,
      };
      await tx.insertTask(task);
      if (parent) await this.#touch(tx, parent, now);
      await recordChange(tx, ctx, now, { action: "task.created", task, from: null, to: "pending", findings: countsOf(masked) });
      return { task_id: task.task_id, status: "pending" as const, trace_id: traceId, ...saying(masked) };
    });
  }

  /** The task a new one is a subtask of, locked: held by the caller, not too deep, not too many children. */
  async #parentFor(tx: StoreTx, caller: Caller, id: string): Promise<Task> {
    const parent = await tx.getTaskForUpdate(id);
    if (!parent) throw new MeshError("not_found", `No task has the id ${id}.`, [{ field: "parent_task_id", message: "no such task" }]);
    enforce(mayAddSubtask(caller, parent));
    let depth = 1;
    // Ancestors never change, so reading them outside this unit of work is safe.
    for (let up = parent.parent_task_id; up !== null; up = (await this.#store.getTask(up))?.parent_task_id ?? null) depth++;
    if (depth >= LIMITS.subtaskDepth) {
      throw new MeshError("conflict", `Task ${id} is ${depth} levels deep; subtasks nest at most ${LIMITS.subtaskDepth} levels. Do this part yourself.`);
    }
    // Read, not locked: only the parent's holder adds subtasks, under the parent's lock, which this unit of work holds.
    if ((await this.#store.listSubtasks(id)).length >= LIMITS.subtasksPerTask) {
      throw new MeshError("conflict", `Task ${id} already has ${LIMITS.subtasksPerTask} subtasks, the most one task may have.`);
    }
    return parent;
  }

  async getTask(ctx: RequestContext, id: string, query: TaskReadQuery = {}): Promise<TaskDetail> {
    const first = await this.#readableTask(ctx.caller, id);
    const baseline = query.after_version ?? first.version;
    const changed = (t: Task | null) => (t && t.version > baseline ? t : null);
    const task =
      query.wait && !changed(first)
        ? ((await this.#live.wait(
            ctx,
            query.wait,
            async () => changed(await this.#store.getTask(id)),
            { task: id },
            // A subtask's change moves its parent's version too, so a planner waits for its children here.
            (c) => c.task_id === id || c.parent_task_id === id,
            `task ${baseline} ${id}`,
          )) ?? first)
        : first;
    // The newest few of each, so a task's answer has a size bound however long its life; the rest are a link away.
    const [history, approvals, thread, children] = await Promise.all([
      this.#history(id, { limit: LIMITS.detailHistory }),
      this.#approvals(ctx.caller, task, { limit: LIMITS.detailApprovals }),
      this.#store.listThread(id),
      this.#store.listSubtasks(id),
    ]);
    const olderAt = (list: string, cursor: string | null) => cursor && `/tasks/${encodeURIComponent(id)}/${list}?cursor=${cursor}`;
    return {
      ...task,
      history: history.items.toReversed(),
      approvals: approvals.items.toReversed(),
      older_history: olderAt("history", history.next_cursor),
      older_approvals: olderAt("approvals", approvals.next_cursor),
      thread,
      children: children.map((c): Subtask => SubtaskSchema.parse(c)),
      may_retry: task.status === "dead_lettered" && mayRevive(ctx.caller, task),
    };
  }

  /** A task's history, newest first, a page at a time. */
  async taskHistory(ctx: RequestContext, id: string, query: TaskListQuery): Promise<HistoryPage> {
    await this.#readableTask(ctx.caller, id);
    return this.#history(id, query);
  }

  /** A task's approvals, whatever their status, newest first, a page at a time. */
  async taskApprovals(ctx: RequestContext, id: string, query: TaskListQuery): Promise<ApprovalPage> {
    return this.#approvals(ctx.caller, await this.#readableTask(ctx.caller, id), query);
  }

  async #history(id: string, query: TaskListQuery): Promise<HistoryPage> {
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const rows = await this.#store.listAudit({ task_id: id, after: decodeCursor(query.cursor), limit: limit + 1 });
    const page = pageOf(rows, limit);
    return { items: page.rows.map(({ task_id: _t, ...entry }) => entry), next_cursor: page.next_cursor };
  }

  async #approvals(caller: Caller, task: Task, query: TaskListQuery): Promise<ApprovalPage> {
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const page = pageOf(await this.#store.listApprovals({ task_id: task.task_id, after: decodeCursor(query.cursor), limit: limit + 1 }), limit);
    return { items: page.rows.map((a) => seenBy(caller, withoutSeq(a), task.status)), next_cursor: page.next_cursor };
  }

  /** Approvals as `caller` reads them, their tasks' states looked up at once. */
  async #seenBy(caller: Caller, approvals: readonly ApprovalRecord[]): Promise<Approval[]> {
    const statuses = await this.#store.taskStatuses([...new Set(approvals.map((a) => a.task_id))]);
    // An approval's task always exists: approvals refer to their task by foreign key.
    return approvals.map((a) => seenBy(caller, a, statuses.get(a.task_id)!));
  }

  async listTasks(ctx: RequestContext, query: TaskQuery): Promise<TaskPage> {
    const order = query.order ?? "asc";
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const after = decodeCursor(query.cursor);
    const targets = this.#roleFilter(ctx.caller, query.for, query.target);
    const asHolder = readsAsHolder(ctx.caller, targets);
    const read = () =>
      this.#store.listTasks({
        visibleTo: asHolder ? undefined : visibilityOf(ctx.caller),
        targets,
        source: query.source,
        status: query.status,
        task_type: query.task_type,
        after,
        order,
        limit: limit + 1,
      });
    const key = readKey("tasks", asHolder ? null : ctx.caller, { ...query, for: undefined, target: undefined, targets });
    const rows = await this.#live.readOrWait(ctx, query.wait, read, { hearer: visibilityOf(ctx.caller) }, (c) => mayHear(ctx.caller, c), key);
    const page = pageOf(rows, limit);
    const items = page.rows.map(withoutSeq);
    if (order === "desc") return { items, next_cursor: page.next_cursor };
    // Oldest-first pages double as an inbox: where newer tasks will appear, even past the end.
    const last = page.rows.at(-1);
    return { items, next_cursor: page.next_cursor, resume_cursor: last ? encodeCursor(last.seq) : (query.cursor ?? encodeCursor(0)) };
  }

  claimTask(ctx: RequestContext, id: string, leaseSeconds = this.#leaseSeconds) {
    return this.#transition(ctx, id, "claim", { lease_seconds: leaseSeconds }, [], (task, now) => {
      const retryAt = task.retry_at;
      if (retryAt !== null && retryAt > now) {
        throw new MeshError("conflict", `Task ${id} is waiting to be retried; it may be claimed from ${retryAt}.`);
      }
      return {
        action: "task.claimed",
        changes: {
          claimed_by: ctx.caller.subject,
          attempt: task.attempt + 1,
          lease_expires_at: secondsAfter(now, leaseSeconds),
          retry_at: null,
          progress: null,
        },
      };
    });
  }

  async completeTask(ctx: RequestContext, id: string, attempt: number, result: JsonObject | undefined, force = false) {
    const { fields, masked } = await this.#privacy.screen({ result: result ?? {} });
    return this.#transition(ctx, id, "complete", { attempt, result, force }, masked, async (task) => {
      enforce(holdsLease(ctx.caller, task, attempt));
      // Read, not locked: a subtask that finishes meanwhile only makes this stricter, and none can be added without the parent's lock.
      const unfinished = (await this.#store.listSubtasks(id)).filter((c) => !FINISHED.has(c.status)).length;
      enforce(mayCompleteWith(task, unfinished, force));
      return { action: "task.completed", changes: { result: fields.result, lease_expires_at: null } };
    });
  }

  /** A failure ends the task, or with `retry` puts it back after a backoff, until its attempts run out. */
  async failTask(ctx: RequestContext, id: string, attempt: number, reason: string, retry = false) {
    const move = retry ? "retry" : "fail";
    const { fields, masked } = await this.#privacy.screen({ error: reason });
    const error = fields.error;
    return this.#transition(ctx, id, move, { attempt, error: reason, retry }, masked, (task, now) => {
      enforce(holdsLease(ctx.caller, task, attempt));
      if (!retry) return { action: "task.failed", changes: { error, lease_expires_at: null } };
      if (task.attempt >= task.max_attempts) return { action: "task.dead_lettered", to: "dead_lettered", changes: this.#deadLetter(task, error) };
      const retryAt = new Date(Date.parse(now) + retryDelayMs(task.attempt)).toISOString();
      this.#timerCounts.retries++;
      return { action: "task.retry_scheduled", changes: { error, claimed_by: null, lease_expires_at: null, retry_at: retryAt } };
    });
  }

  /** Cancelling a task cancels its unfinished subtasks too, all the way down, each with its own history row. */
  async cancelTask(ctx: RequestContext, id: string, reason: string | undefined) {
    const { fields, masked } = await this.#privacy.screen({ reason });
    return this.#transition(ctx, id, "cancel", { reason }, masked, async (task, now, tx) => {
      await this.#cancelSubtasks(tx, ctx, task, now);
      return { action: "task.cancelled", changes: { error: fields.reason ?? null, lease_expires_at: null, retry_at: null } };
    });
  }

  async #cancelSubtasks(tx: StoreTx, ctx: RequestContext, parent: Task, now: string): Promise<void> {
    for (const child of await tx.lockSubtasks(parent.task_id)) {
      if (!startsFrom("cancel", child.status)) continue;
      await this.#cancelSubtasks(tx, ctx, child, now);
      const cancelled: Task = {
        ...child,
        status: "cancelled",
        error: `Its parent task ${parent.task_id} was cancelled.`,
        lease_expires_at: null,
        retry_at: null,
        updated_at: now,
        version: child.version + 1,
      };
      await tx.updateTask(child.task_id, cancelled);
      await recordChange(tx, ctx, now, { action: "task.cancelled", task: child, from: child.status, to: "cancelled" });
    }
  }

  // ── the thread ─────────────────────────────────────────────────────────────

  /** The holder asks the sender; the task waits in input_required, its lease not running, its deadline still. */
  async askSender(ctx: RequestContext, id: string, input: AskRequest) {
    const { fields, masked } = await this.#privacy.screen({ question: input.question, data: input.data });
    return this.#transition(ctx, id, "ask", input, masked, async (task, now, tx) => {
      enforce(holdsLease(ctx.caller, task, input.attempt));
      await this.#addMessage(tx, id, { kind: "question", author: ctx.caller.subject, at: now, text: fields.question, data: fields.data ?? null });
      return { action: "task.input_required", changes: {} };
    });
  }

  /** The sender answers; the same holder has the task again, with at least a fresh lease. */
  async replyToTask(ctx: RequestContext, id: string, input: ReplyRequest) {
    const { fields, masked } = await this.#privacy.screen({ answer: input.answer, data: input.data });
    return this.#transition(ctx, id, "answer", input, masked, async (task, now, tx) => {
      await this.#addMessage(tx, id, { kind: "answer", author: ctx.caller.subject, at: now, text: fields.answer, data: fields.data ?? null });
      const fresh = secondsAfter(now, this.#leaseSeconds);
      return {
        action: "task.answered",
        changes: { lease_expires_at: task.lease_expires_at !== null && task.lease_expires_at > fresh ? task.lease_expires_at : fresh },
      };
    });
  }

  /** A note from either side; the task's state stays, its version moves so whoever waits hears of it. */
  async noteTask(ctx: RequestContext, id: string, input: NoteRequest): Promise<ThreadMessage> {
    const { fields, masked } = await this.#privacy.screen({ text: input.text, data: input.data });
    return this.#work.run(ctx, `note:${id}`, input, keptWhole(), async (tx, now) => {
      const task = await tx.getTaskForUpdate(id);
      if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
      enforce(mayNote(ctx.caller, task));
      const message = await this.#addMessage(tx, id, { kind: "note", author: ctx.caller.subject, at: now, text: fields.text, data: fields.data ?? null });
      await this.#touch(tx, task, now);
      await recordChange(tx, ctx, now, { action: "task.noted", task, from: task.status, to: task.status, findings: countsOf(masked) });
      return message;
    });
  }

  async #addMessage(tx: StoreTx, id: string, message: NewThreadMessage): Promise<ThreadMessage> {
    if ((await tx.countMessages(id)) >= LIMITS.threadMessages) {
      throw new MeshError("conflict", `Task ${id}'s thread already holds ${LIMITS.threadMessages} messages, the most one task may have; send a new task.`);
    }
    return tx.insertMessage(id, message);
  }

  /** A dead letter back to pending, by its sender or an admin, with a fresh budget of attempts. */
  retryTask(ctx: RequestContext, id: string, maxAttempts: number = LIMITS.defaultMaxAttempts) {
    return this.#transition(ctx, id, "revive", { max_attempts: maxAttempts }, [], (task) => ({
      action: "task.revived",
      changes: { claimed_by: null, max_attempts: task.attempt + maxAttempts, retry_at: null, lease_expires_at: null },
    }));
  }

  /** The holder renews its lease, and may say how far along it is (which the sender sees, so that is a change). */
  async heartbeatTask(ctx: RequestContext, id: string, input: HeartbeatRequest): Promise<Task> {
    // Progress words are stored and shown to the sender like any payload: screened first.
    const screened = input.progress === undefined ? undefined : await this.#privacy.screen({ progress: input.progress });
    return this.#work.run(ctx, `heartbeat:${id}`, input, TASK_AS_MOVED, async (tx, now) => {
      const task = await tx.getTaskForUpdate(id);
      if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
      enforce(holdsLease(ctx.caller, task, input.attempt));
      const renewed: Task = { ...task, lease_expires_at: secondsAfter(now, input.lease_seconds ?? this.#leaseSeconds) };
      if (!screened) {
        // A bare renewal changes nothing anyone reads, so it is no event: no version, no audit row.
        await tx.updateTask(id, renewed);
        return renewed;
      }
      const updated: Task = { ...renewed, progress: screened.fields.progress, updated_at: now, version: task.version + 1 };
      await tx.updateTask(id, updated);
      await recordChange(tx, ctx, now, { action: "task.progress", task, from: task.status, to: task.status, findings: countsOf(screened.masked) });
      return updated;
    });
  }

  /** What a move sets on the task besides its status, and the action the audit trail names. */
  #deadLetter(task: Task, error: string): Partial<Task> {
    this.#timerCounts.dead_letters++;
    return { error: `${error} (attempt ${task.attempt} of ${task.max_attempts}, the last)`, lease_expires_at: null, retry_at: null };
  }

  #transition(
    ctx: RequestContext,
    id: string,
    move: CallerMove,
    input: JsonObject,
    masked: MaskedField[],
    apply: (
      task: Task,
      now: string,
      tx: StoreTx,
    ) => { action: EventAction; to?: TaskStatus; changes: Partial<Task> } | Promise<{ action: EventAction; to?: TaskStatus; changes: Partial<Task> }>,
  ): Promise<MovedTask> {
    const { caller } = ctx;
    return this.#work.run(ctx, `${move}:${id}`, input, TASK_AS_MOVED, async (tx, now) => {
      const task = await tx.getTaskForUpdate(id);
      if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
      enforce(mayMove(caller, task, move));
      // Claiming what you already hold changes nothing, so it succeeds, as a retry should.
      if (move === "claim" && task.status === "claimed" && task.claimed_by === caller.subject) return task;
      const { from, to } = TRANSITIONS[move];
      if (!startsFrom(move, task.status)) {
        // A holder that called too early (complete while waiting for an answer) still holds its lease.
        const lost = typeof input.attempt === "number" && (input.attempt < task.attempt || (input.attempt === task.attempt && !HELD.has(task.status)));
        const attempt = lost ? ` ${leaseLost(task, input.attempt as number)}` : "";
        throw new MeshError("conflict", `Task ${id} is ${task.status}; it can be ${to} only when ${from.join(" or ")}.${attempt}`);
      }
      const { action, to: status = to, changes } = await apply(task, now, tx);
      const updated: Task = { ...task, ...changes, status, updated_at: now, version: task.version + 1 };
      await tx.updateTask(id, updated);
      await this.#touchParent(tx, task, now);
      await recordChange(tx, ctx, now, { action, task, from: task.status, to: status, findings: countsOf(masked) });
      return { ...updated, ...saying(masked) };
    });
  }

  // ── the clocks ─────────────────────────────────────────────────────────────

  /**
   * Acts on every lease, deadline and approval expiry due by now, each as its own unit
   * of work with its audit row and event; says how many. Several controllers may run
   * this at once: the store hands each due row to one of them.
   */
  async actOnDue(): Promise<number> {
    let acted = 0;
    const drain = async (one: (tx: StoreTx, now: string) => Promise<boolean>) => {
      while (await this.#store.transaction((tx) => one(tx, this.#clock().toISOString()))) acted++;
    };
    const workers = (one: (tx: StoreTx, now: string) => Promise<boolean>) => Promise.all(Array.from({ length: DUE_WORKERS }, () => drain(one)));
    await workers((tx, now) => this.#dueTask(tx, now));
    await workers((tx, now) => this.#dueApproval(tx, now));
    return acted;
  }

  /** The clocks' own context: the controller acts, with a trace of its own. */
  #clockContext(): RequestContext {
    return { caller: callerOf(CONTROLLER_ACTOR, [], ""), traceId: newTraceId() };
  }

  async #dueTask(tx: StoreTx, now: string): Promise<boolean> {
    const task = await tx.lockDueTask(now);
    if (!task) return false;
    const holder = task.claimed_by ? ` held by ${task.claimed_by}` : "";
    let action: EventAction;
    let changes: Partial<Task>;
    let status: TaskStatus;
    if (task.deadline !== null && task.deadline <= now) {
      this.#timerCounts.deadlines_missed++;
      [action, status] = ["task.expired", "expired"];
      changes = { error: `Not finished by its deadline, ${task.deadline}.`, lease_expires_at: null, retry_at: null };
    } else if (task.attempt >= task.max_attempts) {
      [action, status] = ["task.dead_lettered", "dead_lettered"];
      changes = this.#deadLetter(task, `The lease of attempt ${task.attempt}${holder} lapsed`);
    } else {
      this.#timerCounts.leases_lapsed++;
      [action, status] = ["task.lease_lapsed", "pending"];
      changes = { claimed_by: null, lease_expires_at: null };
    }
    const updated: Task = { ...task, ...changes, status, updated_at: now, version: task.version + 1 };
    await tx.updateTask(task.task_id, updated);
    await this.#touchParent(tx, task, now);
    await recordChange(tx, this.#clockContext(), now, { action, task, from: task.status, to: status });
    return true;
  }

  /** An approval undecided in time passes to its escalation role (once, for another window as long), or expires. */
  async #dueApproval(tx: StoreTx, now: string): Promise<boolean> {
    const approval = await tx.lockDueApproval(now);
    if (!approval) return false;
    const task = await tx.getTaskForUpdate(approval.task_id);
    if (!task) throw new Error(`approval ${approval.approval_id} refers to a missing task`);
    const window = Date.parse(approval.expires_at!) - Date.parse(approval.created_at);
    const escalated = approval.escalate_to !== null;
    const after: ApprovalRecord = escalated
      ? {
          ...approval,
          approver_role: approval.escalate_to!,
          escalated_from: approval.approver_role,
          escalate_to: null,
          expires_at: new Date(Date.parse(now) + window).toISOString(),
        }
      : { ...approval, status: "expired", decided_at: now };
    this.#timerCounts[escalated ? "approvals_escalated" : "approvals_expired"]++;
    await tx.updateApproval(approval.approval_id, after);
    await this.#touch(tx, task, now);
    await recordChange(tx, this.#clockContext(), now, {
      action: escalated ? "approval.escalated" : "approval.expired",
      task,
      approval: after,
      from: "pending",
      to: after.status,
    });
    return true;
  }

  /** The earliest time a clock falls due, for the controller's timer. */
  nextDueAt(): Promise<string | null> {
    return this.#store.nextDueAt();
  }

  // ── approvals ──────────────────────────────────────────────────────────────

  async requestApproval(ctx: RequestContext, input: ApprovalRequest): Promise<ApprovalCreated> {
    const { caller, traceId } = ctx;
    if (input.escalate_to !== undefined && input.expires_in_seconds === undefined) {
      throw new MeshError("invalid", "escalate_to needs expires_in_seconds: say after how long the approval passes on.", [
        { field: "expires_in_seconds", message: "required with escalate_to" },
      ]);
    }
    const { fields, masked } = await this.#privacy.screen({ reason: input.reason, comments: input.comments });
    return this.#work.run(ctx, "approval", input, keptWhole(), async (tx, now) => {
      const task = await tx.getTaskForUpdate(input.task_id);
      if (!task) throw new MeshError("not_found", `No task has the id ${input.task_id}.`);
      enforce(mayAskForApproval(caller, task));
      const open = await tx.countPendingApprovals(task.task_id);
      if (open >= this.#maxOpenApprovalsPerTask) {
        throw new MeshError(
          "conflict",
          `Task ${task.task_id} already has ${open} approvals waiting for a decision, the most one task may have (MESH_MAX_OPEN_APPROVALS_PER_TASK); ask again once one is decided.`,
        );
      }
      const approval: ApprovalRecord = {
        approval_id: crypto.randomUUID(),
        task_id: task.task_id,
        approver_role: input.approver_role,
        reason: fields.reason,
        status: "pending",
        requested_by: caller.subject,
        decided_by: null,
        comments: fields.comments ?? "",
        created_at: now,
        decided_at: null,
        trace_id: traceId,
        expires_at: input.expires_in_seconds === undefined ? null : secondsAfter(now, input.expires_in_seconds),
        escalate_to: input.escalate_to ?? null,
        escalated_from: null,
      };
      await tx.insertApproval(approval);
      await this.#touch(tx, task, now);
      await recordChange(tx, ctx, now, { action: "approval.requested", task, approval, from: null, to: "pending", findings: countsOf(masked) });
      return { approval_id: approval.approval_id, status: "pending" as const, trace_id: traceId, ...saying(masked) };
    });
  }

  /** An approval, a note or a subtask changes what the task looks like, so its version moves and waiters wake. */
  async #touch(tx: StoreTx, task: Task, now: string) {
    await tx.updateTask(task.task_id, { ...task, updated_at: now, version: task.version + 1 });
  }

  /** A subtask's state shows in its parent, so the parent's version moves with it. */
  async #touchParent(tx: StoreTx, task: Task, now: string) {
    if (task.parent_task_id === null) return;
    const parent = await tx.getTaskForUpdate(task.parent_task_id);
    if (parent) await this.#touch(tx, parent, now);
  }

  async getApproval(ctx: RequestContext, id: string, query: ApprovalReadQuery = {}): Promise<Approval> {
    const first = await this.#readableApproval(ctx.caller, id);
    // Decided, expired, or passed on to another role: each is news for whoever waits.
    const decided = async () => {
      const now = await this.#store.getApproval(id);
      return now && (now.status !== "pending" || now.approver_role !== first.approver_role) ? now : null;
    };
    const approval =
      query.wait && first.status === "pending"
        ? ((await this.#live.wait(ctx, query.wait, decided, { approval: id }, (c) => c.approval_id === id, `approval ${id} ${first.approver_role}`)) ?? first)
        : first;
    const [seen] = await this.#seenBy(ctx.caller, [approval]);
    return seen!;
  }

  async #readableApproval(caller: Caller, id: string): Promise<ApprovalRecord> {
    const approval = await this.#store.getApproval(id);
    if (!approval) throw new MeshError("not_found", `No approval has the id ${id}.`);
    const taskReadable = async () => {
      const task = await this.#store.getTask(approval.task_id);
      return task !== null && (await this.#mayRead(caller, task));
    };
    if (await mayReadApproval(caller, approval, taskReadable)) return approval;
    throw new MeshError("forbidden", readApprovalRefusal(approval));
  }

  async listApprovals(ctx: RequestContext, query: ApprovalQuery): Promise<ApprovalPage> {
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const read = () =>
      this.#store.listApprovals({
        visibleTo: visibilityOf(ctx.caller),
        approver_roles: this.#roleFilter(ctx.caller, query.for, query.approver_role),
        task_id: query.task_id,
        // Who decided something speaks of decided approvals, whichever the decision.
        status: query.status ?? (query.decided_by === undefined ? "pending" : undefined),
        decided_by: query.decided_by,
        after: decodeCursor(query.cursor),
        limit: limit + 1,
      });
    const rows = await this.#live.readOrWait(
      ctx,
      query.wait,
      read,
      { hearer: visibilityOf(ctx.caller) },
      (c) => c.approval_id !== null && mayHear(ctx.caller, c),
      readKey("approvals", ctx.caller, query),
    );
    const page = pageOf(rows, limit);
    return { items: await this.#seenBy(ctx.caller, page.rows.map(withoutSeq)), next_cursor: page.next_cursor };
  }

  async decideApproval(ctx: RequestContext, id: string, input: DecisionRequest): Promise<DecidedApproval> {
    const { caller } = ctx;
    const { fields, masked } = await this.#privacy.screen({ comments: input.comments });
    return this.#work.run(ctx, `decide:${id}`, input, keptWhole(), async (tx, now) => {
      const approval = await tx.getApprovalForUpdate(id);
      if (!approval) throw new MeshError("not_found", `No approval has the id ${id}.`);
      const task = await tx.getTaskForUpdate(approval.task_id);
      if (!task) throw new MeshError("not_found", `Approval ${id} refers to a task that does not exist.`);
      enforce(mayDecide(caller, approval, task));
      const decided: ApprovalRecord = { ...approval, status: input.decision, decided_by: caller.subject, comments: fields.comments ?? "", decided_at: now };
      await tx.updateApproval(id, decided);
      await this.#touch(tx, task, now);
      await recordChange(tx, ctx, now, {
        action: `approval.${input.decision}`,
        task,
        approval,
        from: "pending",
        to: input.decision,
        findings: countsOf(masked),
      });
      return { ...seenBy(caller, decided, task.status), ...saying(masked) };
    });
  }

  // ── audit ──────────────────────────────────────────────────────────────────

  async listAudit(ctx: RequestContext, query: AuditQuery): Promise<AuditPage> {
    enforce(mayReadAudit(ctx.caller));
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const rows = await this.#store.listAudit({
      actor: query.actor,
      action: query.action,
      task_id: query.task_id,
      // Stored times are UTC; an offset like +02:00 must not be compared as text.
      since: query.since && new Date(query.since).toISOString(),
      until: query.until && new Date(query.until).toISOString(),
      after: decodeCursor(query.cursor),
      limit: limit + 1,
    });
    const page = pageOf(rows, limit);
    return { items: page.rows, next_cursor: page.next_cursor };
  }

  // ── data protection ─────────────────────────────────────────────────────────

  /** Removes one person's or agent's payloads everywhere, and records that it happened. */
  async eraseSubject(ctx: RequestContext, subject: string): Promise<Erasure> {
    enforce(mayErase(ctx.caller));
    const at = this.#clock().toISOString();
    const records = await this.#store.eraseSubject(subject, ctx.caller.subject, at);
    return { subject, erased_by: ctx.caller.subject, at, records };
  }

  /** Retention: empties the payloads of tasks finished longer than `seconds` ago, a batch at a time; says how many. */
  async removeOldPayloads(seconds: number): Promise<number> {
    const before = new Date(this.#clock().getTime() - seconds * 1000).toISOString();
    let total = 0;
    for (;;) {
      const emptied = await this.#store.removeOldPayloads([...FINISHED], before, RETENTION_BATCH);
      if (emptied === 0) return total;
      total += emptied;
      // Requests that arrived meanwhile go first.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  // ── live ───────────────────────────────────────────────────────────────────

  /** A stream of the changes the caller may hear: from the audit trail after `afterSeq` (if given), then live ones. */
  openEvents(ctx: RequestContext, afterSeq: number | null): EventStream {
    return this.#live.openEvents(ctx, afterSeq, { hears: (c) => mayHear(ctx.caller, c), hearer: visibilityOf(ctx.caller) });
  }

  /** Figures for /metrics. */
  stats() {
    return { openWaits: this.#live.openWaits, replays: this.#work.replays, timers: { ...this.#timerCounts }, privacyFindings: this.#privacy.found };
  }

  /** Tasks in each state, every state named (zero when none). */
  async tasksByStatus(): Promise<Record<TaskStatus, number>> {
    const counts = await this.#store.countTasksByStatus();
    return Object.fromEntries(TaskStatus.options.map((s) => [s, counts[s] ?? 0])) as Record<TaskStatus, number>;
  }

  /** Readiness: the database answers. */
  ready(): Promise<void> {
    return this.#store.ping();
  }

  // ── who serves each role ──────────────────────────────────────────────────

  /** A worker or a waiting session says it serves the caller's roles (all of them, or the ones it names). */
  async reportPresence(ctx: RequestContext, report: PresenceReport): Promise<PresenceRecorded> {
    const roles = report.roles ?? [...ctx.caller.roles];
    enforce(mayServe(ctx.caller, roles));
    const now = this.#clock();
    const last_seen = now.toISOString();
    const seen = roles.map((role) => ({ role, kind: report.kind, instance: report.instance, subject: ctx.caller.subject, last_seen }));
    await this.#store.recordPresence(seen, new Date(now.getTime() + LIMITS.presenceWindowSeconds * 1000).toISOString(), LIMITS.presencePerCaller);
    return { roles, last_seen };
  }

  /** Each role served in the last hour: who, and how many serve it now. */
  async listRoles(_ctx: RequestContext): Promise<RoleList> {
    const now = this.#clock().getTime();
    const seen = await this.#store.listPresence(new Date(now - LIMITS.presenceWindowSeconds * 1000).toISOString());
    const serving = new Date(now - LIMITS.servingSeconds * 1000).toISOString();
    const byRole = Map.groupBy(seen, (p) => p.role);
    const items = [...byRole].map(([role, servers]) => {
      const live = servers.filter((p) => p.last_seen >= serving);
      return {
        role,
        workers: live.filter((p) => p.kind === "worker").length,
        sessions: live.filter((p) => p.kind === "session").length,
        last_seen: live[0]?.last_seen ?? null,
        servers: servers.slice(0, LIMITS.serversListed),
      };
    });
    return { items: items.sort((a, b) => a.role.localeCompare(b.role)) };
  }

  /** Forgets expired idempotency keys, web sessions and used sign-in tickets. */
  purgeExpired(): Promise<number> {
    return this.#store.purgeExpired(this.#clock().toISOString());
  }
}
