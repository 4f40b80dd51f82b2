/**
 * `agent-mesh mcp --http`: MCP over Streamable HTTP at /mcp (sessions.ts). All sessions
 * share the controller client, so they all act as the identity this process was given.
 */
import { defaultMaxConnections, serve } from "../lib/http-server.ts";
import { LIMITS } from "../contract/schemas.ts";
import { createGuard, rpcError } from "./http-guard.ts";
import { McpSessions, type SessionOptions } from "./sessions.ts";

export const MCP_PATH = "/mcp";
/** How long an idle connection that has not passed the guard (Host, Origin, token) is kept. */
const ANONYMOUS_IDLE_SECONDS = 10;

export type HttpOptions = SessionOptions & {
  host: string;
  port: number;
  token?: string;
  extraHosts: string[];
};

export type HttpServer = { url: URL; stop: () => Promise<void> };

/** Every session here is this process's own: its one identity acts for all of them. */
const THIS_PROCESS = { id: "this process" };

export async function serveHttp(o: HttpOptions): Promise<HttpServer> {
  const sessions = new McpSessions(o);
  const guard = createGuard({ listenHost: o.host, extraHosts: o.extraHosts, token: o.token });

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
      return sessions.handle(req, THIS_PROCESS);
    },
  });

  return {
    url: new URL(MCP_PATH, http.url),
    async stop() {
      await sessions.stop();
      await http.stop(true);
    },
  };
}
