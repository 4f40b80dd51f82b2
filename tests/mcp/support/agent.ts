/**
 * An agent as an MCP host sees it: the compiled binary started over real stdio by the
 * official SDK client, with the environment a user would put in their host's config.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult, ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { BINARY } from "../../support/controller.ts";

export type Agent = {
  client: Client;
  /** Calls a tool and returns its result, text joined. */
  call: (name: string, args?: Record<string, unknown>, options?: Parameters<Client["callTool"]>[2]) => Promise<ToolResult>;
  stderr: () => string;
  /** The server process's id, e.g. to kill it as a crash would. */
  pid: () => number | null;
  close: () => Promise<void>;
};

export type ToolResult = CallToolResult & { text: string; structured: any };

/** `capabilities`: what the client says it can do, e.g. `{ elicitation: {} }` to be shown forms. */
export async function startAgent(env: Record<string, string>, capabilities: ClientCapabilities = {}): Promise<Agent> {
  const transport = new StdioClientTransport({
    command: BINARY,
    args: ["mcp"],
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", MESH_LOG_LEVEL: "warn", ...env },
    stderr: "pipe",
  });
  let log = "";
  transport.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const client = new Client({ name: "agent-mesh-tests", version: "0" }, { capabilities });
  await client.connect(transport);
  // Listing the tools makes the SDK client check every structuredContent against its outputSchema.
  await client.listTools();
  return {
    client,
    async call(name, args = {}, options) {
      const result = (await client.callTool({ name, arguments: args }, undefined, options)) as CallToolResult;
      const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
      return { ...result, text, structured: result.structuredContent };
    },
    stderr: () => log,
    pid: () => transport.pid,
    close: () => client.close(),
  };
}
