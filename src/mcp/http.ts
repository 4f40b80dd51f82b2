/**
 * MCP over Streamable HTTP at /mcp. Each client session gets its own MCP server and
 * transport (the SDK's web-standard one, which fits Bun.serve); all sessions share
 * the controller client, so they all act as the identity this process was given.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { Logger } from "../lib/log.ts";
import { requestUrl } from "../lib/request-url.ts";
import { createGuard, rpcError } from "./http-guard.ts";

export const MCP_PATH = "/mcp";
/** A session no request has touched for this long is closed, so vanished clients do not pile up. */
const IDLE_SESSION_MS = 60 * 60 * 1000;

export type HttpOptions = { host: string; port: number; token?: string; extraHosts: string[]; log: Logger; newServer: () => McpServer };

type Session = { transport: WebStandardStreamableHTTPServerTransport; server: McpServer; lastSeen: number };

export type HttpServer = { url: URL; stop: () => Promise<void> };

export function serveHttp(o: HttpOptions): HttpServer {
  const sessions = new Map<string, Session>();
  const guard = createGuard({ listenHost: o.host, extraHosts: o.extraHosts, token: o.token });

  async function open(req: Request): Promise<Response> {
    const server = o.newServer();
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, lastSeen: Date.now() });
        o.log.info("mcp session opened", { session: id });
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
        o.log.info("mcp session closed", { session: id });
      },
    });
    transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
    await server.connect(transport);
    // The transport answers anything but an initialize request with an error; such a server is dropped.
    return transport.handleRequest(req);
  }

  const http = Bun.serve({
    hostname: o.host,
    port: o.port,
    // SSE streams stay open; the transport sends a keep-alive comment every 15 s.
    idleTimeout: 60,
    async fetch(req) {
      if (requestUrl(req).url.pathname !== MCP_PATH) return rpcError(404, `Not found: the MCP endpoint is ${MCP_PATH}.`);
      const refusal = guard(req);
      if (refusal) return refusal;
      const id = req.headers.get("mcp-session-id");
      if (id === null) return req.method === "POST" ? open(req) : rpcError(400, "Bad Request: send an initialize request first, then the mcp-session-id it gives.");
      const session = sessions.get(id);
      if (!session) return rpcError(404, "Session not found: it ended or never existed; initialize a new one.");
      session.lastSeen = Date.now();
      return session.transport.handleRequest(req);
    },
  });

  const sweep = setInterval(() => {
    for (const [id, s] of sessions) if (Date.now() - s.lastSeen > IDLE_SESSION_MS) void s.server.close().finally(() => sessions.delete(id));
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
