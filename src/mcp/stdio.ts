/** Serving one MCP client on stdin/stdout until it closes stdin. */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Logger } from "../lib/log.ts";
import { EARLY_ANSWERS } from "./early-answers.ts";
import { LineTransport } from "./stdio-transport.ts";

/**
 * Starts reading stdin at once, so that the compiled binary answers `initialize` and
 * `tools/list` while the server still loads; `serve` connects the server when it is built.
 */
export function listenStdio() {
  // stdout carries protocol frames only: anything a library prints goes to stderr instead.
  console.log = console.info = console.debug = console.error;
  if (process.stdin.isTTY)
    process.stderr.write("agent-mesh mcp speaks MCP on stdin/stdout for an agent host such as Goose to start; see agent-mesh mcp --help.\n");
  const transport = new LineTransport(process.stdin, process.stdout, EARLY_ANSWERS);
  transport.listen();
  return {
    /** When to load the settings and the server (see LineTransport). */
    paused: transport.paused,
    needed: transport.needed,
    async serve(server: McpServer, log: Logger): Promise<void> {
      const closed = new Promise<void>((resolve) => {
        const before = server.server.onclose;
        server.server.onclose = () => {
          before?.();
          resolve();
        };
      });
      server.server.onerror = (error) => log.warn("mcp transport error", { error: error.message });
      await server.connect(transport);
      await closed;
      log.debug("mcp client closed stdin; stopping");
    },
  };
}
