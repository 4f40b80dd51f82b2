/**
 * HTTP plumbing for the routes: matching, reading and validating input, and turning
 * every failure into an RFC 9457 problem that carries the trace id.
 */
import type { z } from "zod";
import { ERROR_KINDS, MeshError, problemType, type ErrorKind, type FieldError } from "../contract/errors.ts";
import { refuseUnkeepable } from "../contract/keepable.ts";
import { LIMITS } from "../contract/schemas.ts";
import type { Method } from "../contract/paths.ts";
import type { Logger } from "../lib/log.ts";
import { StoreUnavailableError } from "./store/store.ts";

/**
 * What the server learns of a request, for its log line and metrics even when it fails.
 * `identified` is called once a caller's credential is verified: it names the caller and
 * lets the connection wait (long-polls, streams) and idle as long as a caller's may.
 */
export type Seen = { route: string; subject?: string; identified: (subject: string) => void };

/** Where clients reach this controller, without a trailing slash: MESH_PUBLIC_URL, else the request's own origin. */
export const publicBase = (publicUrl: string | undefined, url: URL) => (publicUrl ?? url.origin).replace(/\/+$/, "");

export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  return Response.json(body, { status, headers });
}

/** Seconds a client should wait before retrying a 429 or 503. */
const RETRY_AFTER_SECONDS = 1;

export function problem(kind: ErrorKind, detail: string, traceId: string, fields?: FieldError[]): Response {
  const { status, title } = ERROR_KINDS[kind];
  const headers: Record<string, string> = { "content-type": "application/problem+json" };
  if (status === 429 || status === 503) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  return new Response(JSON.stringify({ type: problemType(kind), title, status, detail, trace_id: traceId, ...(fields && { errors: fields }) }), {
    status,
    headers,
  });
}

/**
 * Any error as the API answers it: a MeshError as it is, the database away as 503, and
 * anything else as an internal error, logged with its trace id and told to nobody else.
 */
export function asMeshError(error: unknown, log: Logger, traceId: string): MeshError {
  if (error instanceof MeshError) return error;
  if (error instanceof StoreUnavailableError) return new MeshError("unavailable", "The database is unreachable; try again shortly.");
  log.error("unhandled error", { trace_id: traceId, error: (error as Error)?.stack ?? String(error) });
  return new MeshError("internal", "Something went wrong on the controller; the trace id finds it in the logs.");
}

/** Zod issues as `field: message` pairs a person (or model) can act on. */
export function fieldErrors(error: z.ZodError, prefix = ""): FieldError[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
    const unknownKeys = issue.code === "unrecognized_keys" ? issue.keys : [];
    return unknownKeys.length
      ? { field: [path, unknownKeys[0]].filter(Boolean).join("."), message: `unknown field; remove ${unknownKeys.join(", ")}` }
      : { field: path || "(body)", message: issue.message };
  });
}

export function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const fields = fieldErrors(parsed.error);
  throw new MeshError("invalid", `${what}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`, fields);
}

/** Deeper JSON is refused before parsing: no task needs it, and recursion has limits. */
const MAX_DEPTH = 64;

function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \\ */) i++;
      else if (ch === 34 /* " */) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 /* { */ || ch === 91 /* [ */) deepest = Math.max(deepest, ++depth);
    else if (ch === 125 /* } */ || ch === 93 /* ] */) depth--;
  }
  return deepest;
}

/** A body (of a request, or of an answer this side reads) as UTF-8 text, refused once more than `limit` bytes are declared or arrive. */
export async function readText(req: Pick<Request, "headers" | "body">, limit: number): Promise<string> {
  const tooLarge = () => new MeshError("payload_too_large", `The body may be at most ${limit} bytes.`);
  if (Number(req.headers.get("content-length") ?? 0) > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.byteLength;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new MeshError("bad_request", "The body is not valid UTF-8.");
  }
}

/**
 * Reads a JSON body of at most LIMITS.bodyBytes, counting what actually arrives.
 * The content type is not checked: curl sends form-urlencoded by default, and a body
 * that is not JSON gets a 400 that says so.
 */
export async function readJson(req: Request): Promise<unknown> {
  const text = await readText(req, LIMITS.bodyBytes);
  if (text === "") return {};
  return jsonBody(text);
}

/** A body's JSON text as the API accepts it, whether it came over HTTP or from a call in this process. */
export function jsonBody(text: string): unknown {
  if (Buffer.byteLength(text) > LIMITS.bodyBytes) throw new MeshError("payload_too_large", `The body may be at most ${LIMITS.bodyBytes} bytes.`);
  if (nestingDepth(text) > MAX_DEPTH) throw new MeshError("bad_request", `The body is nested deeper than ${MAX_DEPTH} levels.`);
  let body: unknown;
  try {
    body = JSON.parse(text, (key, value) => {
      // A key that could reach an object's prototype is refused, not copied.
      if (key === "__proto__") throw new MeshError("bad_request", 'The body may not use the key "__proto__".');
      return value;
    });
  } catch (error) {
    if (error instanceof MeshError) throw error;
    throw new MeshError("bad_request", `The body is not valid JSON: ${(error as Error).message}`);
  }
  // Text or numbers that would be stored changed, or not at all, are a 422 naming the field.
  refuseUnkeepable(body, "The body");
  // Measured again as it will be stored and answered: `9e20` is 4 bytes sent but 21 written out.
  const stored = Buffer.byteLength(JSON.stringify(body));
  if (stored > LIMITS.bodyBytes) {
    throw new MeshError(
      "payload_too_large",
      `The body may be at most ${LIMITS.bodyBytes} bytes as the controller stores it (numbers written out in full); this one is ${stored}.`,
    );
  }
  return body;
}

/** Percent-decoding that refuses what is not UTF-8 (instead of turning it into U+FFFD) and text that cannot be kept. */
function decodeUrlPart(part: string, field: string, where: string): string {
  let text: string;
  try {
    text = decodeURIComponent(part);
  } catch {
    throw new MeshError("bad_request", `The ${where} holds a malformed escape (not UTF-8): ${part.slice(0, 64)}`);
  }
  refuseUnkeepable(text, `The ${where}`, field);
  return text;
}

export function queryOf(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const pair of url.search.slice(1).split("&")) {
    if (!pair) continue;
    const [rawKey = "", ...rest] = pair.replaceAll("+", " ").split("=");
    const key = decodeUrlPart(rawKey, rawKey.slice(0, 64) || "(query)", "query");
    const value = decodeUrlPart(rest.join("="), key, "query");
    if (key in query) throw new MeshError("invalid", `Query parameter ${key} is given twice.`, [{ field: key, message: "given twice" }]);
    query[key] = value;
  }
  return query;
}

// ── routing ──────────────────────────────────────────────────────────────────

/** The methods a route may take: the API's, and DELETE, with which an MCP client ends its session. */
export type RouteMethod = Method | "DELETE";

/** A row of the server's routing table; the API, the page, /a2a and /mcp each give theirs. */
export type Route = {
  method: RouteMethod;
  path: string;
  handle: (req: Request, url: URL, params: Record<string, string>, traceId: string, seen: Seen) => Promise<Response>;
};

export type Matcher<R> = { method: RouteMethod; path: string; pattern: RegExp; names: string[]; route: R };

export function compile<R extends { method: RouteMethod; path: string }>(routes: readonly R[]): Matcher<R>[] {
  return routes.map((route) => {
    const names: string[] = [];
    const source = route.path.replace(/[.]/g, "\\.").replace(/:(\w+)/g, (_, name: string) => {
      names.push(name);
      return "([^/]+)";
    });
    return { method: route.method, path: route.path, pattern: new RegExp(`^${source}$`), names, route };
  });
}

export type Match<R> = { route: R; params: Record<string, string> } | { route: null; allowed: RouteMethod[] };

export function match<R>(matchers: readonly Matcher<R>[], method: string, pathname: string): Match<R> {
  const allowed: RouteMethod[] = [];
  for (const m of matchers) {
    const found = m.pattern.exec(pathname);
    if (!found) continue;
    if (m.method !== method && !(method === "HEAD" && m.method === "GET")) {
      allowed.push(m.method);
      continue;
    }
    const params: Record<string, string> = {};
    m.names.forEach((name, i) => (params[name] = decodeUrlPart(found[i + 1]!, name, "path")));
    return { route: m.route, params };
  }
  return { route: null, allowed };
}
