/**
 * Who may do what: every rule about callers, one pure function per question. The
 * service asks these before it acts; each store's visibility SQL is a named copy of
 * `mayReadTask` and `mayHear` for lists (the property test in tests/store proves they
 * agree); the answers carry the verdicts so tools and the page show them, not re-derive them.
 */
import { FINISHED, HELD, type ApprovalRecord, type ChangeEvent, type DecideRefusal, type Task, type Transition } from "../contract/schemas.ts";

/** Who is asking, as a verified token or a signed-in session says. Only `callerOf` makes one. */
export type Caller = {
  readonly subject: string;
  readonly roles: ReadonlySet<string>;
  readonly isAdmin: boolean;
};

/** The one way to make a caller: admins are the holders of the operator's admin role. */
export function callerOf(subject: string, roles: Iterable<string>, adminRole: string): Caller {
  const held = new Set(roles);
  return { subject, roles: held, isAdmin: held.has(adminRole) };
}

/** A refusal says why, in words for the caller, and whether it is about who they are or the state things are in. */
export type Verdict = { ok: true } | { ok: false; kind: "forbidden" | "conflict"; why: string };

type Refusal = Extract<Verdict, { ok: false }>;

const allowed = { ok: true } as const;
const forbidden = (why: string): Refusal => ({ ok: false, kind: "forbidden", why });
const conflict = (why: string): Refusal => ({ ok: false, kind: "conflict", why });

/**
 * What a list may show a caller, for the stores' visibility SQL: what `mayReadTask`
 * (and `mayHear`) allow `subject` holding `roles`; undefined for admins, who see everything.
 */
export type Visibility = { subject: string; roles: readonly string[] };

export function visibilityOf(caller: Caller): Visibility | undefined {
  return caller.isAdmin ? undefined : { subject: caller.subject, roles: [...caller.roles] };
}

/**
 * Reading a task: admins, its source, holders of its target role, and holders of the
 * approver role of any approval on it (they must see what they approve; ADR 0001 §1).
 */
export function mayReadTask(caller: Caller, task: Pick<Task, "source" | "target">, approverRoles: readonly string[]): boolean {
  return caller.isAdmin || task.source === caller.subject || caller.roles.has(task.target) || approverRoles.some((r) => caller.roles.has(r));
}

/**
 * A list of tasks for roles the caller holds (`targets`) shows the same to every holder
 * of them, since holders of a task's target role read it (mayReadTask): it needs no
 * filter by who asks, and holders waiting on it may share one read.
 */
export const readsAsHolder = (caller: Caller, targets: readonly string[] | undefined): boolean =>
  targets !== undefined && targets.length > 0 && targets.every((role) => caller.roles.has(role));

export const readTaskRefusal = (task: Pick<Task, "task_id" | "target">) =>
  `Task ${task.task_id} is visible to its source, holders of role ${task.target}, its approvers and admins.`;

/** Reading an approval: who asked for it, holders of its approver role, and whoever may read its task. */
export function mayReadApproval(
  caller: Caller,
  approval: Pick<ApprovalRecord, "requested_by" | "approver_role">,
  taskReadable: () => Promise<boolean>,
): Promise<boolean> {
  if (caller.isAdmin || approval.requested_by === caller.subject || caller.roles.has(approval.approver_role)) return Promise.resolve(true);
  return taskReadable();
}

export const readApprovalRefusal = (approval: Pick<ApprovalRecord, "approval_id" | "approver_role">) =>
  `Approval ${approval.approval_id} is visible to who asked for it, holders of role ${approval.approver_role} and readers of its task.`;

/**
 * Hearing a change (long-polls, event streams), judged from the change itself so no read
 * is needed per listener: admins, the task's source, holders of its target role, and,
 * for a change to an approval, holders of that approval's role. An approver reads the
 * whole task but hears only its approval's changes (the change row names one approver
 * role); the approval's `may_decide` says when its task has finished.
 */
export function mayHear(caller: Caller, change: Pick<ChangeEvent, "source" | "target" | "approver_role">): boolean {
  return (
    caller.isAdmin ||
    change.source === caller.subject ||
    caller.roles.has(change.target) ||
    (change.approver_role !== null && caller.roles.has(change.approver_role))
  );
}

/** The moves a caller makes; the others (a lease lapsing, a dead letter, a deadline passing) only the controller's clocks make. */
export type CallerMove = Exclude<Transition, "lapse" | "dead_letter" | "expire">;

/**
 * Moving a task on: holders of the target role claim; only the claimant finishes or
 * asks the sender a question (ADR 0001 §2); only the sender answers it; the source or
 * an admin cancels (§3) and revives a dead letter. Whether
 * the task's state allows the move is the state machine's question, not this one.
 */
export function mayMove(caller: Caller, task: Pick<Task, "task_id" | "target" | "source" | "claimed_by">, move: CallerMove): Verdict {
  switch (move) {
    case "claim":
      return caller.roles.has(task.target) ? allowed : forbidden(`Only holders of role ${task.target} may claim task ${task.task_id}.`);
    // Which claimant may finish is holdsLease's question: the attempt says it.
    case "complete":
    case "fail":
    case "retry":
    case "ask":
      return caller.roles.has(task.target) ? allowed : forbidden(`Only holders of role ${task.target} may finish task ${task.task_id}.`);
    case "cancel":
      return caller.isAdmin || task.source === caller.subject ? allowed : forbidden(`Only the task's source (${task.source}) or an admin may cancel it.`);
    case "answer":
      return mayReply(caller, task);
    case "revive":
      return caller.isAdmin || task.source === caller.subject
        ? allowed
        : forbidden(`Only the task's source (${task.source}) or an admin may put task ${task.task_id} back.`);
  }
}

/**
 * Holding the lease (fencing): a heartbeat, complete or fail counts only from the
 * current attempt of a claimed task, by its claimant. A call from an attempt that lapsed
 * is refused even when the same identity holds the new one (a restarted agent, a second
 * process), so two holders can never both finish a task.
 */
export function holdsLease(caller: Caller, task: Pick<Task, "task_id" | "target" | "status" | "claimed_by" | "attempt">, attempt: number): Verdict {
  if (!caller.roles.has(task.target)) return forbidden(`Only holders of role ${task.target} may work on task ${task.task_id}.`);
  if (HELD.has(task.status) && task.attempt === attempt) {
    return task.claimed_by === caller.subject ? allowed : forbidden(`Task ${task.task_id} was claimed by ${task.claimed_by}; only they may finish it.`);
  }
  return conflict(leaseLost(task, attempt));
}

/** Why a call from an attempt that is no longer current counts for nothing. */
export function leaseLost(task: Pick<Task, "task_id" | "status" | "claimed_by" | "attempt">, attempt: number): string {
  const now = HELD.has(task.status) ? `it is now attempt ${task.attempt}, held by ${task.claimed_by}` : `it is now ${task.status} (attempt ${task.attempt})`;
  return `The lease on task ${task.task_id} for attempt ${attempt} was lost: ${now}. Your work on it no longer counts; leave it and check your inbox for other work.`;
}

/** Answering the holder's question: the task's sender, who asked for the work and knows what it needs. */
export function mayReply(caller: Caller, task: Pick<Task, "task_id" | "source">): Verdict {
  return task.source === caller.subject ? allowed : forbidden(`Only the sender of task ${task.task_id} (${task.source}) may answer its questions.`);
}

/** A note on a task's thread: either side of it, its sender or its holder while they hold it; never on a finished task. */
export function mayNote(caller: Caller, task: Pick<Task, "task_id" | "source" | "status" | "claimed_by">): Verdict {
  const holder = HELD.has(task.status) && task.claimed_by === caller.subject;
  if (task.source !== caller.subject && !holder) return forbidden(`Only the sender of task ${task.task_id} or its holder may add a note to its thread.`);
  if (FINISHED.has(task.status)) return conflict(`Task ${task.task_id} is already ${task.status}; its thread is closed.`);
  return allowed;
}

/** Adding a subtask: only the parent's holder, while they hold it (claimed, or waiting for an answer). */
export function mayAddSubtask(caller: Caller, parent: Pick<Task, "task_id" | "status" | "claimed_by">): Verdict {
  if (HELD.has(parent.status) && parent.claimed_by === caller.subject) return allowed;
  if (HELD.has(parent.status)) return forbidden(`Task ${parent.task_id} is held by ${parent.claimed_by}; only its holder may add subtasks to it.`);
  return conflict(`Task ${parent.task_id} is ${parent.status}; subtasks can be added only by its holder while it is claimed.`);
}

/** Completing a task whose subtasks are not all finished: only when its holder says so (`force`). */
export function mayCompleteWith(task: Pick<Task, "task_id">, unfinishedSubtasks: number, force: boolean): Verdict {
  if (unfinishedSubtasks === 0 || force) return allowed;
  return conflict(
    `Task ${task.task_id} has ${unfinishedSubtasks} unfinished subtask(s); wait for them (fetch_status on this task wakes when one changes), cancel them, or complete with force.`,
  );
}

/** Putting a dead-lettered task back: its source or an admin, as for cancelling. */
export const mayRevive = (caller: Caller, task: Pick<Task, "task_id" | "target" | "source" | "claimed_by">): boolean => mayMove(caller, task, "revive").ok;

/** Asking for approval on a task: its source, holders of its target role, admins; only while it is open. */
export function mayAskForApproval(caller: Caller, task: Pick<Task, "task_id" | "target" | "source" | "status">): Verdict {
  if (!(caller.isAdmin || task.source === caller.subject || caller.roles.has(task.target))) {
    return forbidden(`Only the task's source, holders of role ${task.target} or an admin may ask for approval on it.`);
  }
  if (FINISHED.has(task.status)) return conflict(`Task ${task.task_id} is already ${task.status}; approval can only be asked for open tasks.`);
  return allowed;
}

/** A refusal to decide also names which rule refused, so a tool or the page can say it in its own words. */
export type DecideVerdict = { ok: true } | (Refusal & { refusal: DecideRefusal });

/**
 * Deciding an approval: a holder of its approver role who did not ask for it (four
 * eyes, ADR 0001 §8), once, while its task is open.
 */
export function mayDecide(
  caller: Caller,
  approval: Pick<ApprovalRecord, "approval_id" | "approver_role" | "requested_by" | "status" | "decided_by">,
  task: Pick<Task, "task_id" | "status">,
): DecideVerdict {
  const id = approval.approval_id;
  const role = approval.approver_role;
  if (!caller.roles.has(role)) return { ...forbidden(`Only holders of role ${role} may decide approval ${id}.`), refusal: "not_an_approver" };
  if (approval.requested_by === caller.subject) {
    return { ...forbidden(`You asked for approval ${id}; another holder of role ${role} must decide it.`), refusal: "asked_for_it" };
  }
  if (approval.status === "expired") return { ...conflict(`Approval ${id} expired undecided; ask again if it is still needed.`), refusal: "expired" };
  if (approval.status !== "pending") {
    return { ...conflict(`Approval ${id} was already ${approval.status} by ${approval.decided_by}; a decision is made once.`), refusal: "already_decided" };
  }
  if (FINISHED.has(task.status)) {
    return { ...conflict(`Task ${task.task_id} is already ${task.status}, so approval ${id} no longer decides anything.`), refusal: "task_finished" };
  }
  return allowed;
}

/** Reading the audit trail: admins only. */
export function mayReadAudit(caller: Caller): Verdict {
  return caller.isAdmin ? allowed : forbidden("Only admins may read the audit trail.");
}

/** Admins may erase a person's or agent's payloads. */
export function mayErase(caller: Caller): Verdict {
  return caller.isAdmin ? allowed : forbidden("Only admins may erase someone's data.");
}

/** Serving a role (a worker, a session waiting on its inbox) takes holding it: no one is shown serving a role they cannot claim for. */
export function mayServe(caller: Caller, roles: readonly string[]): Verdict {
  const missing = roles.filter((r) => !caller.roles.has(r));
  return missing.length === 0
    ? allowed
    : forbidden(`You do not hold the role${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, so you cannot serve ${missing.length > 1 ? "them" : "it"}.`);
}
