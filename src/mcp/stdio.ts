/** Serving one MCP client on stdin/stdout until it closes stdin. */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Logger } from "../lib/log.ts";
import { LineTransport } from "./stdio-transport.ts";

export async function serveStdio(server: McpServer, log: Logger): Promise<void> {
  // stdout carries protocol frames only: anything a library prints goes to stderr instead.
  console.log = console.info = console.debug = console.error;
  if (process.stdin.isTTY)
    process.stderr.write("agent-mesh mcp speaks MCP on stdin/stdout for an agent host such as Goose to start; see agent-mesh mcp --help.\n");
  const closed = new Promise<void>((resolve) => {
    const before = server.server.onclose;
    server.server.onclose = () => {
      before?.();
      resolve();
    };
  });
  server.server.onerror = (error) => log.warn("mcp transport error", { error: error.message });
  await server.connect(new LineTransport(process.stdin, process.stdout));
  await closed;
  log.debug("mcp client closed stdin; stopping");
}
