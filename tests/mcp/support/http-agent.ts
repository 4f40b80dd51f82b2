/** The compiled binary serving MCP over Streamable HTTP, started the way a user would. */
import { BINARY } from "../../support/controller.ts";

export type HttpAgent = { url: string; proc: Bun.Subprocess<"ignore", "ignore", "pipe">; stop: () => Promise<number> };

/** Starts `agent-mesh mcp --http --port 0 …` and waits for the address it reports. */
export async function startHttpAgent(args: string[], env: Record<string, string>): Promise<HttpAgent> {
  const proc = Bun.spawn([BINARY, "mcp", "--http", "--port", "0", ...args], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", MESH_LOG_LEVEL: "warn", ...env },
  });
  const reader = proc.stderr.getReader();
  const decoder = new TextDecoder();
  let log = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`agent-mesh mcp --http exited:\n${log}`);
    log += decoder.decode(value, { stream: true });
    const listening = /MCP server on (\S+)/.exec(log);
    if (listening) {
      // keep reading so that the pipe never fills
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return {
        url: listening[1]!,
        proc,
        stop: async () => {
          proc.kill("SIGTERM");
          return proc.exited;
        },
      };
    }
  }
}

/** A bare initialize request, as any MCP client opens a Streamable HTTP session. */
export const initialize = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "0" } },
    }),
  });
