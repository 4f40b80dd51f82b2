/**
 * The controller's HTTP API as typed calls, for the MCP tools.
 *
 * Retries only what is safe to retry: connection errors, timeouts, 408, 429 and 5xx,
 * with capped exponential backoff and full jitter, honouring Retry-After. Every
 * attempt of one call carries the same Idempotency-Key and trace id, so a retried
 * POST cannot act twice and the controller's logs tie the attempts together.
 * Failures come back as values that say what went wrong, for tools to explain.
 */
import type { z } from "zod";
import { ERROR_KINDS, kindOfProblemType, type ErrorKind, type FieldError } from "./errors.ts";
import { unkeepable } from "./keepable.ts";
import type { Logger } from "./log.ts";
import {
  Approval,
  ApprovalCreated,
  ApprovalPage,
  Me,
  Problem,
  RouteTaskResponse,
  Task,
  TaskDetail,
  TaskPage,
  type ApprovalQuery,
  type ApprovalReadQuery,
  type ApprovalRequest,
  type DecisionRequest,
  type JsonObject,
  type RouteTaskRequest,
  type TaskQuery,
  type TaskReadQuery,
} from "./schemas.ts";
import { TokenError, type TokenSource } from "./token-source.ts";
import { newTraceId, traceparentFor } from "./trace.ts";

/** What went wrong: a problem type the controller named, or what happened on the way. */
export type FailureKind = ErrorKind | "unreachable" | "timeout" | "cancelled" | "bad_response" | "credentials";

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
};

export type Outcome<T> = { ok: true; value: T; traceId: string; attempts: number } | { ok: false; failure: Failure };

export type ControllerClientOptions = {
  baseUrl: string;
  tokens: TokenSource;
  /** Retries after the first attempt. */
  retries: number;
  /** Per attempt; a long-poll's wait is added on top. */
  timeoutMs: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this ends the call instead of waiting. */
  maxRetryAfterMs?: number;
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
};

type Request = {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  response: z.ZodType;
  /** Seconds the controller may hold the request open (long-poll). */
  waitSeconds?: number;
};

/** One attempt's result: the parsed answer, or a failure and whether another attempt may help. */
type Attempt =
  | { ok: true; value: unknown }
  | { ok: false; kind: FailureKind; detail: string; status?: number; fields?: FieldError[]; retryable: boolean; retryAfterMs?: number };

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;

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

const searchOf = (query: Request["query"]) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
};

const at = (id: string) => encodeURIComponent(id);

export class ControllerClient {
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  readonly #o: Required<Omit<ControllerClientOptions, "log">> & { log?: Logger };

  constructor(options: ControllerClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.tokens = options.tokens;
    this.#o = { baseDelayMs: 500, maxDelayMs: 10_000, maxRetryAfterMs: 60_000, random: Math.random, ...options };
  }

  // ── the API ────────────────────────────────────────────────────────────────

  routeTask(body: RouteTaskRequest, o?: CallOptions) {
    return this.#call<z.infer<typeof RouteTaskResponse>>({ method: "POST", path: "/tasks/route", body, response: RouteTaskResponse }, o);
  }

  whoami(o?: CallOptions) {
    return this.#call<z.infer<typeof Me>>({ method: "GET", path: "/me", response: Me }, o);
  }

  getTask(id: string, query: TaskReadQuery = {}, o?: CallOptions) {
    return this.#call<z.infer<typeof TaskDetail>>({ method: "GET", path: `/tasks/${at(id)}`, query, response: TaskDetail, waitSeconds: query.wait }, o);
  }

  listTasks(query: TaskQuery, o?: CallOptions) {
    return this.#call<z.infer<typeof TaskPage>>({ method: "GET", path: "/tasks", query, response: TaskPage, waitSeconds: query.wait }, o);
  }

  claimTask(id: string, o?: CallOptions) {
    return this.#call<Task>({ method: "POST", path: `/tasks/${at(id)}/claim`, body: {}, response: Task }, o);
  }

  completeTask(id: string, result: JsonObject, o?: CallOptions) {
    return this.#call<Task>({ method: "POST", path: `/tasks/${at(id)}/complete`, body: { result }, response: Task }, o);
  }

  failTask(id: string, error: string, o?: CallOptions) {
    return this.#call<Task>({ method: "POST", path: `/tasks/${at(id)}/fail`, body: { error }, response: Task }, o);
  }

  cancelTask(id: string, reason: string | undefined, o?: CallOptions) {
    return this.#call<Task>({ method: "POST", path: `/tasks/${at(id)}/cancel`, body: { reason }, response: Task }, o);
  }

  requestApproval(body: ApprovalRequest, o?: CallOptions) {
    return this.#call<z.infer<typeof ApprovalCreated>>({ method: "POST", path: "/approvals", body, response: ApprovalCreated }, o);
  }

  listApprovals(query: ApprovalQuery, o?: CallOptions) {
    return this.#call<z.infer<typeof ApprovalPage>>({ method: "GET", path: "/approvals", query, response: ApprovalPage, waitSeconds: query.wait }, o);
  }

  getApproval(id: string, query: ApprovalReadQuery = {}, o?: CallOptions) {
    return this.#call<Approval>({ method: "GET", path: `/approvals/${at(id)}`, query, response: Approval, waitSeconds: query.wait }, o);
  }

  decideApproval(id: string, body: DecisionRequest, o?: CallOptions) {
    return this.#call<Approval>({ method: "POST", path: `/approvals/${at(id)}/decision`, body, response: Approval }, o);
  }

  // ── the retry loop ─────────────────────────────────────────────────────────

  async #call<T>(req: Request, o: CallOptions = {}): Promise<Outcome<T>> {
    const log = o.log ?? this.#o.log;
    const traceId = o.traceId ?? newTraceId();
    // Every POST changes something; the controller honours the key on all of them.
    const idempotencyKey = req.method === "POST" ? (o.idempotencyKey ?? crypto.randomUUID()) : undefined;
    const url = `${this.baseUrl}${req.path}${searchOf(req.query)}`;
    const failure = (a: Extract<Attempt, { ok: false }>, attempts: number, extra: Partial<Failure> = {}): Outcome<T> => ({
      ok: false,
      failure: {
        kind: a.kind,
        detail: a.detail,
        status: a.status,
        fields: a.fields,
        request: `${req.method} ${req.path}`,
        controllerUrl: this.baseUrl,
        traceId,
        attempts,
        gaveUp: false,
        idempotencyKey,
        ...extra,
      },
    });

    // JSON would send these changed (Infinity as null), so they are refused as the controller refuses them.
    const unkept = req.body === undefined ? null : unkeepable(req.body);
    if (unkept) return failure({ ok: false, kind: "invalid", detail: `The body: ${unkept.field} ${unkept.message}.`, fields: [unkept], retryable: false }, 0);

    let renewed = false;
    let retriesLeft = this.#o.retries;
    for (let attempts = 1; ; attempts++) {
      const a = await this.#attempt(req, url, traceId, idempotencyKey, o.signal);
      if (a.ok) return { ok: true, value: a.value as T, traceId, attempts };
      // A rejected token gets one fresh token, outside the retry budget.
      if (a.status === 401 && !renewed && this.tokens.renew()) {
        renewed = true;
        continue;
      }
      if (!a.retryable) return failure(a, attempts);
      if (retriesLeft === 0) return failure(a, attempts, { gaveUp: true });
      retriesLeft--;
      const backoff = this.#o.random() * Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (attempts - 1));
      const delay = a.retryAfterMs ?? backoff;
      if (delay > this.#o.maxRetryAfterMs) return failure(a, attempts, { retryAfterSeconds: Math.ceil(delay / 1000) });
      log?.warn("retrying controller call", { request: `${req.method} ${req.path}`, attempt: attempts, failure: a.status ?? a.kind, delay_ms: Math.round(delay), trace_id: traceId, idempotency_key: idempotencyKey });
      if (!(await pause(delay, o.signal))) return failure({ ...a, kind: "cancelled", detail: "The call was cancelled while waiting to retry." }, attempts);
    }
  }

  async #attempt(req: Request, url: string, traceId: string, idempotencyKey: string | undefined, signal?: AbortSignal): Promise<Attempt> {
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
    const timeout = AbortSignal.timeout(this.#o.timeoutMs + (req.waitSeconds ?? 0) * 1000);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(url, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: "error",
      });
      status = response.status;
      retryAfter = response.headers.get("retry-after");
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) return { ok: false, kind: "cancelled", detail: "The call was cancelled.", retryable: false };
      if (timeout.aborted) return { ok: false, kind: "timeout", detail: `No answer within ${this.#o.timeoutMs / 1000 + (req.waitSeconds ?? 0)} s.`, retryable: true };
      return { ok: false, kind: "unreachable", detail: (error as Error).message, retryable: true };
    }
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (status >= 200 && status < 300) {
      const parsed = req.response.safeParse(body);
      if (parsed.success) return { ok: true, value: parsed.data };
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
      return { ok: false, kind: "bad_response", status, detail: `The answer (${status}) does not match the API this client knows: ${where}${issue?.message ?? "not JSON"}.`, retryable: false };
    }
    const problem = Problem.safeParse(body);
    const retryable = RETRYABLE_STATUS(status);
    const kind = (problem.success && kindOfProblemType(problem.data.type)) || kindOfStatus(status);
    const detail = problem.success ? problem.data.detail : text.trim().slice(0, 300) || `HTTP ${status}`;
    return { ok: false, kind, status, detail, fields: problem.success ? problem.data.errors : undefined, retryable, retryAfterMs: retryable ? retryAfterMs(retryAfter) : undefined };
  }
}
