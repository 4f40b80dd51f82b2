/**
 * Build step: asks the real server (SDK, zod schemas and all) for its `initialize` and
 * `tools/list` answers, so that the compiled binary can give the very same ones early.
 */
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { createLogger } from "../lib/log.ts";
import type { EarlyAnswerSet } from "./early-answers.ts";
import { createMcpServer } from "./server.ts";

export async function captureEarlyAnswers(): Promise<EarlyAnswerSet> {
  const server = createMcpServer({
    clientFor: () => {
      throw new Error("no tool is called while the answers are captured");
    },
    log: createLogger("error"),
  });
  const [ours, theirs] = InMemoryTransport.createLinkedPair();
  const answers = new Map<number, (result: Record<string, unknown>) => void>();
  ours.onmessage = (message) => {
    if ("id" in message && "result" in message) answers.get(message.id as number)?.(message.result);
  };
  await server.connect(theirs);
  await ours.start();
  const ask = (id: number, method: string, params: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve) => {
      answers.set(id, resolve);
      void ours.send({ jsonrpc: "2.0", id, method, params } as JSONRPCMessage);
    });
  const { protocolVersion: _, ...initialize } = await ask(1, "initialize", {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "agent-mesh build", version: "0" },
  });
  const toolsList = await ask(2, "tools/list", {});
  await server.close();
  return { protocolVersions: [...SUPPORTED_PROTOCOL_VERSIONS], latestProtocolVersion: LATEST_PROTOCOL_VERSION, initialize, toolsList };
}
