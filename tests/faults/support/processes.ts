/**
 * The real parts the fault tests run: the compiled binary as a controller (on a port
 * that survives a restart) and as MCP servers over stdio, driven by the official SDK
 * client. MESH_FAULTS_BINARY points them at another build, e.g. a deliberately broken
 * one, to show that the checks catch it.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import net from "node:net";
import { BINARY, spawnController, type SpawnedController } from "../../support/controller.ts";

export const FAULTS_BINARY = process.env.MESH_FAULTS_BINARY ?? BINARY;

const baseEnv = () => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" });

/** A port nothing listens on now (the kernel's pick), to start a controller on and restart it on. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type ControllerProcess = SpawnedController;

/** `agent-mesh controller` (the build under test) on `port` (0: any), once it says it listens. */
export const startControllerProcess = (o: { dataDir: string; port?: number; db?: string; env?: Record<string, string> }): Promise<ControllerProcess> =>
  spawnController(["--data-dir", o.dataDir, ...(o.db ? ["--db", o.db] : [])], { env: o.env, binary: FAULTS_BINARY, port: o.port });

export type ToolResult = CallToolResult & { text: string };

export type McpAgent = {
  client: Client;
  pid: number;
  /** Calls a tool; an exception (a JSON-RPC error, a lost server) is returned, not thrown. */
  call: (name: string, args: Record<string, unknown>, timeoutMs?: number) => Promise<ToolResult | { thrown: string }>;
  /** Errors the SDK client's transport reported: a line on stdout that is not a frame, a dead pipe. */
  transportErrors: string[];
  /** The connection to the server ended without close() being called: the server died. */
  closedEarly: () => boolean;
  /** The connection ended, either way. */
  closed: () => boolean;
  stderr: () => string;
  close: () => Promise<void>;
};

/** `agent-mesh mcp` over stdio, started by the SDK client as an agent host would. */
export async function startMcpAgent(env: Record<string, string>): Promise<McpAgent> {
  const transport = new StdioClientTransport({ command: FAULTS_BINARY, args: ["mcp"], env: { ...baseEnv(), MESH_LOG_LEVEL: "error", ...env }, stderr: "pipe" });
  let log = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    // Keep the tail only: thousands of retries would otherwise pile up here.
    log = (log + chunk.toString()).slice(-200_000);
  });
  const transportErrors: string[] = [];
  let closing = false;
  let closedEarly = false;
  let closed = false;
  const client = new Client({ name: "agent-mesh-fault-tests", version: "0" }, { capabilities: {} });
  client.onerror = (error) => void transportErrors.push(String(error));
  client.onclose = () => {
    closed = true;
    closedEarly ||= !closing;
  };
  await client.connect(transport);
  // Listing the tools makes the SDK client check every structuredContent against its outputSchema.
  await client.listTools();
  return {
    client,
    pid: transport.pid!,
    async call(name, args, timeoutMs = 120_000) {
      try {
        const result = (await client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs })) as CallToolResult;
        const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
        return { ...result, text };
      } catch (error) {
        return { thrown: String(error) };
      }
    },
    transportErrors,
    closedEarly: () => closedEarly,
    closed: () => closed || closing,
    stderr: () => log,
    async close() {
      closing = true;
      await client.close();
    },
  };
}

/** Whether a process is alive (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
