/**
 * The HTTP API v1: each route names its input and output schemas and hands the
 * validated request to the mesh service. Nothing here decides a rule.
 */
import { z } from "zod";
import { MeshError } from "../lib/errors.ts";
import {
  Approval,
  ApprovalCreated,
  ApprovalPage,
  ApprovalQuery,
  ApprovalReadQuery,
  ApprovalRequest,
  AuditPage,
  AuditQuery,
  CancelTaskRequest,
  ChangeEvent,
  CompleteTaskRequest,
  DecisionRequest,
  EventQuery,
  FailTaskRequest,
  IdempotencyKey,
  Me,
  RouteTaskRequest,
  RouteTaskResponse,
  Task,
  TaskDetail,
  TaskPage,
  TaskQuery,
  TaskReadQuery,
} from "../lib/schemas.ts";
import type { RequestContext } from "./caller.ts";
import type { Method } from "./http.ts";
import { HEARTBEAT, type EventStream, type MeshService } from "./service.ts";

export type Idempotency = "required" | "optional" | "none";

export type RouteInput<B, Q> = { ctx: RequestContext; params: Record<string, string>; body: B; query: Q; headers: Headers };

export type ApiRoute = {
  method: Method;
  path: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  response: z.ZodType;
  /** The media type of a success; a stream's `response` schema describes one event. */
  produces: "application/json" | "text/event-stream";
  status: number;
  idempotency: Idempotency;
  handle: (input: RouteInput<any, any>) => Promise<unknown>;
};

/** Ties a handler's argument types to the schemas that validate them. */
function route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined>(spec: {
  method: Method;
  path: string;
  summary: string;
  body?: B;
  query?: Q;
  response: z.ZodType;
  produces?: ApiRoute["produces"];
  status?: number;
  idempotency?: Idempotency;
  handle: (input: RouteInput<z.infer<B>, z.infer<Q>>) => Promise<unknown>;
}): ApiRoute {
  return { status: 200, produces: "application/json", idempotency: spec.method === "POST" ? "optional" : "none", ...spec };
}

export function apiRoutes(service: MeshService): ApiRoute[] {
  return [
    route({
      method: "POST",
      path: "/tasks/route",
      summary: "Send a task to a role",
      body: RouteTaskRequest,
      response: RouteTaskResponse,
      status: 202,
      idempotency: "required",
      handle: ({ ctx, body }) => service.routeTask(ctx, body),
    }),
    route({ method: "GET", path: "/me", summary: "Who your token says you are: subject, roles, admin", response: Me, handle: async ({ ctx }) => service.whoami(ctx) }),
    route({ method: "GET", path: "/tasks", summary: "List tasks you may see; ?wait long-polls for new ones", query: TaskQuery, response: TaskPage, handle: ({ ctx, query }) => service.listTasks(ctx, query) }),
    route({ method: "GET", path: "/tasks/:id", summary: "A task with its history and approvals; ?wait long-polls for a change", query: TaskReadQuery, response: TaskDetail, handle: ({ ctx, params, query }) => service.getTask(ctx, params.id!, query) }),
    route({ method: "POST", path: "/tasks/:id/claim", summary: "Take a pending task for your role", body: z.strictObject({}), response: Task, handle: ({ ctx, params }) => service.claimTask(ctx, params.id!) }),
    route({ method: "POST", path: "/tasks/:id/complete", summary: "Finish a task you claimed, with its result", body: CompleteTaskRequest, response: Task, handle: ({ ctx, params, body }) => service.completeTask(ctx, params.id!, body.result) }),
    route({ method: "POST", path: "/tasks/:id/fail", summary: "Give up a task you claimed, saying why", body: FailTaskRequest, response: Task, handle: ({ ctx, params, body }) => service.failTask(ctx, params.id!, body.error) }),
    route({ method: "POST", path: "/tasks/:id/cancel", summary: "Withdraw a task you sent", body: CancelTaskRequest, response: Task, handle: ({ ctx, params, body }) => service.cancelTask(ctx, params.id!, body.reason) }),
    route({
      method: "POST",
      path: "/approvals",
      summary: "Ask a role to approve a task",
      body: ApprovalRequest,
      response: ApprovalCreated,
      status: 202,
      handle: ({ ctx, body }) => service.requestApproval(ctx, body),
    }),
    route({ method: "GET", path: "/approvals", summary: "Approvals you may see (pending by default); ?wait long-polls", query: ApprovalQuery, response: ApprovalPage, handle: ({ ctx, query }) => service.listApprovals(ctx, query) }),
    route({
      method: "GET",
      path: "/approvals/:id",
      summary: "One approval; ?wait long-polls for its decision",
      query: ApprovalReadQuery,
      response: Approval,
      handle: ({ ctx, params, query }) => service.getApproval(ctx, params.id!, query),
    }),
    route({
      method: "POST",
      path: "/approvals/:id/decision",
      summary: "Approve or reject (holders of the approver role, once)",
      body: DecisionRequest,
      response: Approval,
      handle: ({ ctx, params, body }) => service.decideApproval(ctx, params.id!, body),
    }),
    route({
      method: "GET",
      path: "/events",
      summary: "Server-Sent Events: the changes you may see, live; resume with Last-Event-ID",
      query: EventQuery,
      response: ChangeEvent,
      produces: "text/event-stream",
      handle: async ({ ctx, query, headers }) => eventStream(service.openEvents(ctx, resumeAfter(headers, query.since))),
    }),
    route({ method: "GET", path: "/audit", summary: "The audit trail, newest first (admins)", query: AuditQuery, response: AuditPage, handle: ({ ctx, query }) => service.listAudit(ctx, query) }),
  ];
}

/** Where a stream starts: after the client's last event, or (null) with what happens next. */
function resumeAfter(headers: Headers, since: number | undefined): number | null {
  const last = headers.get("last-event-id");
  if (last === null) return since ?? null;
  if (!/^\d{1,15}$/.test(last)) throw new MeshError("bad_request", "Last-Event-ID must be an event id this controller sent.");
  return Number(last);
}

/** Writes changes as Server-Sent Events; a comment line keeps quiet streams open. */
function eventStream({ changes, close }: EventStream): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // Sent at once so the client sees the stream open (and how soon to reconnect).
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
    },
    async pull(controller) {
      const next = await changes.next();
      if (next.done) return controller.close();
      const change = next.value;
      controller.enqueue(
        encoder.encode(change === HEARTBEAT ? ": keep-alive\n\n" : `id: ${change.seq}\nevent: ${change.action}\ndata: ${JSON.stringify(change)}\n\n`),
      );
    },
    async cancel() {
      await changes.return(undefined);
      close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" } });
}

/** The Idempotency-Key header, checked against what the route needs. */
export function idempotencyKeyOf(headers: Headers, need: Idempotency): string | undefined {
  const key = headers.get("idempotency-key") ?? undefined;
  if (need === "none") return undefined;
  if (key === undefined) {
    if (need === "required") throw new MeshError("bad_request", "Send an Idempotency-Key header (e.g. a UUID) so a retry cannot create a second task.");
    return undefined;
  }
  if (!IdempotencyKey.safeParse(key).success) throw new MeshError("bad_request", "Idempotency-Key must be 1 to 255 visible ASCII characters.");
  return key;
}
