/**
 * A small A2A v1.0 JSON-RPC client for the worker (the SDK is a test-only dependency):
 * find an agent's JSON-RPC endpoint from its Agent Card, send a message as a stream
 * of events (SSE), read a task, cancel it.
 */
import { z } from "zod";
import { A2A_VERSION, Part } from "../contract/a2a.ts";
import { MeshError } from "../contract/errors.ts";
import { LIMITS, type JsonObject } from "../contract/schemas.ts";
import { readText } from "../controller/http.ts";

const Card = z.object({
  name: z.string(),
  capabilities: z.object({ streaming: z.boolean().optional() }).optional(),
  supportedInterfaces: z.array(z.object({ url: z.string().min(1), protocolBinding: z.string(), protocolVersion: z.string().optional() })),
});

const RemoteMessage = z.object({ parts: z.array(Part) });
export const RemoteStatus = z.object({ state: z.string(), message: RemoteMessage.optional() });
export type RemoteStatus = z.infer<typeof RemoteStatus>;
const RemoteArtifact = z.object({ artifactId: z.string().optional(), parts: z.array(Part) });
export type RemoteArtifact = z.infer<typeof RemoteArtifact>;
const RemoteTask = z.object({ id: z.string(), contextId: z.string().optional(), status: RemoteStatus, artifacts: z.array(RemoteArtifact).optional() });
export type RemoteTask = z.infer<typeof RemoteTask>;

/** One event of SendStreamingMessage's stream (an agent that answers with a message and no task sends just that). */
const StreamEvent = z.union([
  z.object({ task: RemoteTask }),
  z.object({ statusUpdate: z.object({ taskId: z.string(), status: RemoteStatus }) }),
  z.object({ artifactUpdate: z.object({ taskId: z.string(), artifact: RemoteArtifact, append: z.boolean().optional() }) }),
  z.object({ message: RemoteMessage }),
]);
export type StreamEvent = z.infer<typeof StreamEvent>;

const RpcAnswer = z.union([
  z.object({ result: z.unknown() }).refine((a) => a.result !== undefined),
  z.object({ error: z.object({ code: z.number(), message: z.string() }) }),
]);

/** The remote agent answered with an error, or not in A2A's terms. */
export class A2AError extends Error {
  override name = "A2AError";
}

/** A message to the agent: a new task's first, or (with its taskId and contextId) the next one of a task that asked for input. */
export type OutMessage = {
  messageId: string;
  role: "ROLE_USER";
  parts: ({ text: string } | { data: unknown })[];
  taskId?: string;
  contextId?: string;
  metadata?: JsonObject;
};

export class A2AClient {
  private constructor(
    /** The agent's name, as its card gives it. */
    readonly name: string,
    readonly endpoint: string,
    private readonly token: string | undefined,
    /** Whether the agent streams a task's events; one that does not answers SendMessage when the task ends or stops for input. */
    private readonly streaming: boolean,
  ) {}

  /** Reads the Agent Card at `url` (or at its /.well-known/agent-card.json); an error says, in one line, why there is no A2A v1.0 JSON-RPC agent there. */
  static async discover(url: string, token: string | undefined): Promise<A2AClient> {
    const base = url.replace(/\/+$/, "");
    const tried: string[] = [];
    for (const at of base.endsWith(".json") ? [base] : [base, `${base}/.well-known/agent-card.json`]) {
      const read = await fetchCard(at, token);
      // A host that cannot be reached has no card anywhere.
      if ("unreachable" in read) throw new A2AError(`cannot be reached (${read.unreachable}); is the agent running at that address?`);
      if ("missing" in read) {
        tried.push(`${at}: ${read.missing}`);
        continue;
      }
      const found = read.card;
      const rpc = found.supportedInterfaces.filter((i) => i.protocolBinding === "JSONRPC");
      const v1 = rpc.find((i) => (i.protocolVersion ?? A2A_VERSION) === A2A_VERSION);
      if (!v1)
        throw new A2AError(
          `the agent ${found.name} at ${at} offers no A2A ${A2A_VERSION} JSON-RPC endpoint (it offers ${found.supportedInterfaces.map((i) => `${i.protocolBinding} ${i.protocolVersion ?? ""}`.trim()).join(", ") || "none"})`,
        );
      return new A2AClient(found.name, new URL(v1.url, at).href, token, found.capabilities?.streaming ?? false);
    }
    throw new A2AError(`no A2A agent card found: ${tried.join("; ")}`);
  }

  /** The events of the task the message starts or goes on with, as they come (SendStreamingMessage), or its state when it stops (SendMessage). */
  async *send(message: OutMessage, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const res = await this.#post(this.streaming ? "SendStreamingMessage" : "SendMessage", { message }, signal);
    if (!res.headers.get("content-type")?.includes("text/event-stream")) {
      yield parseEvent(await this.#answer(res));
      return;
    }
    for await (const data of sseData(res.body!)) yield parseEvent(this.#unwrap(JSON.parse(data)));
  }

  async getTask(id: string, signal: AbortSignal): Promise<RemoteTask> {
    return RemoteTask.parse(await this.#answer(await this.#post("GetTask", { id }, signal)));
  }

  /** Best effort, and never longer than CANCEL_TIMEOUT_MS: an agent that hangs must not hold the worker. */
  async cancelTask(id: string): Promise<void> {
    await this.#answer(await this.#post("CancelTask", { id }, AbortSignal.timeout(CANCEL_TIMEOUT_MS)));
  }

  #post(method: string, params: unknown, signal?: AbortSignal): Promise<Response> {
    return fetch(this.endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "A2A-Version": A2A_VERSION,
        ...(this.token && { authorization: `Bearer ${this.token}` }),
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: crypto.randomUUID(), method, params }),
      signal,
    });
  }

  async #answer(res: Response): Promise<unknown> {
    const text = await bounded(res);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new A2AError(`the agent answered HTTP ${res.status} without JSON-RPC: ${text.slice(0, 200)}`);
    }
    return this.#unwrap(body);
  }

  #unwrap(body: unknown): unknown {
    const a = RpcAnswer.safeParse(body);
    if (!a.success) throw new A2AError(`the agent's answer is not JSON-RPC: ${JSON.stringify(body).slice(0, 200)}`);
    if ("error" in a.data) throw new A2AError(`the agent refused (${a.data.error.code}): ${a.data.error.message}`);
    return a.data.result;
  }
}

async function fetchCard(url: string, token: string | undefined): Promise<{ card: z.infer<typeof Card> } | { unreachable: string } | { missing: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/json", ...(token && { authorization: `Bearer ${token}` }) },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    return { unreachable: (error as Error).message };
  }
  if (!res.ok) return { missing: `HTTP ${res.status}` };
  const card = Card.safeParse(
    await bounded(res)
      .then((text) => JSON.parse(text))
      .catch(() => undefined),
  );
  return card.success ? { card: card.data } : { missing: "not an A2A agent card (no name and supportedInterfaces)" };
}

function parseEvent(result: unknown): StreamEvent {
  const e = StreamEvent.safeParse(result);
  if (!e.success) throw new A2AError(`the agent sent an event A2A does not have: ${JSON.stringify(result).slice(0, 200)}`);
  return e.data;
}

/** What this worker reads of one answer or one event from an agent: a task's result is at most an API body. */
const ANSWER_BYTES = LIMITS.bodyBytes * 4;
const CANCEL_TIMEOUT_MS = 10_000;
const tooLarge = () => new A2AError(`the agent sent more than ${ANSWER_BYTES} bytes in one answer or event`);

/** An answer's body as text, refused past ANSWER_BYTES. */
const bounded = (res: Response) =>
  readText(res, ANSWER_BYTES).catch((error: unknown) => {
    throw error instanceof MeshError && error.kind === "payload_too_large"
      ? tooLarge()
      : new A2AError(`the agent's answer could not be read: ${(error as Error).message}`);
  });

/** The `data:` payloads of a server-sent event stream, one per event. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    const text = decoder.decode(chunk, { stream: true });
    // A CRLF split across two chunks still ends a line: otherwise the blank line between two events could be missed.
    if (buffer.endsWith("\r") && text.startsWith("\n")) buffer = buffer.slice(0, -1);
    buffer += text.replaceAll("\r\n", "\n");
    if (buffer.length > ANSWER_BYTES) throw tooLarge();
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const data = buffer
        .slice(0, end)
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""))
        .join("\n");
      buffer = buffer.slice(end + 2);
      if (data) yield data;
      end = buffer.indexOf("\n\n");
    }
  }
}
