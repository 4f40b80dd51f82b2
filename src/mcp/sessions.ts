/**
 * The MCP sessions of one Streamable HTTP endpoint: each client session gets its own
 * MCP server and transport (the SDK's web-standard one, which fits lib/http-server.ts),
 * bound to the caller that opened it. Held at most `maxSessions` at once: a new
 * session replaces one idle for a minute or more, or is refused; one untouched for an
 * hour is closed, so vanished clients do not pile up. Used by `agent-mesh mcp --http`
 * (one caller: the process's own identity) and the controller's /mcp (each caller).
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { MeshError } from "../contract/errors.ts";
import { LIMITS } from "../contract/schemas.ts";
import { readText } from "../controller/http.ts";
import type { Logger } from "../lib/log.ts";
import { rpcError } from "./http-guard.ts";

/** A session no request has touched for this long is closed. */
const IDLE_SESSION_MS = 60 * 60 * 1000;
/** At the session cap, a session untouched this long may be closed to make room for a new one. */
const EVICTABLE_AFTER_MS = 60 * 1000;

export type SessionOptions = {
  /** Sessions held at once (MESH_MCP_MAX_SESSIONS). */
  maxSessions: number;
  /** How long a session must be untouched before the cap may close it (default a minute). */
  evictableAfterMs?: number;
  log: Logger;
  newServer: () => McpServer;
};

/** Who sends a request: the session it opens is theirs alone. */
export type Owner = { id: string; authInfo?: AuthInfo };

/** `busy`: requests and streams of this session now open; a busy session is never idle, however long its stream. */
type Session = { transport: WebStandardStreamableHTTPServerTransport; server: McpServer; owner: string; lastSeen: number; busy: number };

/**
 * A body read whole, within the bound the HTTP server puts on a declared length (a body
 * sent in chunks cannot grow past it; a larger one is a 413), to be handed on as it came.
 * The SDK's transport bounds the bodies of requests within a session itself.
 */
async function readWhole(req: Request): Promise<{ req: Request; text: string } | Response> {
  try {
    const text = await readText(req, MCP_BODY_BYTES);
    return { text, req: new Request(req.url, { method: req.method, headers: req.headers, body: text, signal: req.signal }) };
  } catch (error) {
    if (error instanceof MeshError) return rpcError(error.status, error.message);
    throw error;
  }
}

/** The bound the HTTP server puts on a declared body (an initialize needs far less). */
const MCP_BODY_BYTES = LIMITS.bodyBytes * 4;

/** Whether a body is a JSON-RPC initialize request (alone, or the one message of a batch). */
function isInitialize(text: string): boolean {
  try {
    const message = JSON.parse(text) as unknown;
    const one = Array.isArray(message) && message.length === 1 ? message[0] : message;
    return typeof one === "object" && one !== null && (one as { method?: unknown }).method === "initialize";
  } catch {
    return false;
  }
}

export class McpSessions {
  readonly #sessions = new Map<string, Session>();
  /** Initializes under way: they count against the cap before their session exists. */
  #opening = 0;
  readonly #o: SessionOptions;
  readonly #evictableAfterMs: number;
  readonly #sweep: Timer;

  constructor(o: SessionOptions) {
    this.#o = o;
    this.#evictableAfterMs = o.evictableAfterMs ?? EVICTABLE_AFTER_MS;
    this.#sweep = setInterval(() => {
      for (const [id, s] of this.#sessions) if (s.busy === 0 && Date.now() - s.lastSeen > IDLE_SESSION_MS) this.#close(id, s, "idle for an hour");
    }, 60_000);
    this.#sweep.unref();
  }

  /** Answers one request at the MCP endpoint from `owner`, who has passed the endpoint's guard. */
  handle(req: Request, owner: Owner): Promise<Response> | Response {
    const id = req.headers.get("mcp-session-id");
    if (id === null)
      return req.method === "POST" ? this.#open(req, owner) : rpcError(400, "Bad Request: send an initialize request first, then the mcp-session-id it gives.");
    const session = this.#sessions.get(id);
    if (!session) return rpcError(404, "Session not found: it ended or never existed; initialize a new one.");
    // A session id is no credential: one caller cannot use another's session, even knowing its id.
    if (session.owner !== owner.id) return rpcError(403, "This session belongs to another caller: initialize a session of your own.");
    return this.#whileBusy(session, session.transport.handleRequest(req, { authInfo: owner.authInfo }));
  }

  /** Counts the session busy until its answer (an event stream included) has been sent or abandoned. */
  async #whileBusy(session: Session, answer: Promise<Response>): Promise<Response> {
    session.busy++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      session.busy--;
      session.lastSeen = Date.now();
    };
    try {
      const response = await answer;
      if (!response.body) {
        finish();
        return response;
      }
      const reader = response.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const chunk = await reader.read();
          if (chunk.done) {
            finish();
            controller.close();
          } else controller.enqueue(chunk.value);
        },
        cancel(reason) {
          finish();
          return reader.cancel(reason);
        },
      });
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } catch (error) {
      finish();
      throw error;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    await Promise.all([...this.#sessions.values()].map((s) => s.server.close()));
  }

  #close(id: string, session: Session, why: string) {
    this.#sessions.delete(id);
    void session.server.close();
    this.#o.log.info("mcp session closed", { session: id, why });
  }

  /** Room for one more session: true if there was room or the longest-idle session made way. */
  #makeRoom(): boolean {
    if (this.#sessions.size + this.#opening < this.#o.maxSessions) return true;
    let oldest: [string, Session] | undefined;
    for (const entry of this.#sessions) if (entry[1].busy === 0 && (!oldest || entry[1].lastSeen < oldest[1].lastSeen)) oldest = entry;
    if (!oldest || Date.now() - oldest[1].lastSeen < this.#evictableAfterMs) return false;
    this.#close(oldest[0], oldest[1], "the session cap was reached and it was the longest idle");
    return true;
  }

  async #open(incoming: Request, owner: Owner): Promise<Response> {
    // The whole request is read before it may count against the cap or push out another
    // session: a client that sends half an initialize and stalls holds nothing.
    const read = await readWhole(incoming);
    if (read instanceof Response) return read;
    const { req, text } = read;
    if (!isInitialize(text)) return rpcError(400, "Bad Request: a request without mcp-session-id must be an initialize request.");
    if (!this.#makeRoom()) {
      this.#o.log.warn("mcp session refused: at the cap", { max_sessions: this.#o.maxSessions });
      return rpcError(
        503,
        `Too many MCP sessions: this server holds at most ${this.#o.maxSessions} and none has been idle for ${this.#evictableAfterMs / 1000} s. Close sessions you no longer use, or raise MESH_MCP_MAX_SESSIONS.`,
        { "retry-after": String(Math.ceil(this.#evictableAfterMs / 1000)) },
      );
    }
    this.#opening++;
    try {
      const server = this.#o.newServer();
      const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => {
          this.#sessions.set(id, { transport, server, owner: owner.id, lastSeen: Date.now(), busy: 0 });
          this.#o.log.info("mcp session opened", { session: id });
        },
        onsessionclosed: (id) => {
          this.#sessions.delete(id);
          this.#o.log.info("mcp session closed", { session: id, why: "the client ended it" });
        },
      });
      transport.onclose = () => transport.sessionId && this.#sessions.delete(transport.sessionId);
      await server.connect(transport);
      // The transport answers anything but an initialize request with an error; such a server is dropped.
      return await transport.handleRequest(req, { authInfo: owner.authInfo });
    } finally {
      this.#opening--;
    }
  }
}
