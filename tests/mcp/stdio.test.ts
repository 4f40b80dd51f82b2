/**
 * The stdio transport of the compiled binary, byte for byte: bad frames get JSON-RPC
 * errors and the server keeps serving; stdout only ever holds protocol frames; a
 * cancelled call stops its request to the controller; logs reach a client that asks.
 */
import { afterEach, expect, test } from "bun:test";
import { LoggingMessageNotificationSchema, type LoggingMessageNotification } from "@modelcontextprotocol/sdk/types.js";
import { BINARY } from "../support/controller.ts";
import { startAgent } from "./support/agent.ts";
import { misbehave, type Misbehaving } from "./support/misbehaving.ts";

type Frame = { jsonrpc: string; id?: string | number | null; result?: any; error?: { code: number; message: string }; method?: string };

/** The binary on raw pipes: write lines, read frames one by one, keep every byte of stdout. */
function spawnRaw(controllerUrl: string) {
  const proc = Bun.spawn([BINARY, "mcp"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: controllerUrl, MESH_JWT_TOKEN: "a.b.c", MESH_LOG_LEVEL: "debug" },
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let stdout = "";
  let consumed = 0;
  return {
    proc,
    stdout: () => stdout,
    write(text: string) {
      proc.stdin.write(text);
      proc.stdin.flush();
    },
    async next(): Promise<Frame> {
      for (;;) {
        const end = stdout.indexOf("\n", consumed);
        if (end !== -1) {
          const line = stdout.slice(consumed, end);
          consumed = end + 1;
          return JSON.parse(line);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`stdout closed; stderr: ${await new Response(proc.stderr).text()}`);
        stdout += decoder.decode(value, { stream: true });
      }
    },
    async drain() {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return stdout;
        stdout += decoder.decode(value, { stream: true });
      }
    },
  };
}

const rpc = (id: number, method: string, params: unknown = {}) => `${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`;
const INIT = rpc(1, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } });

let controller: Misbehaving | undefined;
afterEach(() => controller?.stop());

test("garbage and oversize frames get JSON-RPC errors; the server keeps serving; stdout holds only frames", async () => {
  controller = misbehave(["hang"]);
  const raw = spawnRaw(controller.url);
  raw.write(INIT);
  expect((await raw.next()).result.serverInfo.name).toBe("agent-mesh");
  raw.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);

  raw.write("this is not json\n");
  expect(await raw.next()).toMatchObject({ id: null, error: { code: -32700 } });
  raw.write("{}\n");
  expect(await raw.next()).toMatchObject({ id: null, error: { code: -32600 } });
  raw.write('{"jsonrpc":"2.0","id":5,"method":42}\n');
  expect(await raw.next()).toMatchObject({ id: 5, error: { code: -32600 } });
  raw.write("[1,2,3]\n");
  expect(await raw.next()).toMatchObject({ id: null, error: { code: -32600 } });
  raw.write("\r\n   \n"); // blank lines are not messages: no answer

  // 5 MiB in one line, arriving in pieces, then a line that is fine
  const pad = "x".repeat(1024 * 1024);
  raw.write(`{"jsonrpc":"2.0","id":6,"method":"ping","params":{"pad":"`);
  for (let i = 0; i < 5; i++) raw.write(pad);
  raw.write(`"}}\n${rpc(7, "ping")}`);
  const oversize = await raw.next();
  expect(oversize).toMatchObject({ id: null, error: { code: -32600 } });
  expect(oversize.error!.message).toContain("larger than 4194304 bytes");
  expect(await raw.next()).toEqual({ jsonrpc: "2.0", id: 7, result: {} });

  raw.write(rpc(8, "no/such/method"));
  expect(await raw.next()).toMatchObject({ id: 8, error: { code: -32601 } });
  raw.write(rpc(9, "tools/call", { name: "fetch_status", arguments: {} }));
  const invalid = await raw.next();
  expect(invalid.result.isError).toBe(true);
  expect(invalid.result.content[0].text).toContain("task_id");
  raw.write(rpc(10, "tools/list"));
  expect((await raw.next()).result.tools).toHaveLength(16);

  raw.proc.stdin.end();
  const all = await raw.drain();
  expect(await raw.proc.exited).toBe(0);
  for (const line of all.trimEnd().split("\n")) {
    const frame = JSON.parse(line) as Frame;
    expect(frame.jsonrpc).toBe("2.0");
    expect("result" in frame || "error" in frame || "method" in frame).toBe(true);
  }
  expect(all.endsWith("\n")).toBe(true);
});

test("closing stdin stops the server at once, even with a long-poll in flight", async () => {
  controller = misbehave(["hang"]);
  const raw = spawnRaw(controller.url);
  raw.write(INIT);
  await raw.next();
  raw.write(rpc(2, "tools/call", { name: "check_inbox", arguments: { role: "reviewer", wait_seconds: 60 } }));
  await controller.received(1);
  const closedAt = performance.now();
  raw.proc.stdin.end();
  expect(await raw.proc.exited).toBe(0);
  expect(performance.now() - closedAt).toBeLessThan(5_000);
  await controller.seen[0]!.aborted;
});

test("a cancelled call aborts its request to the controller", async () => {
  controller = misbehave(["hang"]);
  const agent = await startAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: "a.b.c" });
  const cancel = new AbortController();
  const call = agent.call("check_inbox", { role: "reviewer", wait_seconds: 60 }, { signal: cancel.signal });
  // The long-poll, and beside it the session's report that it serves the role (GET /roles).
  await controller.received(2);
  const poll = controller.seen.find((r) => r.path.startsWith("/tasks"))!;
  expect(poll.path).toBe("/tasks?for=me&target=reviewer&status=pending&limit=20&wait=60");
  cancel.abort("changed my mind");
  expect(await call.catch((e) => String(e))).toContain("changed my mind");
  await poll.aborted;
  // and the server is still there for the next call
  await agent.client.ping();
  await agent.close();
});

test("logs reach the client as notifications once it asks, at the level it asked for", async () => {
  controller = misbehave([Response.json({ items: [], next_cursor: null })]);
  const agent = await startAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: "a.b.c" });
  const messages: LoggingMessageNotification["params"][] = [];
  agent.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params));
  await agent.call("check_inbox", { role: "reviewer" });
  expect(messages).toEqual([]);
  await agent.client.setLoggingLevel("info");
  const r = await agent.call("check_inbox", { role: "reviewer" });
  expect(messages).toHaveLength(1);
  expect(messages[0]).toMatchObject({
    level: "info",
    logger: "agent-mesh",
    data: { msg: "tool call", tool: "check_inbox", outcome: "ok", trace_id: r.structured.trace_id },
  });
  await agent.client.setLoggingLevel("error");
  await agent.call("check_inbox", { role: "reviewer" });
  expect(messages).toHaveLength(1);
  await agent.close();
});
