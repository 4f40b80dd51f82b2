/**
 * The controller's HTTP contract, written once. These schemas validate requests in
 * the controller, type the controller client, become MCP input/output schemas and
 * make up /openapi.json.
 */
import { z } from "zod";
import { isKeepableText } from "./keepable.ts";
import { EVENT_ACTIONS } from "./event-actions.ts";

export { LIMITS } from "./limits.ts";
import { LIMITS } from "./limits.ts";

const name = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(LIMITS.roleLength)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, `${what} may hold letters, digits and . _ : @ / - only`);

export const Role = name("role").describe("A role name, e.g. `reviewer`.");
export const Subject = z
  .string()
  .min(1)
  .max(LIMITS.roleLength)
  .refine(isKeepableText, "must be Unicode text without U+0000")
  .describe("A caller's identity (the token's `sub`).");
export const Id = z.string().min(1).max(LIMITS.idLength).describe("An id issued by the controller.");
export const Timestamp = z.string().describe("RFC 3339 time, UTC.");

/** An Idempotency-Key: a retry that carries the same one gets the first answer, not a second write. */
export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 visible ASCII characters");

export const Priority = z.enum(["low", "normal", "high"]);
export type Priority = z.infer<typeof Priority>;

export const TaskStatus = z.enum(["pending", "claimed", "input_required", "completed", "failed", "cancelled", "dead_lettered", "expired"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

/**
 * The task state machine: which states each move starts from and where it ends. The
 * controller's clocks make three of them: a lease that lapses, a task out of attempts
 * (dead-lettered), a deadline that passes.
 */
export const TRANSITIONS = {
  claim: { from: ["pending"], to: "claimed" },
  complete: { from: ["claimed"], to: "completed" },
  fail: { from: ["claimed"], to: "failed" },
  /** A failure worth another attempt: claimable again after a backoff. */
  retry: { from: ["claimed"], to: "pending" },
  /** The holder asks the sender a question (A2A's `input-required`); its lease stops running while it waits. */
  ask: { from: ["claimed"], to: "input_required" },
  /** The sender answers: the task is the same holder's again, with a fresh lease. */
  answer: { from: ["input_required"], to: "claimed" },
  cancel: { from: ["pending", "claimed", "input_required"], to: "cancelled" },
  lapse: { from: ["claimed"], to: "pending" },
  dead_letter: { from: ["claimed"], to: "dead_lettered" },
  expire: { from: ["pending", "claimed", "input_required"], to: "expired" },
  /** A dead letter put back by its sender or an admin, with a fresh budget of attempts. */
  revive: { from: ["dead_lettered"], to: "pending" },
} as const satisfies Record<string, { from: readonly TaskStatus[]; to: TaskStatus }>;
export type Transition = keyof typeof TRANSITIONS;

/** Whether `move` may start from a task in `status`. */
export const startsFrom = (move: Transition, status: TaskStatus): boolean => (TRANSITIONS[move].from as readonly TaskStatus[]).includes(status);

/**
 * A task in one of these is finished: no work starts from it, and its approvals decide
 * nothing. Reviving a dead letter is not work on it, so a dead letter is finished until revived.
 */
export const FINISHED: ReadonlySet<TaskStatus> = new Set(
  TaskStatus.options.filter((status) => (Object.keys(TRANSITIONS) as Transition[]).every((move) => move === "revive" || !startsFrom(move, status))),
);

/** A task its holder is working on: claimed, or waiting for its sender's answer (the lease is held through both). */
export const HELD: ReadonlySet<TaskStatus> = new Set(["claimed", "input_required"]);

/** What the audit trail and the event stream say happened. */
export const EventAction = z.enum(EVENT_ACTIONS);
export type EventAction = z.infer<typeof EventAction>;

export const ApprovalStatus = z.enum(["pending", "approved", "rejected", "expired"]);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

export const Decision = z.enum(["approved", "rejected"]);
export type Decision = z.infer<typeof Decision>;

/**
 * Said of an object that takes any further fields. Zod writes that as `additionalProperties: {}`,
 * a schema that constrains nothing, which strict clients (the MCP Inspector's `--strict`) warn
 * about; `true` means the same in the spelling they expect.
 */
export const OPEN = { additionalProperties: true } as const;

/** Free-form JSON object, e.g. a task's data or context. */
export const JsonObject = z.record(z.string(), z.unknown()).meta(OPEN);
export type JsonObject = z.infer<typeof JsonObject>;

/** Strict: a field it does not know is refused and named, never dropped (`task.priority` would be). */
export const TaskSpec = z.strictObject({
  task_type: name("task_type").describe("What kind of work, e.g. `code_review` or `notification`."),
  description: z.string().max(LIMITS.textLength).optional().describe("What to do, for the agent or person who takes it."),
  data: JsonObject.optional().describe("Anything the taker needs: files, ids, parameters."),
});
export type TaskSpec = z.infer<typeof TaskSpec>;

export const RouteTaskRequest = z.strictObject({
  target: Role.describe("The role that should do the task."),
  task: TaskSpec,
  context: JsonObject.optional().describe("Where the task comes from: conversation, repo, ticket."),
  priority: Priority.optional().describe("Defaults to `normal`."),
  source: Subject.optional().describe("Must equal the caller's own identity if given; the token decides it."),
  max_attempts: z
    .number()
    .int()
    .min(1)
    .max(LIMITS.maxAttempts)
    .optional()
    .describe(
      `How many claims the task may have before it is dead-lettered (lapsed leases and retried failures count). Defaults to ${LIMITS.defaultMaxAttempts}.`,
    ),
  deadline: z.iso
    .datetime({ offset: true })
    .optional()
    .describe("RFC 3339 time by which the task must be finished; past it the task is `expired`. Or give `deadline_seconds`."),
  deadline_seconds: z
    .number()
    .int()
    .min(1)
    .max(LIMITS.horizonSeconds)
    .optional()
    .describe("Seconds from now by which the task must be finished; the same as `deadline`."),
  parent_task_id: Id.optional().describe(
    `Makes this a subtask of a task you hold (claimed): the parent shows it, and cancelling the parent cancels it. At most ${LIMITS.subtasksPerTask} per task, ${LIMITS.subtaskDepth} levels deep.`,
  ),
});
export type RouteTaskRequest = z.infer<typeof RouteTaskRequest>;

/** One kind of finding the controller's privacy guard masked in one field before storing it. */
export const MaskedField = z.object({
  field: z.string().describe("Where, as the request named it: `task.data.email`, `result.notes`, `reason`."),
  kind: z.string().describe("What was found: `EMAIL`, `CARD_NUMBER`, `AWS_ACCESS_KEY_ID`, …"),
  count: z.number().int(),
});
export type MaskedField = z.infer<typeof MaskedField>;

/** Said in the answer to a write when the privacy guard masked something in it; absent when nothing was. */
const masked = z
  .array(MaskedField)
  .optional()
  .describe("What the privacy guard replaced with placeholders such as `[EMAIL]` before storing: send a reference instead of such values.");

/** Findings by kind, as the audit trail records them: counts, never the values. */
const Findings = z.record(z.string(), z.number().int()).optional().describe("What the privacy guard masked in this change, by kind; absent when nothing was.");

export const RouteTaskResponse = z.object({
  task_id: Id,
  status: z.literal("pending"),
  trace_id: z.string(),
  masked,
});
export type RouteTaskResponse = z.infer<typeof RouteTaskResponse>;

/** Which claim a call belongs to: a call from an attempt that is no longer current is refused (fencing). */
export const Attempt = z.number().int().min(1).describe("The attempt your claim answered with; a call from an attempt that is no longer current is a 409.");
const LeaseSeconds = z
  .number()
  .int()
  .min(LIMITS.leaseSeconds.min)
  .max(LIMITS.leaseSeconds.max)
  .describe("How long the lease lasts without a heartbeat; defaults to the controller's MESH_LEASE_SECONDS.");

export const ClaimTaskRequest = z.strictObject({ lease_seconds: LeaseSeconds.optional() });

/** How far along the work is, as its holder last said. */
export const Progress = z.strictObject({
  message: z.string().max(LIMITS.textLength).optional(),
  percent: z.number().min(0).max(100).optional(),
});
export type Progress = z.infer<typeof Progress>;

export const HeartbeatRequest = z.strictObject({
  attempt: Attempt,
  lease_seconds: LeaseSeconds.optional(),
  progress: Progress.optional().describe("How far along the work is; the sender sees it."),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const CompleteTaskRequest = z.strictObject({
  attempt: Attempt,
  result: JsonObject.optional().describe("The outcome, for whoever sent the task."),
  force: z.boolean().optional().describe("Complete even though some subtasks are unfinished (they go on by themselves)."),
});

/** What a thread message says: text for the reader, and optional data for a program. */
const MessageText = (what: string) => z.string().min(1).max(LIMITS.textLength).describe(what);
/** A thread message's data is as small as its text, so a task's whole thread (shown with the task) stays bounded. */
const MessageData = (what: string) =>
  JsonObject.refine((v) => new TextEncoder().encode(JSON.stringify(v)).length <= LIMITS.textLength, {
    message: `must be at most ${LIMITS.textLength} bytes as JSON`,
  })
    .optional()
    .describe(what);
export const AskRequest = z.strictObject({
  attempt: Attempt,
  question: MessageText("What you need from the sender to go on."),
  data: MessageData("Anything structured that goes with the question, e.g. the choices."),
});
export const ReplyRequest = z.strictObject({
  answer: MessageText("The answer to the holder's question."),
  data: MessageData("Anything structured that goes with the answer."),
});
export const NoteRequest = z.strictObject({
  text: MessageText("A note for the other side; the task's state does not change."),
  data: MessageData("Anything structured that goes with the note."),
});
export type AskRequest = z.infer<typeof AskRequest>;
export type ReplyRequest = z.infer<typeof ReplyRequest>;
export type NoteRequest = z.infer<typeof NoteRequest>;

export const ThreadMessageKind = z.enum(["question", "answer", "note"]);
/** One entry of a task's thread: a question its holder asked, the sender's answer, or a note from either. */
export const ThreadMessage = z.object({
  seq: z.number().int(),
  kind: ThreadMessageKind,
  author: Subject,
  at: Timestamp,
  text: z.string(),
  data: JsonObject.describe("Structured data with the message; null when none was given.").nullable(),
});
export type ThreadMessage = z.infer<typeof ThreadMessage>;
export const FailTaskRequest = z.strictObject({
  attempt: Attempt,
  error: z.string().min(1).max(LIMITS.textLength).describe("Why the task could not be done."),
  retry: z.boolean().optional().describe("Worth trying again: the task goes back to pending after a backoff, until its attempts run out."),
});
export const RetryTaskRequest = z.strictObject({
  max_attempts: z.number().int().min(1).max(LIMITS.maxAttempts).optional().describe(`The fresh budget of attempts; defaults to ${LIMITS.defaultMaxAttempts}.`),
});
export const CancelTaskRequest = z.strictObject({
  reason: z.string().max(LIMITS.textLength).optional(),
});

/**
 * Nullable values below carry a description: zod writes a bare nullable type as
 * `type: [X, "null"]`, which strict clients warn about, and a described one as `anyOf`.
 */
const STATUS_CHANGE = z.string().describe("A task's or an approval's status; null where the change has no status before (or after).").nullable();

export const HistoryEntry = z.object({
  seq: z.number().int(),
  at: Timestamp,
  actor: Subject,
  action: EventAction,
  from_status: STATUS_CHANGE,
  to_status: STATUS_CHANGE,
  trace_id: z.string(),
  approval_id: Id.nullable(),
  findings: Findings,
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

/** An approval as stored: what was asked, of whom, and what was decided. */
export const ApprovalRecord = z.object({
  approval_id: Id,
  task_id: Id,
  approver_role: Role,
  reason: z.string(),
  status: ApprovalStatus,
  requested_by: Subject,
  decided_by: Subject.nullable(),
  comments: z.string(),
  created_at: Timestamp,
  decided_at: Timestamp.nullable(),
  trace_id: z.string(),
  expires_at: Timestamp.describe("When the approval expires or escalates if undecided; null when it waits for ever.").nullable(),
  escalate_to: Role.describe("The role it passes to when it expires undecided; null when it just expires.").nullable(),
  escalated_from: Role.describe("The role first asked, once the approval has escalated; null before.").nullable(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

/** Why a caller may not decide an approval, as the controller's policy judged it. */
export const DecideRefusal = z.enum(["not_an_approver", "asked_for_it", "already_decided", "expired", "task_finished"]);
export type DecideRefusal = z.infer<typeof DecideRefusal>;

/** An approval as one caller reads it: the record, and whether this caller may decide it now. */
export const Approval = ApprovalRecord.extend({
  may_decide: z
    .object({
      allowed: z.boolean(),
      refusal: DecideRefusal.optional().describe(
        "When not allowed: `not_an_approver`, `asked_for_it` (four eyes), `already_decided`, `expired` or `task_finished`.",
      ),
      detail: z.string().optional().describe("When not allowed: why, in words for you."),
    })
    .describe("Whether you, the caller, may decide this approval now, and if not why."),
});
export type Approval = z.infer<typeof Approval>;

export const Task = z.object({
  task_id: Id,
  target: Role,
  source: Subject,
  task_type: z.string(),
  description: z.string().describe("What to do; null when the sender gave no description.").nullable(),
  data: JsonObject,
  context: JsonObject,
  priority: Priority,
  status: TaskStatus,
  claimed_by: Subject.nullable(),
  result: JsonObject.nullable(),
  error: z.string().describe("Why the task failed; null unless it failed.").nullable(),
  created_at: Timestamp,
  updated_at: Timestamp,
  version: z.number().int().describe("Grows by one with every change; pass it as `after_version` to wait for the next."),
  trace_id: z.string(),
  attempt: z.number().int().describe("How many times the task has been claimed; each claim is a new attempt (0 before the first)."),
  max_attempts: z.number().int().describe("The attempt after which a lapsed lease or a retried failure dead-letters the task."),
  lease_expires_at: Timestamp.describe(
    "When the holder's lease runs out unless renewed (it does not run out while the task waits in input_required); null unless held.",
  ).nullable(),
  retry_at: Timestamp.describe("When a retried task may be claimed again; null when it may be now.").nullable(),
  deadline: Timestamp.describe("When the task expires unless finished; null when it has none.").nullable(),
  progress: Progress.describe("How far along the holder said the work is; null before it said.").nullable(),
  parent_task_id: Id.describe("The task this one is a subtask of; null for a task of its own.").nullable(),
});
export type Task = z.infer<typeof Task>;

/** A subtask as its parent shows it. */
export const Subtask = Task.pick({ task_id: true, target: true, task_type: true, status: true, claimed_by: true, updated_at: true });
export type Subtask = z.infer<typeof Subtask>;

/** Where the older entries of a task's detail are: a path to GET (a paginated list), or null when the detail shows them all. */
const olderAt = (what: string) => z.string().describe(`The path of the paginated list of the older ${what}; null when all are shown.`).nullable();

export const TaskDetail = Task.extend({
  history: z.array(HistoryEntry).describe(`The newest ${LIMITS.detailHistory} changes, oldest first.`),
  approvals: z.array(Approval).describe(`The newest ${LIMITS.detailApprovals} approvals, oldest first.`),
  older_history: olderAt("changes"),
  older_approvals: olderAt("approvals"),
  thread: z.array(ThreadMessage).describe("Questions, answers and notes between the sender and the holder, oldest first."),
  children: z.array(Subtask).describe("The task's subtasks, oldest first, with their states."),
  may_retry: z.boolean().describe("Whether you, the caller, may put this dead-lettered task back now (POST /tasks/{id}/retry): its sender or an admin."),
});
export type TaskDetail = z.infer<typeof TaskDetail>;

/** A task as a move left it, with what the privacy guard masked in what the move stored. */
export const MovedTask = Task.extend({ masked });
export type MovedTask = z.infer<typeof MovedTask>;

/** An approval as its decision left it, with what the privacy guard masked in the comments. */
export const DecidedApproval = Approval.extend({ masked });
export type DecidedApproval = z.infer<typeof DecidedApproval>;

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe("Pass as `cursor` for the next page; null when there is none."),
  });

export const TaskPage = Page(Task).extend({
  resume_cursor: z
    .string()
    .optional()
    .describe(
      "Oldest first (`order=asc`) only: where tasks that arrive later will appear, even when next_cursor is null. Pass it as `cursor` (with `wait` to long-poll) to get only newer tasks.",
    ),
});
export type TaskPage = z.infer<typeof TaskPage>;

/** A number in a query string: one message for text that is not a number, not zod's "received NaN". */
const queryNumber = (what: string) => z.coerce.number({ error: `must be ${what}` });

const waitSeconds = queryNumber("a number of seconds")
  .min(0)
  .max(LIMITS.waitSeconds, `wait may be at most ${LIMITS.waitSeconds} seconds`)
  .optional()
  .describe("Long-poll: wait up to this many seconds for a change before answering.");
const pageSize = queryNumber("a whole number").int().min(1).max(LIMITS.pageSize).optional();
const cursor = z.string().max(64).optional();

/** `for=me`: what is addressed to any of the caller's roles (an inbox across roles). */
const forMe = z.literal("me").optional();

export const TaskQuery = z.strictObject({
  for: forMe.describe("`me`: tasks for any of your roles, in one list (with `target`: that one of them)."),
  target: Role.optional(),
  source: Subject.optional(),
  status: TaskStatus.optional(),
  task_type: name("task_type").optional(),
  limit: pageSize,
  cursor,
  order: z.enum(["asc", "desc"]).optional().describe("By creation: oldest first (`asc`, default) or newest first."),
  wait: waitSeconds,
});
export type TaskQuery = z.infer<typeof TaskQuery>;

/** A page of a task's own lists (its history, its approvals), newest first. */
export const TaskListQuery = z.strictObject({ limit: pageSize, cursor });
export type TaskListQuery = z.infer<typeof TaskListQuery>;

export const HistoryPage = Page(HistoryEntry);
export type HistoryPage = z.infer<typeof HistoryPage>;

export const TaskReadQuery = z.strictObject({
  wait: waitSeconds,
  after_version: queryNumber("a whole number").int().min(0).optional().describe("With `wait`: answer once the task's version is above this."),
});
export type TaskReadQuery = z.infer<typeof TaskReadQuery>;

export const ApprovalRequest = z.strictObject({
  task_id: Id,
  approver_role: Role.describe("The role whose holders may decide."),
  reason: z.string().min(1).max(LIMITS.textLength).describe("Why approval is needed, for the person deciding."),
  decision: z.literal("pending").optional().describe("Kept for the seed's contract; only `pending` is accepted."),
  comments: z.string().max(LIMITS.textLength).optional(),
  expires_in_seconds: z
    .number()
    .int()
    .min(1)
    .max(LIMITS.horizonSeconds)
    .optional()
    .describe("Undecided after this many seconds, the approval expires, or passes to `escalate_to`."),
  escalate_to: Role.optional().describe("With `expires_in_seconds`: the role the approval passes to when undecided in time."),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

export const ApprovalCreated = z.object({
  approval_id: Id,
  status: z.literal("pending"),
  trace_id: z.string(),
  masked,
});
export type ApprovalCreated = z.infer<typeof ApprovalCreated>;

export const DecisionRequest = z.strictObject({
  decision: Decision,
  comments: z.string().max(LIMITS.textLength).optional(),
});
export type DecisionRequest = z.infer<typeof DecisionRequest>;

export const ApprovalQuery = z.strictObject({
  for: forMe.describe("`me`: approvals any of your roles decides."),
  approver_role: Role.optional(),
  task_id: Id.optional(),
  status: ApprovalStatus.optional().describe("Defaults to `pending`, or with `decided_by` to either decision."),
  decided_by: Subject.optional().describe("Only approvals this subject decided, e.g. your own past decisions."),
  limit: pageSize,
  cursor,
  wait: waitSeconds,
});
export type ApprovalQuery = z.infer<typeof ApprovalQuery>;

export const ApprovalReadQuery = z.strictObject({
  wait: waitSeconds.describe("Long-poll: wait up to this many seconds for the approval to be decided."),
});
export type ApprovalReadQuery = z.infer<typeof ApprovalReadQuery>;

export const ApprovalPage = Page(Approval);
export type ApprovalPage = z.infer<typeof ApprovalPage>;

export const AuditEntry = z.object({
  seq: z.number().int(),
  at: Timestamp,
  actor: Subject,
  action: EventAction,
  task_id: Id,
  approval_id: Id.nullable(),
  from_status: STATUS_CHANGE,
  to_status: STATUS_CHANGE,
  trace_id: z.string(),
  findings: Findings,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditQuery = z.strictObject({
  actor: Subject.optional(),
  action: z.string().max(64).optional(),
  task_id: Id.optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: pageSize,
  cursor,
});
export type AuditQuery = z.infer<typeof AuditQuery>;

export const AuditPage = Page(AuditEntry);
export type AuditPage = z.infer<typeof AuditPage>;

export const Me = z.object({
  subject: Subject,
  roles: z.array(Role),
  is_admin: z.boolean(),
});
export type Me = z.infer<typeof Me>;

/** Who serves a role: a worker (`agent-mesh worker`) or an MCP session waiting on its inbox. */
export const ServerKind = z.enum(["worker", "session"]);
export type ServerKind = z.infer<typeof ServerKind>;

export const PresenceReport = z.strictObject({
  kind: ServerKind,
  instance: z.string().min(1).max(64).describe("Which worker process or session this is, the same on each report (e.g. a random id made at start)."),
  roles: z.array(Role).min(1).max(64).optional().describe("The roles it serves, each one you hold; default every role your token grants."),
});
export type PresenceReport = z.infer<typeof PresenceReport>;

/** One worker or session seen serving a role. */
export const Presence = z.object({ role: Role, kind: ServerKind, subject: Subject, instance: z.string(), last_seen: Timestamp });
export type Presence = z.infer<typeof Presence>;

export const PresenceRecorded = z.object({ roles: z.array(Role), last_seen: Timestamp });
export type PresenceRecorded = z.infer<typeof PresenceRecorded>;

export const RoleServing = z.object({
  role: Role,
  workers: z.number().int().describe(`Workers seen in the last ${LIMITS.servingSeconds} s.`),
  sessions: z.number().int().describe(`MCP sessions seen waiting on their inbox in the last ${LIMITS.servingSeconds} s.`),
  last_seen: Timestamp.describe("When anyone last served the role; null when no one has in the window.").nullable(),
  servers: z
    .array(Presence)
    .describe(`The workers and sessions seen in the last ${LIMITS.presenceWindowSeconds / 3600} h, the most recent first, at most ${LIMITS.serversListed}.`),
});
export type RoleServing = z.infer<typeof RoleServing>;

export const RoleList = z.object({ items: z.array(RoleServing) });
export type RoleList = z.infer<typeof RoleList>;

export const EventQuery = z.strictObject({
  since: queryNumber("a whole number").int().min(0).optional().describe("Resume after this event id (the same as sending Last-Event-ID)."),
});
export type EventQuery = z.infer<typeof EventQuery>;

/** One Server-Sent Event's data: a committed change (its `seq` is the event id). */
export const ChangeEvent = AuditEntry.extend({
  target: Role,
  source: Subject,
  approver_role: Role.nullable(),
  parent_task_id: Id.describe("The parent of the task that changed, so a wait on the parent wakes; null when it has none.").nullable(),
});
export type ChangeEvent = z.infer<typeof ChangeEvent>;

export const ErasureRequest = z.strictObject({
  subject: Subject.describe("The person or agent whose payloads to erase, as their token's `sub`."),
});
export type ErasureRequest = z.infer<typeof ErasureRequest>;

/** That an erasure happened: whose, by whom, when and how many records it emptied. Never what they held. */
export const Erasure = z.object({
  subject: Subject,
  erased_by: Subject,
  at: Timestamp,
  records: z.number().int().describe("Tasks, approvals and kept answers whose payloads were removed."),
});
export type Erasure = z.infer<typeof Erasure>;

/** RFC 9457 problem details, as every error of the controller is shaped. */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  trace_id: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});
export type Problem = z.infer<typeof Problem>;
