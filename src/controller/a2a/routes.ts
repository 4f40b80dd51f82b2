/**
 * Each role as an A2A agent: its Agent Card at /a2a/{role}/.well-known/agent-card.json
 * and A2A v1.0's JSON-RPC binding at /a2a/{role}. Every method is a call to the mesh
 * service as the caller its bearer token names, so an A2A caller sees and does
 * exactly what the REST API lets that token see and do; streams follow the
 * controller's own events.
 */
import { MeshError } from "../../contract/errors.ts";
import { FINISHED, LIMITS, Role, type TaskDetail } from "../../contract/schemas.ts";
import { sha256Hex } from "../../lib/digest.ts";
import type { Logger } from "../../lib/log.ts";
import type { Authenticator } from "../auth.ts";
import { asMeshError, json, problem, publicBase, readJson, type Route } from "../http.ts";
import type { RequestContext } from "../request-context.ts";
import { HEARTBEAT, type MeshService } from "../service.ts";
import type { ControllerSettings } from "../settings.ts";
import { agentCard } from "./card.ts";
import { PushNotifications } from "./push.ts";
import { eventOut, paramsIn, resultOut, V0_3_METHODS } from "./v0_3.ts";
import { STATES, taskFor, toA2ATask, updatesOf } from "./translate.ts";
import {
  A2A_VERSION,
  type A2AMethod,
  CODES,
  METHODS,
  PushConfig,
  PushConfigList,
  PushConfigRef,
  RpcError,
  RpcRequest,
  SendMessageRequest,
  type StreamResponse,
  TaskIdRequest,
} from "./wire.ts";
import type { z } from "zod";

export type A2AOptions = {
  service: MeshService;
  authenticate: Authenticator;
  settings: Pick<ControllerSettings, "a2aRoles" | "a2aPushAllow" | "publicUrl" | "oidcIssuer">;
  /** Ends streams and push deliveries when the controller stops. */
  shutdown: AbortSignal;
  log: Logger;
};

/** A method answers a result, or a stream of updates sent as Server-Sent Events. */
type Answer = { result: unknown } | { stream: Updates };

/** A stream of updates, and how to give back its slot even if it is never read. */
type Updates = { events: AsyncGenerator<StreamResponse | typeof HEARTBEAT>; close: () => void };

const SEND_WAIT_SECONDS = LIMITS.waitSeconds;

/** The A2A versions this endpoint speaks, preferred first. */
const VERSIONS: readonly string[] = [A2A_VERSION, "0.3"];

export function a2aRoutes(o: A2AOptions): Route[] {
  const { service, settings } = o;
  const push: PushNotifications = new PushNotifications(
    settings.a2aPushAllow.map((prefix) => new URL(prefix)),
    service,
    o.log,
    o.shutdown,
  );
  const base = (url: URL) => publicBase(settings.publicUrl, url);

  const card = (baseUrl: string, name: string, description: string, roles: readonly string[]) =>
    agentCard({ baseUrl, name, description, roles, versions: VERSIONS, pushNotifications: push.enabled, oidcIssuer: settings.oidcIssuer });

  const cardResponse = (body: unknown) => json(body, 200, { "cache-control": "max-age=300" });

  const routes: Route[] = [
    {
      method: "GET",
      path: "/.well-known/agent-card.json",
      handle: async (_req, url) =>
        cardResponse(
          card(
            base(url),
            "Agent Mesh",
            `Each role of this mesh is an A2A agent at ${base(url)}/a2a/{role}, its card at ${base(url)}/a2a/{role}/.well-known/agent-card.json. Listed here: the roles the operator named (MESH_A2A_ROLES).`,
            settings.a2aRoles,
          ),
        ),
    },
    {
      method: "GET",
      path: "/a2a/:role/.well-known/agent-card.json",
      handle: async (_req, url, params, traceId) => {
        const role = roleOf(params.role);
        if (!role) return problem("not_found", `${params.role} is not a role name; roles hold letters, digits and . _ : @ / - only.`, traceId);
        return cardResponse(
          card(
            base(url),
            `${role} (Agent Mesh)`,
            `Tasks for role ${role}: a message becomes a task that an agent or person holding ${role} claims and completes.`,
            [role],
          ),
        );
      },
    },
    {
      method: "POST",
      path: "/a2a/:role",
      handle: async (req, url, params, traceId, seen) => {
        let id: RpcRequest["id"] = null;
        let method = "";
        try {
          const body = await readJson(req).catch((error: unknown) => {
            throw new RpcError(CODES.parseError, (error as Error).message, "PARSE_ERROR");
          });
          const envelope = RpcRequest.safeParse(body);
          if (!envelope.success)
            throw new RpcError(CODES.invalidRequest, 'Send a JSON-RPC 2.0 request: {jsonrpc: "2.0", id, method, params}.', "INVALID_REQUEST");
          id = envelope.data.id ?? null;
          method = envelope.data.method;
          const version = req.headers.get("a2a-version") ?? url.searchParams.get("A2A-Version");
          if (version !== null && !VERSIONS.includes(version)) {
            throw new RpcError(
              CODES.versionNotSupported,
              `A2A-Version ${version} is not supported here; this endpoint speaks ${VERSIONS.join(" and ")}.`,
              "VERSION_NOT_SUPPORTED",
            );
          }
          // v0.3's method names are v1.0's methods with their params and answers translated.
          const legacy = Object.hasOwn(V0_3_METHODS, method);
          const a2aMethod = legacy ? V0_3_METHODS[method]! : (METHODS as readonly string[]).includes(method) ? (method as A2AMethod) : null;
          if (!a2aMethod) {
            throw new RpcError(
              CODES.methodNotFound,
              `There is no method ${method}; this endpoint answers ${METHODS.join(", ")} (and v0.3's ${Object.keys(V0_3_METHODS).join(", ")}).`,
              "METHOD_NOT_FOUND",
            );
          }
          const role = roleOf(params.role);
          if (!role) throw new RpcError(CODES.invalidParams, `${params.role} is not a role name.`, "INVALID_ROLE");
          const { caller, expiresAt } = await o.authenticate(req.headers.get("authorization"));
          seen.identified(caller.subject);
          const ctx: RequestContext = { caller, expiresAt, traceId, signal: AbortSignal.any([req.signal, o.shutdown]) };
          const sent = envelope.data.params ?? {};
          const answer = await methods[a2aMethod](ctx, role, legacy ? paramsIn(a2aMethod, sent) : sent);
          if ("stream" in answer) return sse(id, answer.stream, legacy ? eventOut : (event) => event);
          return json({ jsonrpc: "2.0", id, result: legacy ? resultOut(a2aMethod, answer.result) : answer.result });
        } catch (error) {
          return failure(id, method, error, traceId);
        }
      },
    },
  ];

  // ── the methods ────────────────────────────────────────────────────────────

  type MethodHandler = (ctx: RequestContext, role: string, params: unknown) => Promise<Answer>;

  const methods: Record<A2AMethod, MethodHandler> = {
    async SendMessage(ctx, role, params) {
      const request = parse(SendMessageRequest, params);
      let task: TaskDetail = await send(ctx, role, request);
      // Blocking by default (A2A §3.2.2): until the task finishes, as long as a long-poll may last, and no longer than the token holds.
      const deadline = Math.min(Date.now() + SEND_WAIT_SECONDS * 1000, ctx.expiresAt ?? Infinity);
      while (!request.configuration?.returnImmediately && !FINISHED.has(task.status) && !ctx.signal?.aborted) {
        const left = Math.ceil((deadline - Date.now()) / 1000);
        if (left <= 0) break;
        task = await service.getTask(ctx, task.task_id, { wait: left, after_version: task.version });
      }
      return { result: { task: toA2ATask(task) } };
    },
    async SendStreamingMessage(ctx, role, params) {
      return { stream: follow(ctx, await send(ctx, role, parse(SendMessageRequest, params))) };
    },
    async GetTask(ctx, role, params) {
      return { result: toA2ATask(await taskOf(ctx, role, parse(TaskIdRequest, params).id)) };
    },
    async CancelTask(ctx, role, params) {
      const { id } = parse(TaskIdRequest, params);
      await taskOf(ctx, role, id);
      try {
        await service.cancelTask(ctx, id, "cancelled through A2A");
      } catch (error) {
        if (!(error instanceof MeshError && error.kind === "conflict")) throw error;
        // Cancelling twice has the effect of cancelling once (A2A §3.3.1).
        if ((await service.getTask(ctx, id)).status !== "cancelled") throw new RpcError(CODES.taskNotCancelable, error.message, "TASK_NOT_CANCELABLE");
      }
      return { result: toA2ATask(await service.getTask(ctx, id)) };
    },
    async SubscribeToTask(ctx, role, params) {
      const task = await taskOf(ctx, role, parse(TaskIdRequest, params).id);
      if (FINISHED.has(task.status))
        throw new RpcError(CODES.unsupportedOperation, `Task ${task.task_id} is already ${task.status}; there is nothing to follow.`, "TASK_FINISHED");
      return { stream: follow(ctx, task) };
    },
    async CreateTaskPushNotificationConfig(ctx, role, params) {
      const config = parse(PushConfig, params);
      if (!config.taskId) throw new RpcError(CODES.invalidParams, "taskId: name the task to be notified about.", "INVALID_PARAMS");
      return { result: await pushFor(ctx, await taskOf(ctx, role, config.taskId), config) };
    },
    async GetTaskPushNotificationConfig(ctx, role, params) {
      const { taskId, id } = parse(PushConfigRef, params);
      await taskOf(ctx, role, taskId);
      return { result: push.get(ctx.caller.subject, taskId, id) };
    },
    async ListTaskPushNotificationConfigs(ctx, role, params) {
      const { taskId } = parse(PushConfigList, params);
      await taskOf(ctx, role, taskId);
      return { result: { configs: push.list(ctx.caller.subject, taskId), nextPageToken: "" } };
    },
    async DeleteTaskPushNotificationConfig(ctx, role, params) {
      const { taskId, id } = parse(PushConfigRef, params);
      await taskOf(ctx, role, taskId);
      push.delete(ctx.caller.subject, taskId, id);
      return { result: {} };
    },
  };
  return routes;

  /**
   * A message as a new task for `role`. A repeated messageId from the same caller finds
   * the first task: the unit of work's Idempotency-Key, derived from it, is scoped to the caller.
   */
  async function send(ctx: RequestContext, role: string, request: SendMessageRequest): Promise<TaskDetail> {
    const { message } = request;
    const idempotencyKey = `a2a-message:${sha256Hex(message.messageId)}`;
    if (message.taskId) {
      const task = await taskOf(ctx, role, message.taskId);
      if (task.status === "input_required") {
        // A message to a task that waits for input is the sender's answer: the same holder takes it up again.
        const { task: said } = taskFor(role, message);
        await service.replyToTask({ ...ctx, idempotencyKey }, task.task_id, { answer: said.description ?? "", data: said.data });
        return service.getTask(ctx, task.task_id);
      }
      const why = FINISHED.has(task.status)
        ? `Task ${task.task_id} is already ${task.status}; it takes no more messages.`
        : `Task ${task.task_id} is ${task.status}, not waiting for input; a message continues a task only when it is input-required.`;
      throw new RpcError(CODES.unsupportedOperation, why, "TASK_TAKES_NO_MESSAGES");
    }
    // A config that cannot be kept is refused before there is a task to leave behind.
    const config = request.configuration?.taskPushNotificationConfig;
    if (config) push.check(config);
    const created = await service.routeTask({ ...ctx, idempotencyKey }, taskFor(role, message));
    const task = await service.getTask(ctx, created.task_id);
    if (config) await pushFor(ctx, task, config);
    return task;
  }

  /** A task of this role's agent, as the caller may read it: a task for another role is not this agent's to know of. */
  async function taskOf(ctx: RequestContext, role: string, id: string): Promise<TaskDetail> {
    const task = await service.getTask(ctx, id);
    if (task.target !== role)
      throw new RpcError(CODES.taskNotFound, `Task ${id} is not for role ${role}; ask the agent of role ${task.target}.`, "TASK_NOT_FOUND");
    return task;
  }

  function pushFor(ctx: RequestContext, task: TaskDetail, config: PushConfig) {
    if (FINISHED.has(task.status))
      throw new RpcError(CODES.unsupportedOperation, `Task ${task.task_id} is already ${task.status}; nothing more will happen to it.`, "TASK_FINISHED");
    return push.create(ctx, task.task_id, config, lastSeq(task), task.status);
  }

  /**
   * The task as it is, then each new state as the controller's events report it, until
   * it finishes. The stream is opened (and the caller's budget of streams charged)
   * before anything is sent, from the last change the first answer reflects, so no change falls between.
   */
  function follow(ctx: RequestContext, first: TaskDetail): Updates {
    const events = service.openEvents(ctx, lastSeq(first));
    const updates = (async function* () {
      try {
        yield { task: toA2ATask(first) };
        let state = first.status;
        if (FINISHED.has(state)) return;
        for await (const change of events.changes) {
          if (change === HEARTBEAT) yield HEARTBEAT;
          else if (change.task_id === first.task_id && change.approval_id === null) {
            const task = await service.getTask(ctx, first.task_id);
            if (STATES[task.status] === STATES[state]) continue;
            state = task.status;
            yield* updatesOf(task);
            if (FINISHED.has(state)) return;
          }
        }
      } finally {
        events.close();
      }
    })();
    return { events: updates, close: events.close };
  }

  function failure(id: RpcRequest["id"], method: string, error: unknown, traceId: string): Response {
    // Unexpected errors are logged, and a lost database is "unavailable", as on every other route.
    const rpc = rpcErrorOf(error instanceof RpcError ? error : asMeshError(error, o.log, traceId), method);
    const unauthenticated = error instanceof MeshError && error.kind === "unauthenticated";
    const data = [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: rpc.reason, domain: "agent-mesh", metadata: { traceId } }];
    return json(
      { jsonrpc: "2.0", id, error: { code: rpc.code, message: rpc.message, data } },
      unauthenticated ? 401 : 200,
      unauthenticated ? { "www-authenticate": "Bearer" } : undefined,
    );
  }
}

/** The mesh's failures in A2A's words. */
function rpcErrorOf(error: RpcError | MeshError, method: string): RpcError {
  if (error instanceof RpcError) return error;
  const reason = error.kind.toUpperCase();
  switch (error.kind) {
    case "unauthenticated":
    case "forbidden":
      return new RpcError(CODES.unauthorized, error.message, reason);
    case "not_found":
      return new RpcError(CODES.taskNotFound, error.message, "TASK_NOT_FOUND");
    case "conflict":
      return new RpcError(method === "CancelTask" ? CODES.taskNotCancelable : CODES.unsupportedOperation, error.message, reason);
    case "invalid":
    case "bad_request":
    case "payload_too_large":
    case "idempotency_mismatch":
      return new RpcError(
        CODES.invalidParams,
        error.kind === "idempotency_mismatch" ? "This messageId was already used for another message; give each message its own id." : error.message,
        reason,
      );
    default:
      return new RpcError(CODES.internal, error.message, reason);
  }
}

function parse<T>(schema: z.ZodType<T>, params: unknown): T {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "params"}: ${i.message}`).join("; ");
  throw new RpcError(CODES.invalidParams, `Invalid params: ${issues}`, "INVALID_PARAMS");
}

const roleOf = (text: string | undefined): string | null => (Role.safeParse(text).success ? text! : null);

/** The last change a task's answer reflects: where its stream starts. */
const lastSeq = (task: TaskDetail): number => task.history.at(-1)?.seq ?? 0;

/** Stream events as JSON-RPC responses in Server-Sent Events; a comment line keeps a quiet stream open. */
function sse(id: RpcRequest["id"], { events, close }: Updates, shape: (event: StreamResponse) => unknown): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await events.next();
      if (next.done) return controller.close();
      const event = next.value;
      controller.enqueue(
        encoder.encode(event === HEARTBEAT ? ": keep-alive\n\n" : `data: ${JSON.stringify({ jsonrpc: "2.0", id, result: shape(event) })}\n\n`),
      );
    },
    async cancel() {
      await events.return(undefined);
      close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" } });
}
