/**
 * The API's handlers: each endpoint of the contract (src/contract/api.ts) handed to
 * the mesh service with its validated input. A handler must answer what its endpoint
 * declares, or this does not compile. Nothing here decides a rule.
 */
import { api, type Api, type BodyOf, type Endpoint, type Idempotency, type PathParams, type QueryOf, type ResponseOf } from "../contract/api.ts";
import type { EndpointName } from "../contract/paths.ts";
import { MeshError } from "../contract/errors.ts";
import { IdempotencyKey } from "../contract/schemas.ts";
import type { RequestContext } from "./request-context.ts";
import type { Change } from "./store/store.ts";
import { HEARTBEAT, type EventStream, type MeshService } from "./service.ts";

export type RouteInput<E extends Endpoint> = { ctx: RequestContext; params: PathParams<E["path"]>; body: BodyOf<E>; query: QueryOf<E>; headers: Headers };

/** A stream answers with its own Response; everything else with the data its endpoint declares. */
export type Handler<E extends Endpoint> = (input: RouteInput<E>) => Promise<E["produces"] extends "text/event-stream" ? Response : ResponseOf<E>>;

export type Handlers = { [K in EndpointName]: Handler<Api[K]> };

export function apiHandlers(service: MeshService): Handlers {
  return {
    routeTask: ({ ctx, body }) => service.routeTask(ctx, body),
    whoami: async ({ ctx }) => service.whoami(ctx),
    listTasks: ({ ctx, query }) => service.listTasks(ctx, query),
    getTask: ({ ctx, params, query }) => service.getTask(ctx, params.id, query),
    taskHistory: ({ ctx, params, query }) => service.taskHistory(ctx, params.id, query),
    taskApprovals: ({ ctx, params, query }) => service.taskApprovals(ctx, params.id, query),
    claimTask: ({ ctx, params, body }) => service.claimTask(ctx, params.id, body.lease_seconds),
    completeTask: ({ ctx, params, body }) => service.completeTask(ctx, params.id, body.attempt, body.result, body.force),
    failTask: ({ ctx, params, body }) => service.failTask(ctx, params.id, body.attempt, body.error, body.retry),
    cancelTask: ({ ctx, params, body }) => service.cancelTask(ctx, params.id, body.reason),
    heartbeatTask: ({ ctx, params, body }) => service.heartbeatTask(ctx, params.id, body),
    retryTask: ({ ctx, params, body }) => service.retryTask(ctx, params.id, body.max_attempts),
    askSender: ({ ctx, params, body }) => service.askSender(ctx, params.id, body),
    replyToTask: ({ ctx, params, body }) => service.replyToTask(ctx, params.id, body),
    noteTask: ({ ctx, params, body }) => service.noteTask(ctx, params.id, body),
    requestApproval: ({ ctx, body }) => service.requestApproval(ctx, body),
    listApprovals: ({ ctx, query }) => service.listApprovals(ctx, query),
    getApproval: ({ ctx, params, query }) => service.getApproval(ctx, params.id, query),
    decideApproval: ({ ctx, params, body }) => service.decideApproval(ctx, params.id, body),
    events: async ({ ctx, query, headers }) => eventStream(service.openEvents(ctx, resumeAfter(headers, query.since))),
    listAudit: ({ ctx, query }) => service.listAudit(ctx, query),
    eraseSubject: ({ ctx, body }) => service.eraseSubject(ctx, body.subject),
    listRoles: ({ ctx }) => service.listRoles(ctx),
    reportPresence: ({ ctx, body }) => service.reportPresence(ctx, body),
  };
}

/** Each endpoint with its handler, for the server's routing table. */
export function apiRoutes(service: MeshService) {
  const handlers = apiHandlers(service);
  return (Object.keys(api) as EndpointName[]).map((name) => ({ endpoint: api[name] as Endpoint, handle: handlers[name] as Handler<Endpoint> }));
}

/** Where a stream starts: after the client's last event, or (null) with what happens next. */
function resumeAfter(headers: Headers, since: number | undefined): number | null {
  const last = headers.get("last-event-id");
  if (last === null) return since ?? null;
  if (!/^\d{1,15}$/.test(last)) throw new MeshError("bad_request", "Last-Event-ID must be an event id this controller sent.");
  return Number(last);
}

const encoder = new TextEncoder();
const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");
/** A live change is one object for every stream that sends it: its frame is encoded once. */
const frames = new WeakMap<Change, Uint8Array>();

function frameOf(change: Change): Uint8Array {
  let frame = frames.get(change);
  if (!frame) frames.set(change, (frame = encoder.encode(`id: ${change.seq}\nevent: ${change.action}\ndata: ${JSON.stringify(change)}\n\n`)));
  return frame;
}

/** Writes changes as Server-Sent Events; a comment line keeps quiet streams open. */
function eventStream({ changes, close }: EventStream): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // Sent at once so the client sees the stream open (and how soon to reconnect).
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
    },
    async pull(controller) {
      const next = await changes.next();
      if (next.done) return controller.close();
      controller.enqueue(next.value === HEARTBEAT ? KEEP_ALIVE : frameOf(next.value));
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
