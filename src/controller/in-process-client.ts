/**
 * The API's calls made inside the controller, for the tools it serves at /mcp: each
 * call goes to the endpoint's typed handler (routes.ts) as the caller the MCP request
 * authenticated, with the input checked as the HTTP route checks it (the body's JSON,
 * the endpoint's schemas, the Idempotency-Key) and failures turned into the same
 * Failure values the HTTP client makes. So a tool's words are the same either way, and
 * there is no HTTP hop from the controller to itself.
 */
import { api, type Api, type Endpoint, type RequestOf, type ResponseOf } from "../contract/api.ts";
import { refuseUnkeepable } from "../contract/keepable.ts";
import {
  answerOf,
  bodyText,
  callIds,
  failureOf,
  requestOf,
  searchOf,
  type Attempt,
  type CallOptions,
  type JsonEndpointName,
  type Outcome,
} from "../client/controller-client.ts";
import type { MeshClient } from "../client/mesh-client.ts";
import type { Logger } from "../lib/log.ts";
import type { Verified } from "./auth.ts";
import { asMeshError, jsonBody, queryOf, validate } from "./http.ts";
import { idempotencyKeyOf, type Handler, type Handlers } from "./routes.ts";

export type InProcessOptions = {
  handlers: Handlers;
  /** The caller the MCP request's token names, and until when it holds. */
  verified: Verified;
  /** The controller's address as this caller reached it: links to the web page start here. */
  baseUrl: string;
  /** Ends long-polls when the controller stops. */
  shutdown: AbortSignal;
  log: Logger;
};

/** What the advice for a refused credential names as its source. */
export const REQUEST_TOKEN = "the bearer token of this MCP request";

export function inProcessClient(o: InProcessOptions): MeshClient {
  return {
    baseUrl: o.baseUrl,
    tokens: { origin: REQUEST_TOKEN },
    call: <N extends JsonEndpointName>(name: N, request: RequestOf<Api[N]>, options: CallOptions = {}) =>
      call(o, name, request, options) as Promise<Outcome<ResponseOf<Api[N]>>>,
  };
}

async function call(o: InProcessOptions, name: JsonEndpointName, request: unknown, options: CallOptions): Promise<Outcome<unknown>> {
  const endpoint: Endpoint = api[name];
  const req = requestOf(name, request);
  const { traceId, idempotencyKey } = callIds(req, options);
  const fail = (a: Extract<Attempt, { ok: false }>, attempts: number): Outcome<unknown> => ({
    ok: false,
    failure: failureOf(req, a, { controllerUrl: o.baseUrl, traceId, idempotencyKey, attempts }),
  });
  const encoded = bodyText(req);
  if (!encoded.ok) return fail(encoded, 0);
  const signal = options.signal ? AbortSignal.any([options.signal, o.shutdown]) : o.shutdown;
  let answer: Attempt;
  try {
    const { params } = request as { params?: Record<string, string> };
    for (const [field, value] of Object.entries(params ?? {})) refuseUnkeepable(value, "The path", field);
    const query = endpoint.query ? validate(endpoint.query, queryOf(new URL(`${req.path}${searchOf(req.query)}`, o.baseUrl)), "query") : undefined;
    const body = endpoint.body ? validate(endpoint.body, encoded.text === undefined ? {} : jsonBody(encoded.text), "body") : undefined;
    const ctx = {
      caller: o.verified.caller,
      expiresAt: o.verified.expiresAt,
      traceId,
      idempotencyKey: idempotencyKeyOf(new Headers(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}), endpoint.idempotency),
      signal,
    };
    const handle = o.handlers[name] as Handler<Endpoint>;
    const result = await handle({ ctx, params: (params ?? {}) as never, body: body as never, query: query as never, headers: new Headers() });
    // Read back as the HTTP client reads an answer: as JSON, through the endpoint's schema.
    answer = answerOf(req, endpoint.status, JSON.parse(JSON.stringify(result)));
  } catch (error) {
    // Logged to the controller's log only: a session's own logger would send the stack to its client.
    const known = asMeshError(error, o.log, traceId);
    answer = { ok: false, kind: known.kind, detail: known.message, status: known.status, fields: known.fields, retryable: false };
  }
  if (options.signal?.aborted) return fail({ ok: false, kind: "cancelled", detail: "The call was cancelled.", retryable: false }, 1);
  return answer.ok ? { ok: true, value: answer.value, traceId, attempts: 1 } : fail(answer, 1);
}
