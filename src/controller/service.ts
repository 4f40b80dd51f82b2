/**
 * The mesh service owns every rule: who may see and do what, and the task state
 * machine. Routes only translate HTTP; the machinery the rules run on is elsewhere:
 * waiting and event streams in live.ts, idempotent units of work in unit-of-work.ts,
 * audit rows in audit.ts.
 */
import { MeshError } from "../lib/errors.ts";
import type {
  Approval,
  ApprovalCreated,
  ApprovalPage,
  ApprovalQuery,
  ApprovalReadQuery,
  ApprovalRequest,
  AuditPage,
  AuditQuery,
  DecisionRequest,
  JsonObject,
  Me,
  RouteTaskRequest,
  RouteTaskResponse,
  Task,
  TaskDetail,
  TaskPage,
  TaskQuery,
  TaskReadQuery,
} from "../lib/schemas.ts";
import { FINISHED, LIMITS, Priority, startsFrom, Task as TaskSchema, TaskStatus, TRANSITIONS, type Transition } from "../lib/schemas.ts";
import { recordChange } from "./audit.ts";
import type { Caller, RequestContext } from "./caller.ts";
import { Live, type EventStream } from "./live.ts";
import type { Change, StoreTx, Store } from "./store/store.ts";
import { withoutSeq } from "./store/rows.ts";
import { keptWhole, UnitsOfWork, type Keeping } from "./unit-of-work.ts";

/** What an event stream hands the routes. */
export { HEARTBEAT, type EventStream } from "./live.ts";

export type ServiceOptions = {
  /** How long an Idempotency-Key is remembered. */
  idempotencyTtlSeconds: number;
  /** Idempotency-Keys remembered per caller; past it the oldest are forgotten. */
  idempotencyKeysPerCaller: number;
  /** Long-polls one caller may hold open at once. */
  maxWaitsPerCaller: number;
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

/**
 * Whether a caller may hear of a change: a cheap pre-filter for waits (reads re-check),
 * and the rule event streams follow. Each store's changesHeardBy is the same rule in SQL.
 */
export function mayHear(caller: Caller, change: Pick<Change, "source" | "target" | "approver_role">): boolean {
  return (
    caller.isAdmin ||
    change.source === caller.subject ||
    caller.roles.has(change.target) ||
    (change.approver_role !== null && caller.roles.has(change.approver_role))
  );
}

const nonEmpty = <T>(rows: T[]): T[] | null => (rows.length ? rows : null);

/** The first rows whose JSON fits in `bytes` (at least one): a page of big tasks ends early, with a cursor. */
function withinBytes<T>(rows: T[], bytes: number): T[] {
  let used = 0;
  const fits = rows.findIndex((row, i) => (used += Buffer.byteLength(JSON.stringify(row))) > bytes && i > 0);
  return fits < 0 ? rows : rows.slice(0, fits);
}

const encodeCursor = (seq: number) => Buffer.from(`s${seq}`).toString("base64url");
function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const match = /^s(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!match) throw new MeshError("invalid", "cursor is not one this controller issued", [{ field: "cursor", message: "unknown cursor" }]);
  return Number(match[1]);
}

export class MeshService {
  readonly #store: Store;
  readonly #clock: () => Date;
  readonly #live: Live;
  readonly #work: UnitsOfWork;

  constructor(store: Store, options: ServiceOptions) {
    this.#store = store;
    this.#clock = options.now ?? (() => new Date());
    this.#live = new Live(store, { maxWaitsPerCaller: options.maxWaitsPerCaller });
    this.#work = new UnitsOfWork(store, { ttlSeconds: options.idempotencyTtlSeconds, keysPerCaller: options.idempotencyKeysPerCaller, now: this.#clock });
  }

  // ── who may do what ────────────────────────────────────────────────────────

  async #canRead(caller: Caller, task: Task): Promise<boolean> {
    if (caller.isAdmin || task.source === caller.subject || caller.roles.has(task.target)) return true;
    const approvals = await this.#store.approvalsForTask(task.task_id);
    return approvals.some((a) => caller.roles.has(a.approver_role));
  }

  #visibility(caller: Caller) {
    return caller.isAdmin ? undefined : { subject: caller.subject, roles: [...caller.roles] };
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
    if (!(await this.#canRead(caller, task))) {
      throw new MeshError("forbidden", `Task ${id} is visible to its source, holders of role ${task.target}, its approvers and admins.`);
    }
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
        ? ((await this.#live.wait(ctx, query.wait, async () => changed(await this.#store.getTask(id)), (c) => c.task_id === id)) ?? first)
        : first;
    const [history, approvals] = await Promise.all([this.#store.history(id), this.#store.approvalsForTask(id)]);
    return {
      ...task,
      history: history.map(({ task_id: _t, ...entry }) => entry),
      approvals,
    };
  }

  async listTasks(ctx: RequestContext, query: TaskQuery): Promise<TaskPage> {
    const order = query.order ?? "asc";
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const after = decodeCursor(query.cursor);
    const read = () =>
      this.#store.listTasks({
        visibleTo: this.#visibility(ctx.caller),
        targets: this.#roleFilter(ctx.caller, query.for, query.target),
        source: query.source,
        status: query.status,
        task_type: query.task_type,
        after,
        order,
        limit,
      });
    let rows = await read();
    if (rows.length === 0 && query.wait) {
      rows = (await this.#live.wait(ctx, query.wait, async () => nonEmpty(await read()), (c) => mayHear(ctx.caller, c))) ?? [];
    }
    const page = withinBytes(rows, LIMITS.pageBytes);
    const more = page.length < rows.length || rows.length === limit;
    const last = page.at(-1);
    // Oldest-first pages double as an inbox: the cursor always says where to look for newer tasks.
    const next = last ? encodeCursor(last.seq) : order === "asc" ? (query.cursor ?? null) : null;
    return { items: page.map(withoutSeq), next_cursor: order === "desc" && !more ? null : next };
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

  #mayMove(caller: Caller, task: Task, move: Transition): string | null {
    switch (move) {
      case "claim":
        return caller.roles.has(task.target) ? null : `Only holders of role ${task.target} may claim task ${task.task_id}.`;
      case "complete":
      case "fail":
        if (!caller.roles.has(task.target)) return `Only holders of role ${task.target} may finish task ${task.task_id}.`;
        return task.claimed_by === null || task.claimed_by === caller.subject
          ? null
          : `Task ${task.task_id} was claimed by ${task.claimed_by}; only they may finish it.`;
      case "cancel":
        return caller.isAdmin || task.source === caller.subject ? null : `Only the task's source (${task.source}) or an admin may cancel it.`;
    }
  }

  #transition(ctx: RequestContext, id: string, move: Transition, outcome: { result?: JsonObject; error?: string | null }): Promise<Task> {
    const { caller } = ctx;
    return this.#work.run(ctx, `${move}:${id}`, outcome, TASK_AS_MOVED, async (tx, now) => {
      const task = await tx.getTaskForUpdate(id);
      if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
      const refusal = this.#mayMove(caller, task, move);
      if (refusal) throw new MeshError("forbidden", refusal);
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
      if (!(caller.isAdmin || task.source === caller.subject || caller.roles.has(task.target))) {
        throw new MeshError("forbidden", `Only the task's source, holders of role ${task.target} or an admin may ask for approval on it.`);
      }
      if (FINISHED.has(task.status)) throw new MeshError("conflict", `Task ${task.task_id} is already ${task.status}; approval can only be asked for open tasks.`);
      const approval: Approval = {
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
    const approval = await this.#readableApproval(ctx.caller, id);
    if (!query.wait || approval.status !== "pending") return approval;
    const decided = async () => {
      const now = await this.#store.getApproval(id);
      return now && now.status !== "pending" ? now : null;
    };
    return (await this.#live.wait(ctx, query.wait, decided, (c) => c.approval_id === id)) ?? approval;
  }

  async #readableApproval(caller: Caller, id: string): Promise<Approval> {
    const approval = await this.#store.getApproval(id);
    if (!approval) throw new MeshError("not_found", `No approval has the id ${id}.`);
    if (caller.isAdmin || approval.requested_by === caller.subject || caller.roles.has(approval.approver_role)) return approval;
    const task = await this.#store.getTask(approval.task_id);
    if (task && (await this.#canRead(caller, task))) return approval;
    throw new MeshError("forbidden", `Approval ${id} is visible to who asked for it, holders of role ${approval.approver_role} and readers of its task.`);
  }

  async listApprovals(ctx: RequestContext, query: ApprovalQuery): Promise<ApprovalPage> {
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const read = () =>
      this.#store.listApprovals({
        visibleTo: this.#visibility(ctx.caller),
        approver_roles: this.#roleFilter(ctx.caller, query.for, query.approver_role),
        task_id: query.task_id,
        // Who decided something speaks of decided approvals, whichever the decision.
        status: query.status ?? (query.decided_by === undefined ? "pending" : undefined),
        decided_by: query.decided_by,
        after: decodeCursor(query.cursor),
        limit,
      });
    let rows = await read();
    if (rows.length === 0 && query.wait) {
      rows = (await this.#live.wait(ctx, query.wait, async () => nonEmpty(await read()), (c) => c.approval_id !== null && mayHear(ctx.caller, c))) ?? [];
    }
    const last = rows.at(-1);
    return { items: rows.map(withoutSeq), next_cursor: last && rows.length === limit ? encodeCursor(last.seq) : null };
  }

  decideApproval(ctx: RequestContext, id: string, input: DecisionRequest): Promise<Approval> {
    const { caller } = ctx;
    return this.#work.run(ctx, `decide:${id}`, input, keptWhole(), async (tx, now) => {
      const approval = await tx.getApprovalForUpdate(id);
      if (!approval) throw new MeshError("not_found", `No approval has the id ${id}.`);
      if (!caller.roles.has(approval.approver_role)) {
        throw new MeshError("forbidden", `Only holders of role ${approval.approver_role} may decide approval ${id}.`);
      }
      if (approval.requested_by === caller.subject) {
        throw new MeshError("forbidden", `You asked for approval ${id}; another holder of role ${approval.approver_role} must decide it.`);
      }
      if (approval.status !== "pending") {
        throw new MeshError("conflict", `Approval ${id} was already ${approval.status} by ${approval.decided_by}; a decision is made once.`);
      }
      const task = await tx.getTaskForUpdate(approval.task_id);
      if (!task) throw new MeshError("not_found", `Approval ${id} refers to a task that does not exist.`);
      if (FINISHED.has(task.status)) {
        throw new MeshError("conflict", `Task ${task.task_id} is already ${task.status}, so approval ${id} no longer decides anything.`);
      }
      const decided: Approval = { ...approval, status: input.decision, decided_by: caller.subject, comments: input.comments ?? "", decided_at: now };
      await tx.updateApproval(id, decided);
      await this.#touch(tx, task, now);
      await recordChange(tx, ctx, now, { action: `approval.${input.decision}`, task, approval, from: "pending", to: input.decision });
      return decided;
    });
  }

  // ── audit ──────────────────────────────────────────────────────────────────

  async listAudit(ctx: RequestContext, query: AuditQuery): Promise<AuditPage> {
    if (!ctx.caller.isAdmin) throw new MeshError("forbidden", "Only admins may read the audit trail.");
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const rows = await this.#store.listAudit({
      actor: query.actor,
      action: query.action,
      task_id: query.task_id,
      // Stored times are UTC; an offset like +02:00 must not be compared as text.
      since: query.since && new Date(query.since).toISOString(),
      until: query.until && new Date(query.until).toISOString(),
      after: decodeCursor(query.cursor),
      limit,
    });
    const last = rows.at(-1);
    return { items: rows, next_cursor: last && rows.length === limit ? encodeCursor(last.seq) : null };
  }

  // ── live ───────────────────────────────────────────────────────────────────

  /** A stream of the changes the caller may hear: from the audit trail after `afterSeq` (if given), then live ones. */
  openEvents(ctx: RequestContext, afterSeq: number | null): EventStream {
    return this.#live.openEvents(ctx, afterSeq, { hears: (c) => mayHear(ctx.caller, c), hearer: this.#visibility(ctx.caller) });
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
