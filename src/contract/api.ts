/**
 * The HTTP API, declared once: each endpoint's method, path, inputs, answer and how
 * it is authenticated. The controller attaches a handler to each (type-checked against
 * the answer), the controller client derives its calls from the same values, and
 * /openapi.json is generated from them.
 */
import type { z } from "zod";
import { ENDPOINTS, type EndpointName, type Method } from "./paths.ts";
import {
  Approval,
  ApprovalCreated,
  ApprovalPage,
  ApprovalQuery,
  ApprovalReadQuery,
  ApprovalRequest,
  AskRequest,
  NoteRequest,
  ReplyRequest,
  AuditPage,
  AuditQuery,
  CancelTaskRequest,
  ClaimTaskRequest,
  HeartbeatRequest,
  RetryTaskRequest,
  ChangeEvent,
  CompleteTaskRequest,
  DecidedApproval,
  DecisionRequest,
  Erasure,
  ErasureRequest,
  EventQuery,
  FailTaskRequest,
  HistoryPage,
  Me,
  MovedTask,
  PresenceRecorded,
  PresenceReport,
  RoleList,
  RouteTaskRequest,
  RouteTaskResponse,
  Task,
  TaskDetail,
  TaskPage,
  TaskQuery,
  TaskListQuery,
  TaskReadQuery,
  ThreadMessage,
} from "./schemas.ts";

/** Whether a POST takes an Idempotency-Key, and whether it must. */
export type Idempotency = "required" | "optional" | "none";

export type Endpoint = {
  method: Method;
  path: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** For a stream, the schema of one event. */
  response: z.ZodType;
  produces: "application/json" | "text/event-stream";
  status: number;
  idempotency: Idempotency;
  /** `caller`: a bearer token or a signed-in person's session. */
  auth: "caller";
};

type Defaults<M extends Method> = { status: 200; produces: "application/json"; idempotency: M extends "POST" ? "optional" : "none"; auth: "caller" };

/** An endpoint with the defaults filled in: 200, JSON, an optional Idempotency-Key on every POST. */
function endpoint<const E extends Pick<Endpoint, "method" | "path" | "summary" | "response"> & Partial<Endpoint>>(
  spec: E,
): Omit<Defaults<E["method"]>, keyof E> & E {
  const defaults = { status: 200, produces: "application/json", idempotency: spec.method === "POST" ? "optional" : "none", auth: "caller" };
  return { ...defaults, ...spec } as Omit<Defaults<E["method"]>, keyof E> & E;
}

export const api = {
  routeTask: endpoint({
    ...ENDPOINTS.routeTask,
    summary: "Send a task to a role",
    body: RouteTaskRequest,
    response: RouteTaskResponse,
    status: 202,
    idempotency: "required",
  }),
  whoami: endpoint({ ...ENDPOINTS.whoami, summary: "Who your token says you are: subject, roles, admin", response: Me }),
  listTasks: endpoint({ ...ENDPOINTS.listTasks, summary: "List tasks you may see; ?wait long-polls for new ones", query: TaskQuery, response: TaskPage }),
  getTask: endpoint({
    ...ENDPOINTS.getTask,
    summary: "A task with its newest history and approvals (links to the rest); ?wait long-polls for a change",
    query: TaskReadQuery,
    response: TaskDetail,
  }),
  taskHistory: endpoint({ ...ENDPOINTS.taskHistory, summary: "A task's history, newest first, a page at a time", query: TaskListQuery, response: HistoryPage }),
  taskApprovals: endpoint({
    ...ENDPOINTS.taskApprovals,
    summary: "A task's approvals, whatever their status, newest first",
    query: TaskListQuery,
    response: ApprovalPage,
  }),
  claimTask: endpoint({
    ...ENDPOINTS.claimTask,
    summary: "Take a pending task for your role, as a lease that heartbeats renew",
    body: ClaimTaskRequest,
    response: Task,
  }),
  completeTask: endpoint({ ...ENDPOINTS.completeTask, summary: "Finish a task you claimed, with its result", body: CompleteTaskRequest, response: MovedTask }),
  failTask: endpoint({ ...ENDPOINTS.failTask, summary: "Give up a task you claimed, saying why", body: FailTaskRequest, response: MovedTask }),
  cancelTask: endpoint({ ...ENDPOINTS.cancelTask, summary: "Withdraw a task you sent", body: CancelTaskRequest, response: MovedTask }),
  heartbeatTask: endpoint({
    ...ENDPOINTS.heartbeatTask,
    summary: "Renew the lease on a task you hold, saying how far along it is",
    body: HeartbeatRequest,
    response: Task,
    // A renewal is safe to repeat, and a session sends one every third of a lease: keeping each answer would only fill the key budget.
    idempotency: "none",
  }),
  retryTask: endpoint({
    ...ENDPOINTS.retryTask,
    summary: "Put a dead-lettered task back to pending with a fresh budget of attempts (its sender, admins)",
    body: RetryTaskRequest,
    response: Task,
  }),
  askSender: endpoint({
    ...ENDPOINTS.askSender,
    summary: "Ask the sender of a task you hold a question; the task waits in input_required, its lease paused, until answered",
    body: AskRequest,
    response: Task,
  }),
  replyToTask: endpoint({
    ...ENDPOINTS.replyToTask,
    summary: "Answer the question on a task you sent; it goes back to its holder, claimed",
    body: ReplyRequest,
    response: Task,
  }),
  noteTask: endpoint({
    ...ENDPOINTS.noteTask,
    summary: "Add a note to a task's thread (its sender or holder) without changing its state",
    body: NoteRequest,
    response: ThreadMessage,
  }),
  requestApproval: endpoint({
    ...ENDPOINTS.requestApproval,
    summary: "Ask a role to approve a task",
    body: ApprovalRequest,
    response: ApprovalCreated,
    status: 202,
  }),
  listApprovals: endpoint({
    ...ENDPOINTS.listApprovals,
    summary: "Approvals you may see (pending by default); ?wait long-polls",
    query: ApprovalQuery,
    response: ApprovalPage,
  }),
  getApproval: endpoint({ ...ENDPOINTS.getApproval, summary: "One approval; ?wait long-polls for its decision", query: ApprovalReadQuery, response: Approval }),
  decideApproval: endpoint({
    ...ENDPOINTS.decideApproval,
    summary: "Approve or reject (holders of the approver role, once)",
    body: DecisionRequest,
    response: DecidedApproval,
  }),
  events: endpoint({
    ...ENDPOINTS.events,
    summary: "Server-Sent Events: the changes you may see, live; resume with Last-Event-ID",
    query: EventQuery,
    response: ChangeEvent,
    produces: "text/event-stream",
  }),
  listAudit: endpoint({ ...ENDPOINTS.listAudit, summary: "The audit trail, newest first (admins)", query: AuditQuery, response: AuditPage }),
  eraseSubject: endpoint({
    ...ENDPOINTS.eraseSubject,
    summary: "Erase one person's or agent's payloads everywhere (admins); the audit trail keeps its rows",
    body: ErasureRequest,
    response: Erasure,
  }),
  listRoles: endpoint({
    ...ENDPOINTS.listRoles,
    summary: "Each role someone served recently: how many workers and sessions, and when each was last seen",
    response: RoleList,
  }),
  reportPresence: endpoint({
    ...ENDPOINTS.reportPresence,
    summary: "Say that a worker or a waiting MCP session serves roles you hold (on each long-poll)",
    body: PresenceReport,
    response: PresenceRecorded,
  }),
} as const satisfies Record<EndpointName, Endpoint>;

export type Api = typeof api;

/** The names of a path's parameters: "/tasks/:id/claim" → "id". */
type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

export type PathParams<P extends string> = { [K in ParamNames<P>]: string };

type Schema<E, K extends "body" | "query"> = E extends Record<K, infer S extends z.ZodType> ? S : undefined;

/** What a handler receives once the request is validated. */
export type BodyOf<E> = Schema<E, "body"> extends z.ZodType ? z.output<Schema<E, "body">> : undefined;
export type QueryOf<E> = Schema<E, "query"> extends z.ZodType ? z.output<Schema<E, "query">> : undefined;
export type ResponseOf<E extends Endpoint> = z.output<E["response"]>;

/** What a client sends: params when the path has some, a query and a body when the endpoint takes them. */
export type RequestOf<E extends Endpoint> = (ParamNames<E["path"]> extends never ? unknown : { params: PathParams<E["path"]> }) &
  (Schema<E, "query"> extends z.ZodType ? { query?: z.output<Schema<E, "query">> } : unknown) &
  (Schema<E, "body"> extends z.ZodType
    ? Record<never, never> extends z.input<Schema<E, "body">>
      ? { body?: z.input<Schema<E, "body">> }
      : { body: z.input<Schema<E, "body">> }
    : unknown);
