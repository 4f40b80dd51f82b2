/**
 * MCP over Streamable HTTP at /mcp. Each client session gets its own MCP server and
 * transport (the SDK's web-standard one, which fits lib/http-server.ts); all sessions share
 * the controller client, so they all act as the identity this process was given.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { defaultMaxConnections, serve } from "../lib/http-server.ts";
import type { Logger } from "../lib/log.ts";
import { LIMITS } from "../contract/schemas.ts";
import { createGuard, rpcError } from "./http-guard.ts";

export const MCP_PATH = "/mcp";
/** A session no request has touched for this long is closed, so vanished clients do not pile up. */
const IDLE_SESSION_MS = 60 * 60 * 1000;
/** At the session cap, a session untouched this long may be closed to make room for a new one. */
const EVICTABLE_AFTER_MS = 60 * 1000;
/** How long an idle connection that has not passed the guard (Host, Origin, token) is kept. */
const ANONYMOUS_IDLE_SECONDS = 10;

export type HttpOptions = {
  host: string;
  port: number;
  token?: string;
  extraHosts: string[];
  /** Sessions held at once (MESH_MCP_MAX_SESSIONS). */
  maxSessions: number;
  /** How long a session must be untouched before the cap may close it (default a minute). */
  evictableAfterMs?: number;
  log: Logger;
  newServer: () => McpServer;
};

type Session = { transport: WebStandardStreamableHTTPServerTransport; server: McpServer; lastSeen: number };

export type HttpServer = { url: URL; stop: () => Promise<void> };

export async function serveHttp(o: HttpOptions): Promise<HttpServer> {
  const sessions = new Map<string, Session>();
  /** Initializes under way: they count against the cap before their session exists. */
  let opening = 0;
  const guard = createGuard({ listenHost: o.host, extraHosts: o.extraHosts, token: o.token });
  const evictableAfterMs = o.evictableAfterMs ?? EVICTABLE_AFTER_MS;

  function close(id: string, session: Session, why: string) {
    sessions.delete(id);
    void session.server.close();
    o.log.info("mcp session closed", { session: id, why });
  }

  /** Room for one more session: true if there was room or the longest-idle session made way. */
  function makeRoom(): boolean {
    if (sessions.size + opening < o.maxSessions) return true;
    let oldest: [string, Session] | undefined;
    for (const entry of sessions) if (!oldest || entry[1].lastSeen < oldest[1].lastSeen) oldest = entry;
    if (!oldest || Date.now() - oldest[1].lastSeen < evictableAfterMs) return false;
    close(oldest[0], oldest[1], "the session cap was reached and it was the longest idle");
    return true;
  }

  async function open(req: Request): Promise<Response> {
    if (!makeRoom()) {
      o.log.warn("mcp session refused: at the cap", { max_sessions: o.maxSessions });
      return rpcError(
        503,
        `Too many MCP sessions: this server holds at most ${o.maxSessions} and none has been idle for ${evictableAfterMs / 1000} s. Close sessions you no longer use, or raise MESH_MCP_MAX_SESSIONS.`,
        { "retry-after": String(Math.ceil(evictableAfterMs / 1000)) },
      );
    }
    opening++;
    try {
      const server = o.newServer();
      const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { transport, server, lastSeen: Date.now() });
          o.log.info("mcp session opened", { session: id });
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
          o.log.info("mcp session closed", { session: id, why: "the client ended it" });
        },
      });
      transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
      await server.connect(transport);
      // The transport answers anything but an initialize request with an error; such a server is dropped.
      return await transport.handleRequest(req);
    } finally {
      opening--;
    }
  }

  const http = await serve({
    hostname: o.host,
    port: o.port,
    maxConnections: defaultMaxConnections(),
    anonymousIdleSeconds: ANONYMOUS_IDLE_SECONDS,
    idleSeconds: 60,
    // SSE streams stay open; the transport sends a keep-alive comment every 15 s.
    stallSeconds: 60,
    maxBodyBytes: LIMITS.bodyBytes * 4,
    onError: (error) => o.log.error("mcp request failed", { error: (error as Error)?.stack ?? String(error) }),
    async fetch(req, connection) {
      if (new URL(req.url).pathname !== MCP_PATH) return rpcError(404, `Not found: the MCP endpoint is ${MCP_PATH}.`);
      const refusal = guard(req);
      if (refusal) return refusal;
      connection.trusted = true;
      const id = req.headers.get("mcp-session-id");
      if (id === null)
        return req.method === "POST" ? open(req) : rpcError(400, "Bad Request: send an initialize request first, then the mcp-session-id it gives.");
      const session = sessions.get(id);
      if (!session) return rpcError(404, "Session not found: it ended or never existed; initialize a new one.");
      session.lastSeen = Date.now();
      return session.transport.handleRequest(req);
    },
  });

  const sweep = setInterval(() => {
    for (const [id, s] of sessions) if (Date.now() - s.lastSeen > IDLE_SESSION_MS) close(id, s, "idle for an hour");
  }, 60_000);
  sweep.unref();

  return {
    url: new URL(MCP_PATH, http.url),
    async stop() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => s.server.close()));
      await http.stop(true);
    },
  };
}
