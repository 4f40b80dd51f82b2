/**
 * The same odd input gets the same answer through an agent's MCP server as over HTTP:
 * JSON the server reads as Infinity or a lone surrogate is refused naming the field,
 * not sent on changed (as null or U+FFFD). Raw JSON-RPC lines to the compiled binary,
 * because an SDK client cannot even write 1e400.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { BINARY, startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string;
let agent: ReturnType<typeof spawnAgent>;

/** The binary on raw pipes: write a line, wait for the frame with that id. */
function spawnAgent(env: Record<string, string>) {
  const proc = Bun.spawn([BINARY, "mcp"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "ignore",
    env: { PATH: process.env.PATH ?? "", MESH_LOG_LEVEL: "error", ...env },
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  return {
    proc,
    async call(id: number, line: string): Promise<any> {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
      for (;;) {
        for (let end = buffered.indexOf("\n"); end !== -1; end = buffered.indexOf("\n")) {
          const frame = JSON.parse(buffered.slice(0, end));
          buffered = buffered.slice(end + 1);
          if (frame.id === id) return frame;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the MCP server closed stdout");
        buffered += decoder.decode(value, { stream: true });
      }
    },
  };
}

beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["worker"]);
  agent = spawnAgent({ CONTROLLER_URL: c.url, MESH_JWT_TOKEN: alice });
  await agent.call(
    1,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
    }),
  );
  agent.proc.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
});
afterAll(async () => {
  agent?.proc.kill();
  await c?.stop();
});

const tasksSent = async () => (await c.api(alice, "GET", "/tasks?source=alice&limit=200")).body.items.length as number;

test("send_task with 1e400 or a lone surrogate in its data is refused naming the field, as POST /tasks/route refuses it", async () => {
  const before = await tasksSent();
  const cases: [string, string][] = [
    [`{"n":1e400}`, "task.data.n"],
    [`{"n":-1e400}`, "task.data.n"],
    [`{"note":"half \\ud83d"}`, "task.data.note"],
  ];
  let id = 10;
  for (const [data, field] of cases) {
    const task = `{"task_type":"t","data":${data}}`;
    const http = await c.api(alice, "POST", "/tasks/route", `{"target":"worker","task":${task}}`, { "idempotency-key": crypto.randomUUID() });
    expect({ data, status: http.status, fields: http.body.errors?.map((f: any) => f.field) }).toEqual({ data, status: 422, fields: [field] });
    const mcp = await agent.call(
      ++id,
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"send_task","arguments":{"target":"worker","task":${task}}}}`,
    );
    expect({ data, isError: mcp.result?.isError }).toEqual({ data, isError: true });
    expect(mcp.result.content[0].text).toContain(field);
  }
  expect(await tasksSent()).toBe(before);
});
