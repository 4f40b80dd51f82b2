/**
 * What every tool shares: how it is declared, what it may use while it runs, and
 * how its outcome becomes an MCP result. A tool file holds only its own schemas,
 * its handler and its wording.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  ElicitResultSchema,
  type ElicitRequestFormParams,
  type ElicitResult,
  type ServerNotification,
  type ServerRequest,
  type ToolAnnotations,
} from "@modelcontextprotocol/sdk/types.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { z } from "zod";
import type { CallOptions, ControllerClient, Failure } from "../client/controller-client.ts";
import type { Logger } from "../lib/log.ts";
import type { LeaseKeeper } from "../mcp/lease-keeper.ts";
import { LIMITS } from "../contract/schemas.ts";
import { newTraceId } from "../lib/trace.ts";
import { explainFailure, explainRefusal, FOR_AGENTS, FOR_AGENTS_SETTLING, type Refusal } from "../client/explain.ts";

/** What a session's tools share: the controller client, the logger, and the leases the session holds. */
export type ToolDeps = { client: ControllerClient; log: Logger; leases: LeaseKeeper };

/** What came of a form put to the client's user: their answer (not yet checked), or why there is none. */
export type FormOutcome = ElicitResult | { action: "unsupported" } | { action: "unanswered"; detail: string };

export type ToolContext = {
  client: ControllerClient;
  /** The leases this session holds, renewed while it lives; each with the attempt it was claimed in. */
  leases: LeaseKeeper;
  /** Pass to every controller call: the client's cancellation, this call's logger, its one trace id and where retries are reported. */
  call: Required<Omit<CallOptions, "idempotencyKey">>;
  /** Sends progress while a call waits, if the client asked for progress; returns a stop function. */
  waiting(seconds: number, what: string): () => void;
  /** Shows the client's user a form (MCP elicitation), if the client can; ends early when the call is cancelled. */
  askPerson(message: string, form: ElicitRequestFormParams["requestedSchema"]): Promise<FormOutcome>;
};

export type ToolFailure = { ok: false; failure: Failure } | { ok: false; refusal: Refusal };
export type ToolOutcome<O> = { ok: true; data: O; text: string } | ToolFailure;

export type MeshTool = { register(server: McpServer, deps: ToolDeps): void };

// Annotations, stated once so that every tool tells the same truth about the mesh.
// Every tool talks to a controller shared with other agents and people, and reads what they
// wrote: open world. Read-only tools change nothing.
export const READS: ToolAnnotations = { readOnlyHint: true, openWorldHint: true };
/** Makes something new on each call (a task, an approval request): additive, so not destructive, and not idempotent. */
export const CREATES: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };
/**
 * Moves a task or an approval on for everyone, with no way back: destructive. Repeating the
 * same call changes nothing more (the controller answers "conflict"): idempotent.
 */
export const SETTLES: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true };
/** Says something new about work in progress (it replaces what was said before): not destructive, and repeating it changes nothing more. */
export const REPORTS: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true };
/**
 * Asks a person, then settles what they answered for everyone: destructive. Not idempotent:
 * every call asks again, and may ask about another approval.
 */
export const ASKS_THEN_SETTLES: ToolAnnotations = { ...SETTLES, idempotentHint: false };

const traceIdField = z.string().describe("This call's trace id: quote it when asking someone to look into the call.");
const PROGRESS_EVERY_MS = 2_000;
/** A person may take a while to answer a form, but a form nobody answers must not hold the call forever. */
const FORM_TIMEOUT_MS = 10 * 60_000;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export const succeed = <O>(data: O, text: string): ToolOutcome<O> => ({ ok: true, data, text });
export const refuse = (message: string, next: string, field?: string): ToolFailure => ({ ok: false, refusal: { message, next, field } });

/**
 * How deep a value nests (a scalar is 0), counted without recursion so that no input can
 * exhaust the stack; stops counting past `limit`.
 */
function nesting(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** The controller takes bodies nested LIMITS.jsonDepth deep; an argument sits one level down in the body. */
const MAX_ARGUMENT_DEPTH = LIMITS.jsonDepth - 1;

function tooDeep(args: unknown): ToolFailure | undefined {
  for (const [name, value] of Object.entries(args ?? {})) {
    if (nesting(value, MAX_ARGUMENT_DEPTH) > MAX_ARGUMENT_DEPTH) {
      return refuse(
        `nested more than ${MAX_ARGUMENT_DEPTH} levels deep.`,
        `Flatten it: no task needs deeper data; put large structures somewhere shared and pass a link.`,
        name,
      );
    }
  }
  return undefined;
}

export function defineTool<I extends z.ZodRawShape, O extends z.ZodRawShape>(spec: {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: ToolAnnotations;
  run(args: z.infer<z.ZodObject<I>>, ctx: ToolContext): Promise<ToolOutcome<z.infer<z.ZodObject<O>>>>;
}): MeshTool {
  return {
    register(server, deps) {
      const config = {
        title: spec.title,
        description: spec.description,
        // Strict: an argument the tool does not take is refused and named, not dropped unseen.
        inputSchema: z.strictObject(spec.input),
        outputSchema: z.object({ ...spec.output, trace_id: traceIdField }),
        annotations: { title: spec.title, ...spec.annotations },
      };
      // Only a tool that takes an idempotency_key can be told to repeat a call with one.
      const audience = "idempotency_key" in spec.input ? FOR_AGENTS : FOR_AGENTS_SETTLING;
      server.registerTool(spec.name, config, async (args: unknown, extra: Extra) => {
        const started = performance.now();
        const ctx = contextFor(deps, extra, server.server);
        const outcome = tooDeep(args) ?? (await spec.run(args as z.infer<z.ZodObject<I>>, ctx));
        const traceId = ctx.call.traceId;
        deps.log.info("tool call", {
          tool: spec.name,
          outcome: outcome.ok ? "ok" : "failure" in outcome ? outcome.failure.kind : "refused",
          ms: Math.round(performance.now() - started),
          trace_id: traceId,
        });
        if (outcome.ok) {
          return {
            content: [{ type: "text" as const, text: `${outcome.text}\n\nTrace id: ${traceId}` }],
            structuredContent: { trace_id: traceId, ...outcome.data },
          };
        }
        const text = "failure" in outcome ? explainFailure(outcome.failure, deps.client.tokens.origin, audience) : explainRefusal(outcome.refusal, traceId);
        return { content: [{ type: "text" as const, text }], isError: true };
      });
    },
  };
}

/**
 * Progress notifications for one tool call, if the client asked for them. Whatever sends
 * them (a wait, a retry), progress is the seconds since the call started, and only ever
 * grows, as MCP requires.
 */
function progressFor(extra: Extra): ((message: string, total?: number) => void) | undefined {
  const progressToken = extra._meta?.progressToken;
  if (progressToken === undefined) return undefined;
  const started = Date.now();
  let last = -1;
  return (message, total) => {
    const progress = Math.round((Date.now() - started) / 100) / 10;
    if (progress <= last) return;
    last = progress;
    extra
      .sendNotification({
        method: "notifications/progress",
        params: { progressToken, progress: total === undefined ? progress : Math.min(total, progress), total, message },
      })
      .catch(() => {});
  };
}

function contextFor(deps: ToolDeps, extra: Extra, session: Server): ToolContext {
  const progress = progressFor(extra);
  return {
    client: deps.client,
    leases: deps.leases,
    call: {
      signal: extra.signal,
      log: deps.log,
      traceId: newTraceId(),
      onRetry({ attempt, failure, delayMs }) {
        progress?.(`Attempt ${attempt} failed (${failure}); trying again in ${Math.round(delayMs / 100) / 10} s.`);
      },
    },
    waiting(seconds, what) {
      if (!progress || seconds <= 0) return () => {};
      const started = Date.now();
      const send = () => progress(`${what} (${Math.min(seconds, Math.round((Date.now() - started) / 1000))} of ${seconds} s)`, seconds);
      send();
      const timer = setInterval(send, PROGRESS_EVERY_MS);
      return () => clearInterval(timer);
    },
    async askPerson(message, form) {
      if (session.getClientCapabilities()?.elicitation?.form === undefined) return { action: "unsupported" };
      try {
        // Sent as part of this tool call, so that over HTTP it travels on the call's own stream.
        return await extra.sendRequest({ method: "elicitation/create", params: { mode: "form", message, requestedSchema: form } }, ElicitResultSchema, {
          signal: extra.signal,
          timeout: FORM_TIMEOUT_MS,
        });
      } catch (error) {
        return { action: "unanswered", detail: (error as Error).message };
      }
    },
  };
}
