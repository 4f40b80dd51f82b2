/**
 * How fast an agent host gets going: spawn → `initialize` answer of the compiled binary,
 * and the round trip of a tool call through it to a real controller. The bounds are loose
 * (a loaded CI machine must pass); the figures are printed for the record.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { BINARY, startTestController, type TestController } from "../support/controller.ts";
import { startAgent } from "./support/agent.ts";

const INIT = `${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "0" } } })}\n`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1]!;

let controller: TestController;
beforeAll(async () => (controller = await startTestController()));
afterAll(() => controller.stop());

async function spawnToInitialize(): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn([BINARY, "mcp"], { stdin: "pipe", stdout: "pipe", stderr: "ignore", env: { PATH: process.env.PATH ?? "", MESH_JWT_TOKEN: "a.b.c" } });
  proc.stdin.write(INIT);
  proc.stdin.flush();
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("no answer to initialize");
    text += new TextDecoder().decode(value);
  }
  const elapsed = performance.now() - started;
  expect(JSON.parse(text).result.serverInfo.name).toBe("agent-mesh");
  proc.stdin.end();
  await proc.exited;
  return elapsed;
}

test("spawn → initialize answer", async () => {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) times.push(await spawnToInitialize());
  console.log(`spawn → initialize: median ${median(times).toFixed(0)} ms, p95 ${p95(times).toFixed(0)} ms (20 runs)`);
  expect(median(times)).toBeLessThan(1_000);
});

test("tool-call round trip through the binary to the controller", async () => {
  const agent = await startAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await controller.token("alice", ["dev"]) });
  const sent = await agent.call("send_task", { target: "reviewer", task: { task_type: "review" } });
  const times: Record<string, number[]> = { fetch_status: [], send_task: [] };
  for (let i = 0; i < 50; i++) {
    for (const [tool, args] of [["fetch_status", { task_id: sent.structured.task_id }], ["send_task", { target: "reviewer", task: { task_type: "review" } }]] as const) {
      const started = performance.now();
      const r = await agent.call(tool, args);
      times[tool]!.push(performance.now() - started);
      expect(r.isError).toBeFalsy();
    }
  }
  await agent.close();
  for (const [tool, xs] of Object.entries(times)) console.log(`${tool}: median ${median(xs).toFixed(1)} ms, p95 ${p95(xs).toFixed(1)} ms (50 calls)`);
  expect(median(times.fetch_status!)).toBeLessThan(250);
});
