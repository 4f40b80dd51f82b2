/**
 * The mesh service owns every rule: who may see and do what, and the task state
 * machine. Routes only translate HTTP; the machinery the rules run on is elsewhere:
 * waiting and event streams in live.ts, idempotent units of work in unit-of-work.ts,
 * audit rows in audit.ts.
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
  DecisionRequest,
  HistoryPage,
  JsonObject,
  Me,
  RouteTaskRequest,
  RouteTaskResponse,
  Task,
  TaskDetail,
  TaskListQuery,
  TaskPage,
  TaskQuery,
  TaskReadQuery,
} from "../contract/schemas.ts";
import { FINISHED, LIMITS, Priority, startsFrom, Task as TaskSchema, TaskStatus, TRANSITIONS, type Transition } from "../contract/schemas.ts";
import { recordChange } from "./audit.ts";
import type { RequestContext } from "./request-context.ts";
import { Live, type EventStream } from "./live.ts";
import { decodeCursor, encodeCursor, pageOf } from "./pages.ts";
import {
  mayAskForApproval,
  mayDecide,
  mayHear,
  mayMove,
  mayReadApproval,
  mayReadAudit,
  mayReadTask,
  readApprovalRefusal,
  readTaskRefusal,
  visibilityOf,
  type Caller,
  type Verdict,
} from "./policy.ts";
import type { StoreTx, Store } from "./store/store.ts";
import { withoutSeq } from "./store/rows.ts";
import { keptWhole, UnitsOfWork, type Keeping } from "./unit-of-work.ts";

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
  now?: () => Date;
};

/** What a move changes in a task; the rest of it stays as it was sent. */
const TaskAsMoved = TaskSchema.pick({ task_id: true, status: true, claimed_by: true, updated_at: true, version: true });

/**
 * A move answers with the task as the move left it; a replay must get that task again
 * even if it has moved on since (ADR 0003). Only what a move changes is kept. The rest
 * is the task as it is now: result and error are set only by the move that finishes a
 * task, and nothing changes a finished task, so they are null before and final after.
 */
const TASK_AS_MOVED: Keeping<Task> = {
  keep: (task) => TaskAsMoved.parse(task),
  restore: async (kept, tx) => {
    const moved = TaskAsMoved.parse(kept);
    const now = await tx.getTaskForUpdate(moved.task_id);
    if (!now) throw new Error(`task ${moved.task_id} of a kept answer is gone`);
    const finished = FINISHED.has(moved.status);
    return { ...now, ...moved, result: finished ? now.result : null, error: finished ? now.error : null };
  },
};

/** An approval as `caller` reads it: with the policy's answer to whether they may decide it now. */
function seenBy(caller: Caller, approval: ApprovalRecord, taskStatus: TaskStatus): Approval {
  const verdict = mayDecide(caller, approval, { task_id: approval.task_id, status: taskStatus });
  return { ...approval, may_decide: verdict.ok ? { allowed: true } : { allowed: false, refusal: verdict.refusal, detail: verdict.why } };
}

/** A refusal from the policy, as the error the API answers with. */
/** Everything a list read depends on, so waiters that would read the same share one read. */
const readKey = (list: string, { subject, roles, isAdmin }: Caller, query: object) =>
  JSON.stringify([list, subject, [...roles].sort(), isAdmin, { ...query, wait: undefined }]);

function enforce(verdict: Verdict): void {
  if (!verdict.ok) throw new MeshError(verdict.kind, verdict.why);
}

export class MeshService {
  readonly #store: Store;
  readonly #clock: () => Date;
  readonly #live: Live;
  readonly #work: UnitsOfWork;
  readonly #maxOpenApprovalsPerTask: number;

  constructor(store: Store, options: ServiceOptions) {
    this.#store = store;
    this.#maxOpenApprovalsPerTask = options.maxOpenApprovalsPerTask;
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

  routeTask(ctx: RequestContext, input: RouteTaskRequest): Promise<RouteTaskResponse> {
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
    return this.#work.run(ctx, "route", { ...input, source: caller.subject }, keptWhole(), async (tx, now) => {
      const task: Task = {
        task_id: crypto.randomUUID(),
        target: input.target,
        source: caller.subject,
        task_type: input.task.task_type,
        description: input.task.description ?? null,
        data: input.task.data ?? {},
        context: input.context ?? {},
        priority: input.priority ?? "normal",
        status: "pending",
        claimed_by: null,
        result: null,
        error: null,
        created_at: now,
        updated_at: now,
        version: 1,
        trace_id: traceId,
      };
      await tx.insertTask(task);
      await recordChange(tx, ctx, now, { action: "task.created", task, from: null, to: "pending" });
      return { task_id: task.task_id, status: "pending" as const, trace_id: traceId };
    });
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
            (c) => c.task_id === id,
            `task ${baseline} ${id}`,
          )) ?? first)
        : first;
    // The newest few of each, so a task's answer has a size bound however long its life; the rest are a link away.
    const [history, approvals] = await Promise.all([
      this.#history(id, { limit: LIMITS.detailHistory }),
      this.#approvals(ctx.caller, task, { limit: LIMITS.detailApprovals }),
    ]);
    const olderAt = (list: string, cursor: string | null) => cursor && `/tasks/${encodeURIComponent(id)}/${list}?cursor=${cursor}`;
    return {
      ...task,
      history: history.items.toReversed(),
      approvals: approvals.items.toReversed(),
      older_history: olderAt("history", history.next_cursor),
      older_approvals: olderAt("approvals", approvals.next_cursor),
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
    const read = () =>
      this.#store.listTasks({
        visibleTo: visibilityOf(ctx.caller),
        targets: this.#roleFilter(ctx.caller, query.for, query.target),
        source: query.source,
        status: query.status,
        task_type: query.task_type,
        after,
        order,
        limit: limit + 1,
      });
    const rows = await this.#live.readOrWait(ctx, query.wait, read, (c) => mayHear(ctx.caller, c), readKey("tasks", ctx.caller, query));
    const page = pageOf(rows, limit);
    const items = page.rows.map(withoutSeq);
    if (order === "desc") return { items, next_cursor: page.next_cursor };
    // Oldest-first pages double as an inbox: where newer tasks will appear, even past the end.
    const last = page.rows.at(-1);
    return { items, next_cursor: page.next_cursor, resume_cursor: last ? encodeCursor(last.seq) : (query.cursor ?? encodeCursor(0)) };
  }

  claimTask(ctx: RequestContext, id: string) {
    return this.#transition(ctx, id, "claim", {});
  }

  completeTask(ctx: RequestContext, id: string, result: JsonObject | undefined) {
    return this.#transition(ctx, id, "complete", { result: result ?? {} });
  }

  failTask(ctx: RequestContext, id: string, error: string) {
    return this.#transition(ctx, id, "fail", { error });
  }

  cancelTask(ctx: RequestContext, id: string, reason: string | undefined) {
    return this.#transition(ctx, id, "cancel", { error: reason ?? null });
  }

  #transition(ctx: RequestContext, id: string, move: Transition, outcome: { result?: JsonObject; error?: string | null }): Promise<Task> {
    const { caller } = ctx;
    return this.#work.run(ctx, `${move}:${id}`, outcome, TASK_AS_MOVED, async (tx, now) => {
      const task = await tx.getTaskForUpdate(id);
      if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
      enforce(mayMove(caller, task, move));
      // Claiming what you already hold changes nothing, so it succeeds, as a retry should.
      if (move === "claim" && task.status === "claimed" && task.claimed_by === caller.subject) return task;
      const { from, to } = TRANSITIONS[move];
      if (!startsFrom(move, task.status)) {
        throw new MeshError("conflict", `Task ${id} is ${task.status}; it can be ${to} only when ${from.join(" or ")}.`);
      }
      const updated: Task = {
        ...task,
        status: to,
        claimed_by: move === "claim" ? caller.subject : task.claimed_by,
        result: outcome.result ?? task.result,
        error: outcome.error ?? task.error,
        updated_at: now,
        version: task.version + 1,
      };
      await tx.updateTask(id, updated);
      await recordChange(tx, ctx, now, { action: `task.${to}`, task, from: task.status, to });
      return updated;
    });
  }

  // ── approvals ──────────────────────────────────────────────────────────────

  requestApproval(ctx: RequestContext, input: ApprovalRequest): Promise<ApprovalCreated> {
    const { caller, traceId } = ctx;
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
        reason: input.reason,
        status: "pending",
        requested_by: caller.subject,
        decided_by: null,
        comments: input.comments ?? "",
        created_at: now,
        decided_at: null,
        trace_id: traceId,
      };
      await tx.insertApproval(approval);
      await this.#touch(tx, task, now);
      await recordChange(tx, ctx, now, { action: "approval.requested", task, approval, from: null, to: "pending" });
      return { approval_id: approval.approval_id, status: "pending" as const, trace_id: traceId };
    });
  }

  /** An approval changes what the task looks like, so its version moves and waiters wake. */
  async #touch(tx: StoreTx, task: Task, now: string) {
    await tx.updateTask(task.task_id, { ...task, updated_at: now, version: task.version + 1 });
  }

  async getApproval(ctx: RequestContext, id: string, query: ApprovalReadQuery = {}): Promise<Approval> {
    const first = await this.#readableApproval(ctx.caller, id);
    const decided = async () => {
      const now = await this.#store.getApproval(id);
      return now && now.status !== "pending" ? now : null;
    };
    const approval =
      query.wait && first.status === "pending"
        ? ((await this.#live.wait(ctx, query.wait, decided, (c) => c.approval_id === id, `approval ${id}`)) ?? first)
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
      (c) => c.approval_id !== null && mayHear(ctx.caller, c),
      readKey("approvals", ctx.caller, query),
    );
    const page = pageOf(rows, limit);
    return { items: await this.#seenBy(ctx.caller, page.rows.map(withoutSeq)), next_cursor: page.next_cursor };
  }

  decideApproval(ctx: RequestContext, id: string, input: DecisionRequest): Promise<Approval> {
    const { caller } = ctx;
    return this.#work.run(ctx, `decide:${id}`, input, keptWhole(), async (tx, now) => {
      const approval = await tx.getApprovalForUpdate(id);
      if (!approval) throw new MeshError("not_found", `No approval has the id ${id}.`);
      const task = await tx.getTaskForUpdate(approval.task_id);
      if (!task) throw new MeshError("not_found", `Approval ${id} refers to a task that does not exist.`);
      enforce(mayDecide(caller, approval, task));
      const decided: ApprovalRecord = { ...approval, status: input.decision, decided_by: caller.subject, comments: input.comments ?? "", decided_at: now };
      await tx.updateApproval(id, decided);
      await this.#touch(tx, task, now);
      await recordChange(tx, ctx, now, { action: `approval.${input.decision}`, task, approval, from: "pending", to: input.decision });
      return seenBy(caller, decided, task.status);
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

  // ── live ───────────────────────────────────────────────────────────────────

  /** A stream of the changes the caller may hear: from the audit trail after `afterSeq` (if given), then live ones. */
  openEvents(ctx: RequestContext, afterSeq: number | null): EventStream {
    return this.#live.openEvents(ctx, afterSeq, { hears: (c) => mayHear(ctx.caller, c), hearer: visibilityOf(ctx.caller) });
  }

  /** Figures for /metrics. */
  stats() {
    return { openWaits: this.#live.openWaits, replays: this.#work.replays };
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

  /** Forgets expired idempotency keys, web sessions and used sign-in tickets. */
  purgeExpired(): Promise<number> {
    return this.#store.purgeExpired(this.#clock().toISOString());
  }
}
