/**
 * What a host and its user see from the compiled binary over stdio (the official SDK
 * client): a call that ends within a budget hosts accept, with progress while it retries;
 * errors that say what happened in the product's words; a server with no credentials
 * that fails at start instead of looking connected; an inbox that says when more wait;
 * a quiet stderr.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { BINARY } from "../support/controller.ts";
import { startMesh, type Mesh } from "./support/mesh.ts";
import { accepted, closedPort, misbehave } from "./support/misbehaving.ts";

let mesh: Mesh;
beforeAll(async () => (mesh = await startMesh()));
afterAll(() => mesh.stop());

/** An object nested `depth` levels deep. */
const nested = (depth: number) => {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { inner: value };
  return value;
};

describe("a hung controller", () => {
  test("the call ends when its time budget runs out, and says so, with progress while it retries", async () => {
    const hung = misbehave(["hang"]);
    try {
      const agent = await mesh.agentWith({
        CONTROLLER_URL: hung.url,
        MESH_JWT_TOKEN: "a.b.c",
        MESH_TIMEOUT_SECS: "1",
        MESH_CALL_BUDGET_SECS: "3",
        MESH_RETRY_COUNT: "10",
      });
      const progress: Progress[] = [];
      const r = await agent.call("fetch_status", { task_id: "t-1" }, { onprogress: (p) => void progress.push(p) });
      expect(r.isError).toBe(true);
      expect(r.text).toStartWith(`The controller at ${hung.url.replace(/\/$/, "")} did not answer in time`);
      expect(r.text).toMatch(/Gave up after \d+ attempts, when this call's 3 s time budget ran out\./);
      // Far fewer than the 11 attempts the retry count allows: the budget ended it.
      expect(hung.seen.length).toBeLessThan(11);
      expect(progress.length).toBeGreaterThan(0);
      expect(progress[0]!.message).toMatch(/^Attempt 1 failed \(No answer within 1 s\.\); trying again in [\d.]+ s\.$/);
      for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
    } finally {
      await hung.stop();
    }
  });

  test("the default budget is in --help and fits a host's 60 s limit", () => {
    const help = Bun.spawnSync([BINARY, "mcp", "--help"]).stdout.toString();
    const line = help.split("\n").find((l) => l.includes("MESH_CALL_BUDGET_SECS"))!;
    const seconds = Number(/default (\d+)/.exec(line)![1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);
  });
});

describe("arguments", () => {
  test("deeply nested arguments are refused at once, naming the argument; nothing is sent", async () => {
    const controller = misbehave([accepted()]);
    try {
      const agent = await mesh.agentWith({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: "a.b.c" });
      const r = await agent.call("send_task", { target: "reviewer", task: { task_type: "x", data: nested(5_000) } });
      expect(r.isError).toBe(true);
      expect(r.text).toStartWith("Not sent: task: nested more than 63 levels deep.");
      expect(r.text).not.toContain("Could not reach");
      const fine = await agent.call("complete_task", { task_id: "t-1", result: nested(62) });
      expect(fine.text).not.toContain("nested more than");
      expect(controller.seen.every((s) => s.path !== "/tasks/route")).toBe(true);
    } finally {
      await controller.stop();
    }
  });
});

describe("errors in the product's words", () => {
  test("CONTROLLER_URL at another web server: says so, quotes no page, and does not blame the id", async () => {
    const other = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => new Response("<!DOCTYPE HTML><html><body>Not Found</body></html>", { status: 404, headers: { "content-type": "text/html" } }),
    });
    try {
      const agent = await mesh.agentWith({ CONTROLLER_URL: other.url.href, MESH_JWT_TOKEN: "a.b.c" });
      const r = await agent.call("fetch_status", { task_id: "t-1" });
      expect(r.isError).toBe(true);
      expect(r.text).toStartWith(`What answers at ${other.url.origin} is not an Agent Mesh controller: GET /tasks/t-1 got HTTP 404 with text/html`);
      expect(r.text).toContain("Likely cause: CONTROLLER_URL points at another web server");
      expect(r.text).not.toContain("DOCTYPE");
      expect(r.text).not.toContain("Check the id");
    } finally {
      other.stop(true);
    }
  });

  test("a refused connection: our words, not the runtime's, and no restart asked for", async () => {
    const agent = await mesh.agentWith({ CONTROLLER_URL: closedPort(), MESH_JWT_TOKEN: "a.b.c", MESH_RETRY_COUNT: "0" });
    const r = await agent.call("fetch_status", { task_id: "t-1" });
    expect(r.text).toMatch(/^Could not reach the controller at http:\/\/127\.0\.0\.1:\d+: the connection was refused\./);
    expect(r.text).toContain("needs no restart");
    expect(r.text).not.toContain("restart this MCP server");
    expect(r.text).not.toContain("Is the computer able");
    expect(r.text).not.toContain("verbose");
  });

  test("a token that is not a JWT is called that, not expired", async () => {
    const agent = await mesh.agentWith({ CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: "not-a-jwt" });
    const r = await agent.call("fetch_status", { task_id: "t-1" });
    expect(r.text).toContain("Likely cause: MESH_JWT_TOKEN is not a JWT");
    expect(r.text).not.toContain("expired");
  });

  test("an expired token is called expired, with when", async () => {
    const agent = await mesh.agentWith({ CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: await mesh.expiredToken("alice") });
    const r = await agent.call("fetch_status", { task_id: "t-1" });
    expect(r.text).toMatch(/Likely cause: MESH_JWT_TOKEN expired at \d{4}-\d\d-\d\dT/);
  });

  test("a number setting that is not a number says so, without NaN", () => {
    const r = Bun.spawnSync([BINARY, "mcp", "--http", "--port", "abc"], { env: { PATH: process.env.PATH ?? "", MESH_JWT_TOKEN: "a.b.c" } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString().trim()).toBe('agent-mesh mcp: --port / MESH_MCP_PORT: must be a whole number (got "abc")');
  });

  test("--help names a setting without a flag once", () => {
    const help = Bun.spawnSync([BINARY, "mcp", "--help"]).stdout.toString();
    const line = help.split("\n").find((l) => l.includes("MESH_RETRY_COUNT"))!;
    expect(line.split("MESH_RETRY_COUNT")).toHaveLength(2);
  });
});

describe("starting", () => {
  test("no credentials at all: the server stops at start with one line, so the host shows it failed", async () => {
    const proc = Bun.spawn([BINARY, "mcp"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: mesh.controller.url },
    });
    expect(await proc.exited).toBe(2);
    const lines = (await new Response(proc.stderr).text()).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("agent-mesh mcp: no credentials: set MESH_JWT_TOKEN");
    expect(lines[0]!.split("MESH_JWT_TOKEN")).toHaveLength(2);
  });

  test("a token set to blanks counts as none, and a malformed one is refused without repeating it", async () => {
    const start = async (token: string) => {
      const proc = Bun.spawn([BINARY, "mcp"], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: token },
      });
      return { code: await proc.exited, said: (await new Response(proc.stderr).text()).trim() };
    };
    const blank = await start("   ");
    expect(blank.code).toBe(2);
    expect(blank.said).toStartWith("agent-mesh mcp: no credentials");
    const secret = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtYWdlbnQifQ.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw";
    const bearer = await start(`Bearer ${secret}`);
    expect(bearer.code).toBe(2);
    expect(bearer.said).toContain('without "Bearer "');
    expect(bearer.said).not.toContain(secret.slice(0, 20));
    expect(bearer.said).not.toContain(secret.slice(-20));
  });

  test("a controller that is merely down at start: the server starts and serves", async () => {
    const agent = await mesh.agentWith({ CONTROLLER_URL: closedPort(), MESH_JWT_TOKEN: "a.b.c", MESH_RETRY_COUNT: "0" });
    expect((await agent.client.listTools()).tools.length).toBeGreaterThan(0);
  });
});

describe("the inbox and the log", () => {
  test("check_inbox says when more tasks wait than its limit let through", async () => {
    const sender = await mesh.agent("erin", ["dev"]);
    for (const n of [1, 2, 3]) await sender.call("send_task", { target: "overflow", task: { task_type: `job-${n}` } });
    const worker = await mesh.agent("finn", ["overflow"]);
    const some = await worker.call("check_inbox", { limit: 2 });
    expect(some.structured.tasks).toHaveLength(2);
    expect(some.structured.more).toBe(true);
    expect(some.text).toStartWith("The oldest 2 pending task(s) for your roles:");
    expect(some.text).toContain("More are waiting: call check_inbox with a larger limit");
    const all = await worker.call("check_inbox", { limit: 3 });
    expect(all.structured.more).toBe(false);
    expect(all.text).not.toContain("More are waiting");
  });

  test("over stdio, a tool call writes nothing to stderr by default", async () => {
    const transport = new StdioClientTransport({
      command: BINARY,
      args: ["mcp"],
      env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: await mesh.controller.token("gus", ["dev"]) },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const client = new Client({ name: "quiet", version: "0" });
    await client.connect(transport);
    const r = await client.callTool({ name: "check_inbox", arguments: {} });
    expect(r.isError).toBeFalsy();
    await client.close();
    expect(stderr).toBe("");
  });
});
