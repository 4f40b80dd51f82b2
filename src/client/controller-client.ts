/**
 * The controller's HTTP API as typed calls, for the MCP tools.
 *
 * Retries only what is safe to retry: connection errors, timeouts, 408, 429 and 5xx,
 * with capped exponential backoff and full jitter, honouring Retry-After, all within
 * one time budget per call (a long-poll's wait on top), so that a host that gives up
 * on a tool call hears why before it does. Every
 * attempt of one call carries the same Idempotency-Key and trace id, so a retried
 * POST cannot act twice and the controller's logs tie the attempts together.
 * Failures come back as values that say what went wrong, for tools to explain.
 * What any way of calling shares (the request, its ids and body, failures, reading the
 * answer) is exported for the controller's in-process client, so both say the same.
 */
import type { z } from "zod";
import { api, type Api, type Endpoint, type RequestOf, type ResponseOf } from "../contract/api.ts";
import { pathWith, type EndpointName } from "../contract/paths.ts";
import { ERROR_KINDS, kindOfProblemType, type ErrorKind, type FieldError } from "../contract/errors.ts";
import { unkeepable } from "../contract/keepable.ts";
import type { Logger } from "../lib/log.ts";
import { Problem } from "../contract/schemas.ts";
import { TokenError, type TokenSource } from "./token-source.ts";
import { networkFault, type NetworkFault } from "./network-fault.ts";
import type { MeshClient } from "./mesh-client.ts";
import { newTraceId, traceparentFor } from "../lib/trace.ts";
import { DEFAULT_BUDGET_SECONDS } from "./client-settings.ts";

/** What went wrong: a problem type the controller named, or what happened on the way. */
export type FailureKind = ErrorKind | "unreachable" | "timeout" | "cancelled" | "bad_response" | "not_controller" | "credentials" | "unsendable";

export type Failure = {
  kind: FailureKind;
  /** What the controller (or the network, or the identity provider) said. */
  detail: string;
  status?: number;
  fields?: FieldError[];
  /** e.g. `POST /tasks/route` */
  request: string;
  controllerUrl: string;
  traceId: string;
  attempts: number;
  /** Every attempt failed in a way worth retrying, and no retries were left. */
  gaveUp: boolean;
  idempotencyKey?: string;
  /** A Retry-After longer than this client is willing to wait, in seconds. */
  retryAfterSeconds?: number;
  /** For `unreachable`: how the connection failed. */
  network?: NetworkFault;
  /** Set when retrying stopped because the call's time budget ran out: the budget in seconds. */
  budgetSeconds?: number;
  /** With `budgetSeconds`: the long-poll wait the call asked for, which the budget came on top of. */
  waitSeconds?: number;
  /** For `unauthenticated`: what this side can tell about the token it showed. */
  tokenDiagnosis?: string;
};

export type Outcome<T> = { ok: true; value: T; traceId: string; attempts: number } | { ok: false; failure: Failure };

export type ControllerClientOptions = {
  baseUrl: string;
  tokens: TokenSource;
  /** Retries after the first attempt. */
  retries: number;
  /** Per attempt; a long-poll's wait is added on top. */
  timeoutMs: number;
  /** All attempts and waits between them; a long-poll's wait is added on top. A Retry-After past it ends the call. */
  budgetMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  log?: Logger;
  random?: () => number;
};

export type CallOptions = {
  /** Aborts the call, including a backoff wait; the call ends as `cancelled`. */
  signal?: AbortSignal;
  /** Where retries are reported; defaults to the client's logger. */
  log?: Logger;
  /** The trace to join, e.g. one per tool call; a new one otherwise. */
  traceId?: string;
  /** For a POST: the key of an earlier call being repeated, so it is not done twice; a new one otherwise. */
  idempotencyKey?: string;
  /** Told before each retry, e.g. to send the MCP client a progress notification. */
  onRetry?: (retry: Retry) => void;
};

/** A retry about to happen: what failed, and when the next attempt starts. */
export type Retry = { attempt: number; failure: string; delayMs: number };

export type CallRequest = {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, unknown>;
  body?: unknown;
  response: z.ZodType;
  /** Seconds the controller may hold the request open (long-poll). */
  waitSeconds?: number;
};

/** One attempt's result: the parsed answer, or a failure and whether another attempt may help. */
export type Attempt =
  | { ok: true; value: unknown }
  | { ok: false; kind: FailureKind; detail: string; status?: number; fields?: FieldError[]; retryable: boolean; retryAfterMs?: number; network?: NetworkFault };

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;
/** Statuses any server or proxy on the way may answer; other errors come from the controller as problems, or not from a controller. */
const FROM_ANYONE = (status: number) => RETRYABLE_STATUS(status) || status === 413;
/** Less time than this left in the budget is not worth another attempt. */
const MIN_ATTEMPT_MS = 1_000;

const kindOfStatus = (status: number): ErrorKind =>
  (Object.entries(ERROR_KINDS).find(([, k]) => k.status === status)?.[0] as ErrorKind | undefined) ?? (status >= 500 ? "internal" : "bad_request");

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve(true);
    }, ms);
    function stop() {
      clearTimeout(timer);
      resolve(false);
    }
    signal?.addEventListener("abort", stop, { once: true });
  });
}

export const searchOf = (query: CallRequest["query"]) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
};

/** The endpoints that answer with one JSON document (not a stream). */
export type JsonEndpointName = { [N in EndpointName]: Api[N]["produces"] extends "application/json" ? N : never }[EndpointName];

/** One endpoint's call as it goes out: the path filled in, the query as given, the body every POST carries. */
export function requestOf(name: EndpointName, request: unknown): CallRequest {
  const endpoint: Endpoint = api[name];
  const { params, query, body } = request as { params?: Record<string, string>; query?: CallRequest["query"]; body?: unknown };
  const wait = query?.wait;
  return {
    method: endpoint.method,
    path: pathWith(endpoint.path, params),
    query,
    // Every POST carries a JSON object, an empty one when the endpoint needs nothing more.
    body: endpoint.method === "POST" ? (body ?? {}) : undefined,
    response: endpoint.response,
    waitSeconds: typeof wait === "number" ? wait : undefined,
  };
}

/** What a call sends besides the request itself: its trace, and for a POST the key that makes a repeat harmless. */
export function callIds(req: CallRequest, o: CallOptions): { traceId: string; idempotencyKey?: string } {
  // Every POST changes something; the controller honours the key on all of them.
  return { traceId: o.traceId ?? newTraceId(), idempotencyKey: req.method === "POST" ? (o.idempotencyKey ?? crypto.randomUUID()) : undefined };
}

/** The body as JSON text, or why it cannot be sent as it is. */
export function bodyText(req: CallRequest): { ok: true; text: string | undefined } | Extract<Attempt, { ok: false }> {
  // JSON would send these changed (Infinity as null), so they are refused as the controller refuses them.
  const unkept = req.body === undefined ? null : unkeepable(req.body);
  if (unkept) return { ok: false, kind: "invalid", detail: `The body: ${unkept.field} ${unkept.message}.`, fields: [unkept], retryable: false };
  // Serialised once, before anything is sent: a value JSON cannot hold is the caller's mistake, not the network's.
  try {
    return { ok: true, text: req.body === undefined ? undefined : JSON.stringify(req.body) };
  } catch (error) {
    return { ok: false, kind: "unsendable", detail: `The request cannot be written as JSON: ${(error as Error).message}`, retryable: false };
  }
}

/** A failed attempt as the Failure a tool explains. */
export function failureOf(
  req: CallRequest,
  a: Extract<Attempt, { ok: false }>,
  at: { controllerUrl: string; traceId: string; idempotencyKey?: string; attempts: number },
  extra: Partial<Failure> = {},
): Failure {
  return {
    kind: a.kind,
    detail: a.detail,
    status: a.status,
    fields: a.fields,
    request: `${req.method} ${req.path}`,
    ...at,
    gaveUp: false,
    network: a.network,
    ...extra,
  };
}

/** Parses a 2xx answer with the endpoint's response schema, as the client knows the API. */
export function answerOf(req: CallRequest, status: number, answer: unknown): Attempt {
  const parsed = req.response.safeParse(answer);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  return {
    ok: false,
    kind: "bad_response",
    status,
    detail: `The answer (${status}) does not match the API this client knows: ${where}${issue?.message ?? "not JSON"}.`,
    retryable: false,
  };
}

export class ControllerClient implements MeshClient {
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  readonly #o: Required<Omit<ControllerClientOptions, "log">> & { log?: Logger };

  constructor(options: ControllerClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.tokens = options.tokens;
    this.#o = { baseDelayMs: 500, maxDelayMs: 10_000, budgetMs: DEFAULT_BUDGET_SECONDS * 1000, random: Math.random, ...options };
  }

  /**
   * Calls one endpoint of the API (src/contract/api.ts), e.g.
   * `client.call("claimTask", { params: { id } })`: the request and the answer are typed by the contract.
   */
  call<N extends JsonEndpointName>(name: N, request: RequestOf<Api[N]>, o?: CallOptions): Promise<Outcome<ResponseOf<Api[N]>>> {
    return this.#call(requestOf(name, request), o);
  }

  // ── the retry loop ─────────────────────────────────────────────────────────

  async #call<T>(req: CallRequest, o: CallOptions = {}): Promise<Outcome<T>> {
    const log = o.log ?? this.#o.log;
    const { traceId, idempotencyKey } = callIds(req, o);
    const url = `${this.baseUrl}${req.path}${searchOf(req.query)}`;
    const deadline = performance.now() + this.#o.budgetMs + (req.waitSeconds ?? 0) * 1000;
    const failure = (a: Extract<Attempt, { ok: false }>, attempts: number, extra: Partial<Failure> = {}): Outcome<T> => ({
      ok: false,
      failure: failureOf(req, a, { controllerUrl: this.baseUrl, traceId, idempotencyKey, attempts }, extra),
    });

    const encoded = bodyText(req);
    if (!encoded.ok) return failure(encoded, 0);
    const body = encoded.text;

    let renewed = false;
    let retriesLeft = this.#o.retries;
    for (let attempts = 1; ; attempts++) {
      const a = await this.#attempt(req, url, body, traceId, idempotencyKey, deadline - performance.now(), o.signal);
      if (a.ok) return { ok: true, value: a.value as T, traceId, attempts };
      // A rejected token gets one fresh token, outside the retry budget.
      if (a.status === 401 && !renewed && this.tokens.renew()) {
        renewed = true;
        continue;
      }
      if (a.status === 401) return failure(a, attempts, { tokenDiagnosis: this.tokens.diagnose?.() });
      if (!a.retryable) return failure(a, attempts);
      const budgetSpent = { gaveUp: true, budgetSeconds: this.#o.budgetMs / 1000, waitSeconds: req.waitSeconds };
      if (deadline - performance.now() < MIN_ATTEMPT_MS) return failure(a, attempts, budgetSpent);
      if (retriesLeft === 0) return failure(a, attempts, { gaveUp: true });
      retriesLeft--;
      const backoff = this.#o.random() * Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (attempts - 1));
      const delay = a.retryAfterMs ?? backoff;
      const left = deadline - performance.now() - delay;
      if (left < MIN_ATTEMPT_MS) {
        if (a.retryAfterMs !== undefined) return failure(a, attempts, { retryAfterSeconds: Math.ceil(delay / 1000) });
        return failure(a, attempts, budgetSpent);
      }
      log?.warn("retrying controller call", {
        request: `${req.method} ${req.path}`,
        attempt: attempts,
        failure: a.status ?? a.kind,
        delay_ms: Math.round(delay),
        trace_id: traceId,
        idempotency_key: idempotencyKey,
      });
      o.onRetry?.({ attempt: attempts, failure: a.status ? `HTTP ${a.status}` : a.detail, delayMs: delay });
      if (!(await pause(delay, o.signal))) return failure({ ...a, kind: "cancelled", detail: "The call was cancelled while waiting to retry." }, attempts);
    }
  }

  async #attempt(
    req: CallRequest,
    url: string,
    body: string | undefined,
    traceId: string,
    idempotencyKey: string | undefined,
    leftMs: number,
    signal?: AbortSignal,
  ): Promise<Attempt> {
    let token: string;
    try {
      token = await this.tokens.token();
    } catch (error) {
      const retryable = error instanceof TokenError && error.retryable;
      return { ok: false, kind: "credentials", detail: (error as Error).message, retryable };
    }
    const traceparent = traceparentFor(traceId);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: "application/json",
      "x-trace-id": traceId,
      ...(traceparent && { traceparent }),
      ...(idempotencyKey && { "idempotency-key": idempotencyKey }),
      ...(req.body !== undefined && { "content-type": "application/json" }),
    };
    const timeoutMs = Math.min(this.#o.timeoutMs + (req.waitSeconds ?? 0) * 1000, leftMs);
    const timeout = AbortSignal.timeout(timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    let contentType: string;
    try {
      const response = await fetch(url, {
        method: req.method,
        headers,
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: "error",
      });
      status = response.status;
      retryAfter = response.headers.get("retry-after");
      contentType = response.headers.get("content-type")?.split(";")[0]?.trim() || "no content type";
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) return { ok: false, kind: "cancelled", detail: "The call was cancelled.", retryable: false };
      if (timeout.aborted) return { ok: false, kind: "timeout", detail: `No answer within ${Math.round(timeoutMs / 100) / 10} s.`, retryable: true };
      return { ok: false, kind: "unreachable", ...networkFault(error), retryable: true };
    }
    let answer: unknown;
    let isJson = false;
    try {
      answer = text ? JSON.parse(text) : undefined;
      isJson = text !== "";
    } catch {
      answer = undefined;
    }
    // Quoting another server's page would mislead; its status and type say enough.
    const foreign = {
      kind: "not_controller" as const,
      status,
      detail: `HTTP ${status} with ${isJson ? "JSON" : contentType} that is not the Agent Mesh API`,
      retryable: false,
    };
    if (status >= 200 && status < 300) return isJson ? answerOf(req, status, answer) : { ok: false, ...foreign };
    const problem = Problem.safeParse(answer);
    if (!problem.success && !FROM_ANYONE(status)) return { ok: false, ...foreign };
    const retryable = RETRYABLE_STATUS(status);
    const kind = (problem.success && kindOfProblemType(problem.data.type)) || kindOfStatus(status);
    const detail = problem.success ? problem.data.detail : `HTTP ${status} with ${contentType}, from the controller or something in front of it`;
    return {
      ok: false,
      kind,
      status,
      detail,
      fields: problem.success ? problem.data.errors : undefined,
      retryable,
      retryAfterMs: retryable ? retryAfterMs(retryAfter) : undefined,
    };
  }
}
