/**
 * The mesh service owns every rule: who may see and do what, the task state machine,
 * idempotency, the audit trail and long-poll waits. Routes only translate HTTP.
 */
import { sha256Hex } from "../lib/digest.ts";
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
} from "../lib/schemas.ts";
import { FINISHED, LIMITS, Priority, TaskStatus } from "../lib/schemas.ts";
import type { RequestContext } from "./caller.ts";
import type { Caller } from "./policy.ts";
import type { Change, StoreTx, Store } from "./store/store.ts";
import { decodeCursor, encodeCursor, pageOf } from "./pages.ts";
import { withoutSeq } from "./store/rows.ts";

export type ServiceOptions = {
  /** How long an Idempotency-Key is remembered. */
  idempotencyTtlSeconds: number;
  /** Long-polls one caller may hold open at once. */
  maxWaitsPerCaller: number;
  /** Approvals one task may have waiting for a decision at once. */
  maxOpenApprovalsPerTask: number;
  now?: () => Date;
};

type Transition = "claim" | "complete" | "fail" | "cancel";

/** The task state machine: which states each move starts from and where it ends. */
const TRANSITIONS: Record<Transition, { from: readonly TaskStatus[]; to: TaskStatus }> = {
  claim: { from: ["pending"], to: "claimed" },
  complete: { from: ["claimed"], to: "completed" },
  fail: { from: ["claimed"], to: "failed" },
  cancel: { from: ["pending", "claimed"], to: "cancelled" },
};

const EVENT_BATCH = 500;
/** Changes one stream may have waiting to be sent before it is closed. */
const EVENT_QUEUE = 10_000;
const EVENT_HEARTBEAT_MS = 15_000;

/** Yielded by an event stream when nothing happened for a while, so proxies keep it open. */
export const HEARTBEAT = "heartbeat";

export type EventStream = { changes: AsyncGenerator<Change | typeof HEARTBEAT>; close: () => void };

const nonEmpty = <T>(rows: T[]): T[] | null => (rows.length ? rows : null);

/** Resolves once: when called, when `ms` pass, or when `signal` aborts. */
function settleOnce(resolve: () => void, ms: number, signal?: AbortSignal): () => void {
  const timer = setTimeout(finish, ms);
  signal?.addEventListener("abort", finish, { once: true });
  function finish() {
    clearTimeout(timer);
    signal?.removeEventListener("abort", finish);
    resolve();
  }
  return finish;
}

/** Stable JSON: key order must not make two equal requests look different. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );

export class MeshService {
  readonly #store: Store;
  readonly #options: ServiceOptions;
  readonly #waits = new Map<string, number>();
  #replays = 0;

  constructor(store: Store, options: ServiceOptions) {
    this.#store = store;
    this.#options = options;
  }

  #now() {
    return (this.#options.now?.() ?? new Date()).toISOString();
  }

  // ── who may do what ────────────────────────────────────────────────────────

  async #canRead(caller: Caller, task: Task): Promise<boolean> {
    if (caller.isAdmin || task.source === caller.subject || caller.roles.has(task.target)) return true;
    const asked = await this.#store.listApprovals({ task_id: task.task_id, approver_roles: [...caller.roles], limit: 1 });
    return asked.length > 0;
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

  // ── idempotent units of work ───────────────────────────────────────────────

  /**
   * Runs `work` in one transaction together with its audit rows and, when the caller
   * sent an Idempotency-Key, the record of its answer: a replay gets that answer back.
   */
  #mutate<T extends JsonObject>(ctx: RequestContext, operation: string, input: unknown, work: (tx: StoreTx, now: string) => Promise<T>): Promise<T> {
    return this.#store.transaction(async (tx) => {
      const now = this.#now();
      const key = ctx.idempotencyKey;
      if (key === undefined) return work(tx, now);
      const scope = ctx.caller.subject;
      const hash = sha256Hex(canonical({ operation, input }));
      const expires = new Date(Date.parse(now) + this.#options.idempotencyTtlSeconds * 1000).toISOString();
      const reservation = await tx.reserveIdempotency(scope, key, hash, now, expires);
      if (reservation.kind === "replay") {
        if (reservation.request_hash !== hash) {
          throw new MeshError("idempotency_mismatch", `Idempotency-Key ${key} was first used with a different request; use a new key for a new request.`);
        }
        this.#replays++;
        return reservation.response as T;
      }
      const result = await work(tx, now);
      await tx.saveIdempotentResponse(scope, key, result);
      return result;
    });
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
    return this.#mutate(ctx, "route", { ...input, source: caller.subject }, async (tx, now) => {
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
      await tx.appendAudit(
        { at: now, actor: caller.subject, action: "task.created", task_id: task.task_id, approval_id: null, from_status: null, to_status: "pending", trace_id: traceId },
        { target: task.target, source: task.source, approver_role: null },
      );
      return { task_id: task.task_id, status: "pending" as const, trace_id: traceId };
    });
  }

  async getTask(ctx: RequestContext, id: string, query: TaskReadQuery = {}): Promise<TaskDetail> {
    const first = await this.#readableTask(ctx.caller, id);
    const baseline = query.after_version ?? first.version;
    const changed = (t: Task | null) => (t && t.version > baseline ? t : null);
    const task =
      query.wait && !changed(first)
        ? ((await this.#wait(ctx, query.wait, async () => changed(await this.#store.getTask(id)), (c) => c.task_id === id)) ?? first)
        : first;
    // The newest few of each, so a task's answer has a size bound however long its life; the rest are a link away.
    const [history, approvals] = await Promise.all([this.#history(id, { limit: LIMITS.detailHistory }), this.#approvals(id, { limit: LIMITS.detailApprovals })]);
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
    await this.#readableTask(ctx.caller, id);
    return this.#approvals(id, query);
  }

  async #history(id: string, query: TaskListQuery): Promise<HistoryPage> {
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const rows = await this.#store.listAudit({ task_id: id, after: decodeCursor(query.cursor), limit: limit + 1 });
    const page = pageOf(rows, limit);
    return { items: page.rows.map(({ task_id: _t, ...entry }) => entry), next_cursor: page.next_cursor };
  }

  async #approvals(id: string, query: TaskListQuery): Promise<ApprovalPage> {
    const limit = query.limit ?? LIMITS.defaultPageSize;
    const page = pageOf(await this.#store.listApprovals({ task_id: id, after: decodeCursor(query.cursor), limit: limit + 1 }), limit);
    return { items: page.rows.map(withoutSeq), next_cursor: page.next_cursor };
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
        limit: limit + 1,
      });
    let rows = await read();
    if (rows.length === 0 && query.wait) {
      rows = (await this.#wait(ctx, query.wait, async () => nonEmpty(await read()), (c) => this.#mayHear(ctx.caller, c))) ?? [];
    }
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
    const { caller, traceId } = ctx;
    return this.#mutate(ctx, `${move}:${id}`, outcome, async (tx, now) => {
      const task = await tx.getTaskForUpdate(id);
      if (!task) throw new MeshError("not_found", `No task has the id ${id}.`);
      const refusal = this.#mayMove(caller, task, move);
      if (refusal) throw new MeshError("forbidden", refusal);
      // Claiming what you already hold changes nothing, so it succeeds, as a retry should.
      if (move === "claim" && task.status === "claimed" && task.claimed_by === caller.subject) return task;
      const { from, to } = TRANSITIONS[move];
      if (!from.includes(task.status)) {
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
      await tx.appendAudit(
        { at: now, actor: caller.subject, action: `task.${to}`, task_id: id, approval_id: null, from_status: task.status, to_status: to, trace_id: traceId },
        { target: task.target, source: task.source, approver_role: null },
      );
      return updated;
    });
  }

  // ── approvals ──────────────────────────────────────────────────────────────

  requestApproval(ctx: RequestContext, input: ApprovalRequest): Promise<ApprovalCreated> {
    const { caller, traceId } = ctx;
    return this.#mutate(ctx, "approval", input, async (tx, now) => {
      const task = await tx.getTaskForUpdate(input.task_id);
      if (!task) throw new MeshError("not_found", `No task has the id ${input.task_id}.`);
      if (!(caller.isAdmin || task.source === caller.subject || caller.roles.has(task.target))) {
        throw new MeshError("forbidden", `Only the task's source, holders of role ${task.target} or an admin may ask for approval on it.`);
      }
      if (FINISHED.has(task.status)) throw new MeshError("conflict", `Task ${task.task_id} is already ${task.status}; approval can only be asked for open tasks.`);
      const open = await tx.countPendingApprovals(task.task_id);
      if (open >= this.#options.maxOpenApprovalsPerTask) {
        throw new MeshError(
          "conflict",
          `Task ${task.task_id} already has ${open} approvals waiting for a decision, the most one task may have (MESH_MAX_OPEN_APPROVALS_PER_TASK); ask again once one is decided.`,
        );
      }
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
      await tx.appendAudit(
        { at: now, actor: caller.subject, action: "approval.requested", task_id: task.task_id, approval_id: approval.approval_id, from_status: null, to_status: "pending", trace_id: traceId },
        { target: task.target, source: task.source, approver_role: approval.approver_role },
      );
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
    return (await this.#wait(ctx, query.wait, decided, (c) => c.approval_id === id)) ?? approval;
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
        limit: limit + 1,
      });
    let rows = await read();
    if (rows.length === 0 && query.wait) {
      rows = (await this.#wait(ctx, query.wait, async () => nonEmpty(await read()), (c) => c.approval_id !== null && this.#mayHear(ctx.caller, c))) ?? [];
    }
    const page = pageOf(rows, limit);
    return { items: page.rows.map(withoutSeq), next_cursor: page.next_cursor };
  }

  decideApproval(ctx: RequestContext, id: string, input: DecisionRequest): Promise<Approval> {
    const { caller, traceId } = ctx;
    return this.#mutate(ctx, `decide:${id}`, input, async (tx, now) => {
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
      await tx.appendAudit(
        { at: now, actor: caller.subject, action: `approval.${input.decision}`, task_id: task.task_id, approval_id: id, from_status: "pending", to_status: input.decision, trace_id: traceId },
        { target: task.target, source: task.source, approver_role: approval.approver_role },
      );
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
      limit: limit + 1,
    });
    const page = pageOf(rows, limit);
    return { items: page.rows, next_cursor: page.next_cursor };
  }

  // ── waiting ────────────────────────────────────────────────────────────────

  /** Whether a change concerns something the caller may see (a cheap pre-filter; reads re-check). */
  #mayHear(caller: Caller, change: Change): boolean {
    return (
      caller.isAdmin ||
      change.source === caller.subject ||
      caller.roles.has(change.target) ||
      (change.approver_role !== null && caller.roles.has(change.approver_role))
    );
  }

  /**
   * Waits until `check` finds something, re-checking only when a relevant change is
   * committed (by this controller or, on PostgreSQL, another), the time is up, or the
   * client has gone. Listening starts before the first check, so no change slips by.
   */
  async #wait<T>(ctx: RequestContext, seconds: number, check: () => Promise<T | null>, relevant: (c: Change) => boolean): Promise<T | null> {
    const release = this.#holdSlot(ctx.caller.subject);
    let wake: () => void = () => {};
    let dirty = false;
    const unsubscribe = this.#store.onChange((c) => {
      if (relevant(c)) {
        dirty = true;
        wake();
      }
    });
    const deadline = Math.min(Date.now() + seconds * 1000, ctx.expiresAt ?? Infinity);
    try {
      for (;;) {
        dirty = false;
        const found = await check();
        if (found !== null) return found;
        const left = deadline - Date.now();
        if (left <= 0 || ctx.signal?.aborted) return null;
        if (dirty) continue;
        await new Promise<void>((resolve) => {
          wake = settleOnce(resolve, left, ctx.signal);
        });
      }
    } finally {
      unsubscribe();
      release();
    }
  }

  /**
   * Opens a stream of the changes the caller may see. The caller's budget is charged
   * now, so one stream too many is a 429 before anything is sent; `close` gives the
   * slot back even if the stream was never read.
   */
  openEvents(ctx: RequestContext, afterSeq: number | null): EventStream {
    const hold = this.#holdSlot(ctx.caller.subject);
    let held = true;
    const close = () => {
      if (held) hold();
      held = false;
    };
    return { changes: this.#events(ctx, afterSeq, close), close };
  }

  /**
   * First the changes after `afterSeq` from the audit trail (a reconnecting client
   * misses nothing), then live ones; with `afterSeq` null, live ones only. Listening
   * starts before the replay so nothing falls between the two. Both engines deliver
   * changes in `seq` order, so one position is all the de-duplication needed.
   */
  async *#events(ctx: RequestContext, afterSeq: number | null, close: () => void): AsyncGenerator<Change | typeof HEARTBEAT> {
    const live: Change[] = [];
    let overflowed = false;
    let wake: () => void = () => {};
    const unsubscribe = this.#store.onChange((c) => {
      if (!this.#mayHear(ctx.caller, c)) return;
      if (live.length >= EVENT_QUEUE) overflowed = true;
      else live.push(c);
      wake();
    });
    let upTo = afterSeq ?? -1;
    let nextCheck = Date.now() + EVENT_HEARTBEAT_MS;
    try {
      for (let replaying = afterSeq !== null; replaying; ) {
        const batch = await this.#store.changesSince(upTo, EVENT_BATCH);
        for (const change of batch) {
          upTo = change.seq;
          if (this.#mayHear(ctx.caller, change)) yield change;
        }
        replaying = batch.length === EVENT_BATCH;
      }
      for (;;) {
        for (let change = live.shift(); change; change = live.shift()) {
          if (change.seq <= upTo) continue;
          upTo = change.seq;
          yield change;
        }
        // A reader too slow to keep up is let go; it resumes with Last-Event-ID. So is one whose token or session ran out.
        const left = (ctx.expiresAt ?? Infinity) - Date.now();
        if (overflowed || ctx.signal?.aborted || left <= 0) return;
        if (Date.now() >= nextCheck) {
          // A person who signed out (here or through another controller) stops hearing within a heartbeat.
          if (ctx.stillSignedIn && !(await ctx.stillSignedIn())) return;
          nextCheck = Date.now() + EVENT_HEARTBEAT_MS;
        }
        await new Promise<void>((resolve) => {
          wake = settleOnce(resolve, Math.min(EVENT_HEARTBEAT_MS, left), ctx.signal);
        });
        if (live.length === 0 && !overflowed) yield HEARTBEAT;
      }
    } finally {
      unsubscribe();
      close();
    }
  }

  /** Long-polls and event streams share one budget per caller. */
  #holdSlot(subject: string): () => void {
    const open = this.#waits.get(subject) ?? 0;
    if (open >= this.#options.maxWaitsPerCaller) {
      throw new MeshError("rate_limited", `You already have ${open} long-polls or event streams open; close one first.`);
    }
    this.#waits.set(subject, open + 1);
    return () => {
      const left = (this.#waits.get(subject) ?? 1) - 1;
      if (left === 0) this.#waits.delete(subject);
      else this.#waits.set(subject, left);
    };
  }

  /** Figures for /metrics. */
  stats() {
    let openWaits = 0;
    for (const n of this.#waits.values()) openWaits += n;
    return { openWaits, replays: this.#replays };
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
    return this.#store.purgeExpired(this.#now());
  }
}
