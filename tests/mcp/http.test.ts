/**
 * `agent-mesh mcp --http`: the compiled binary serving Streamable HTTP, used by the
 * official SDK client, and refusing what a DNS-rebinding page or a stranger would send.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, type CallToolResult, type ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { BINARY, startTestController, type TestController } from "../support/controller.ts";
import { holdConnection, rawRequest } from "../support/raw-http.ts";
import { createLogger } from "../../src/lib/log.ts";
import { serveHttp } from "../../src/mcp/http.ts";
import { initialize, startHttpAgent, type HttpAgent } from "./support/http-agent.ts";

let controller: TestController;
beforeAll(async () => (controller = await startTestController()));
afterAll(() => controller.stop());

async function connect(url: string, headers: Record<string, string> = {}, capabilities: ClientCapabilities = {}) {
  const client = new Client({ name: "http-test", version: "0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  await client.listTools();
  return client;
}

describe("serving", () => {
  let agent: HttpAgent;
  beforeAll(
    async () => (agent = await startHttpAgent([], { CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await controller.token("alice", ["dev", "reviewer"]) })),
  );
  afterAll(async () => expect(await agent.stop()).toBe(0));

  test("the SDK client calls tools over Streamable HTTP, with progress while a call waits", async () => {
    expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const client = await connect(agent.url);
    let started!: () => void;
    const waiting = new Promise<void>((resolve) => (started = resolve));
    const inbox = client.callTool({ name: "check_inbox", arguments: { role: "reviewer", wait_seconds: 20 } }, undefined, { onprogress: () => started() });
    await waiting;
    const sent = (await client.callTool({ name: "send_task", arguments: { target: "reviewer", task: { task_type: "review" } } })) as CallToolResult;
    expect(sent.isError).toBeFalsy();
    const found = (await inbox) as CallToolResult;
    expect((found.structuredContent as any).tasks.map((t: any) => t.task_id)).toEqual([(sent.structuredContent as any).task_id]);
    await client.close();
  });

  test("a form reaches the client over Streamable HTTP, and its answer is recorded", async () => {
    const zed = await controller.token("zed", ["dev"]);
    const post = (path: string, body: unknown) => controller.api(zed, "POST", path, body, { "idempotency-key": crypto.randomUUID() });
    const sent = await post("/tasks/route", { target: "reviewer", task: { task_type: "review", description: "Over HTTP" } });
    const asked = await post("/approvals", { task_id: sent.body.task_id, approver_role: "reviewer", reason: "Ready?" });
    expect(asked.status).toBe(202);
    const client = await connect(agent.url, {}, { elicitation: {} });
    const messages: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      messages.push(request.params.message);
      return { action: "accept", content: { decision: "approve", comment: "Looks right" } };
    });
    const r = (await client.callTool({ name: "ask_person_to_decide", arguments: { approval_id: asked.body.approval_id } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(messages[0]).toContain("zed asks role reviewer to approve");
    expect((r.structuredContent as any).approval).toMatchObject({ status: "approved", decided_by: "alice", comments: "Looks right" });
    await client.close();
  });

  test("sessions are separate, and a closed one is gone", async () => {
    const [one, two] = await Promise.all([connect(agent.url), connect(agent.url)]);
    const transport = one.transport as StreamableHTTPClientTransport;
    const id = transport.sessionId!;
    expect(id).not.toBe((two.transport as StreamableHTTPClientTransport).sessionId);
    await transport.terminateSession();
    const gone = await fetch(agent.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": id },
      body: '{"jsonrpc":"2.0","id":2,"method":"ping"}',
    });
    expect(gone.status).toBe(404);
    await two.ping();
    await Promise.all([one.close(), two.close()]);
  });

  test("a Host or Origin that is not this server is refused (DNS rebinding)", async () => {
    const port = new URL(agent.url).port;
    const host = await initialize(agent.url, { host: "evil.example.com" });
    expect(host.status).toBe(403);
    expect((await host.json()).error.message).toContain("Host evil.example.com is not this server");
    expect((await initialize(agent.url, { host: `evil.example.com:${port}` })).status).toBe(403);
    const origin = await initialize(agent.url, { origin: "http://evil.example.com" });
    expect(origin.status).toBe(403);
    expect((await origin.json()).error.message).toContain("MESH_MCP_ALLOWED_HOSTS");
    expect((await initialize(agent.url, { origin: "null" })).status).toBe(403);
    expect((await initialize(agent.url, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(200);
  });

  test("other paths and requests without a session are answered plainly", async () => {
    expect((await fetch(new URL("/", agent.url))).status).toBe(404);
    expect((await fetch(agent.url)).status).toBe(400);
  });

  test("a request without a usable Host header is refused plainly, not with a 500", async () => {
    for (const host of ["", "Host: [not-a-host\r\n"]) {
      const res = await rawRequest(agent.url, `POST /mcp HTTP/1.0\r\n${host}Content-Length: 2\r\n\r\n{}`);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body).error.message).toContain("is not this server");
    }
  });
});

describe("a session cap", () => {
  const ping = (url: string, session: string) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": session },
      body: '{"jsonrpc":"2.0","id":2,"method":"ping"}',
    });
  const sessionOf = async (url: string) => {
    const res = await initialize(url);
    await res.body?.cancel();
    return { status: res.status, id: res.headers.get("mcp-session-id"), body: res };
  };

  test("past MESH_MCP_MAX_SESSIONS with none idle, a new session is refused and says which setting", async () => {
    const agent = await startHttpAgent([], { CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: "a.b.c", MESH_MCP_MAX_SESSIONS: "2" });
    try {
      const held = [await sessionOf(agent.url), await sessionOf(agent.url)];
      expect(held.map((s) => s.status)).toEqual([200, 200]);
      const refused = await initialize(agent.url);
      expect(refused.status).toBe(503);
      expect((await refused.json()).error.message).toContain("MESH_MCP_MAX_SESSIONS");
      for (const s of held) expect((await ping(agent.url, s.id!)).status).toBe(200);
    } finally {
      await agent.stop();
    }
  });

  /** An in-process server holding at most two sessions, any idle one evictable at once. */
  const capped = () =>
    serveHttp({
      host: "127.0.0.1",
      port: 0,
      extraHosts: [],
      maxSessions: 2,
      evictableAfterMs: 0,
      log: createLogger("warn", () => {}),
      newServer: () => new McpServer({ name: "t", version: "0" }),
    });

  test("at the cap the longest-idle session makes way for a new one", async () => {
    const http = await capped();
    try {
      const url = http.url.href;
      const [first, second] = [await sessionOf(url), await sessionOf(url)];
      await (await ping(url, second.id!)).text();
      const third = await sessionOf(url);
      expect(third.status).toBe(200);
      expect((await ping(url, first.id!)).status).toBe(404);
      expect((await ping(url, second.id!)).status).toBe(200);
      expect((await ping(url, third.id!)).status).toBe(200);
    } finally {
      await http.stop();
    }
  });

  test("an initialize sent in chunks past the bound is refused with 413 before the server holds it, and the sessions serve on", async () => {
    const http = await capped();
    try {
      const url = http.url.href;
      const session = await sessionOf(url);
      const chunk = new Uint8Array(1024 * 1024).fill(32);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          // More than four API bodies' worth, never declared up front.
          if (sent++ < 6) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body,
        // @ts-expect-error: needed for a streamed request body, missing from the DOM types
        duplex: "half",
      });
      expect(res.status).toBe(413);
      expect((await ping(url, session.id!)).status).toBe(200);
    } finally {
      await http.stop();
    }
  });

  test("half-sent initialize requests neither push out a session nor hold a place", async () => {
    const http = await capped();
    try {
      const url = http.url.href;
      const [first, second] = [await sessionOf(url), await sessionOf(url)];
      const { host, pathname } = new URL(url);
      const stalled = await Promise.all(
        Array.from({ length: 3 }, () =>
          holdConnection(
            url,
            `POST ${pathname} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 500\r\n\r\n{`,
          ),
        ),
      );
      await Bun.sleep(200);
      expect((await ping(url, first.id!)).status).toBe(200);
      expect((await ping(url, second.id!)).status).toBe(200);
      for (const s of stalled) s.close();
    } finally {
      await http.stop();
    }
  });

  test("a session with an open stream is never the idle one that makes way", async () => {
    const http = await capped();
    try {
      const url = http.url.href;
      const [streaming, quiet] = [await sessionOf(url), await sessionOf(url)];
      const stream = await fetch(url, { headers: { accept: "text/event-stream", "mcp-session-id": streaming.id! } });
      expect(stream.status).toBe(200);
      await Bun.sleep(50);
      expect((await ping(url, quiet.id!)).status).toBe(200);
      // quiet was used last, yet it is the one not busy: it makes way.
      expect((await sessionOf(url)).status).toBe(200);
      expect((await ping(url, streaming.id!)).status).toBe(200);
      expect((await ping(url, quiet.id!)).status).toBe(404);
      await stream.body?.cancel();
    } finally {
      await http.stop();
    }
  });
});

describe("a bearer token", () => {
  test("MESH_MCP_TOKEN must be sent", async () => {
    const secret = "correct-horse-battery-staple";
    const agent = await startHttpAgent([], { CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: "a.b.c", MESH_MCP_TOKEN: secret });
    try {
      const missing = await initialize(agent.url);
      expect(missing.status).toBe(401);
      expect(missing.headers.get("www-authenticate")).toContain("Bearer");
      expect((await initialize(agent.url, { authorization: "Bearer wrong-horse-battery-staple" })).status).toBe(401);
      const client = await connect(agent.url, { authorization: `Bearer ${secret}` });
      expect((await client.listTools()).tools.length).toBe(16);
      await client.close();
    } finally {
      await agent.stop();
    }
  });

  test("listening beyond this machine without one is refused at start", async () => {
    const proc = Bun.spawn([BINARY, "mcp", "--http", "--host", "0.0.0.0", "--port", "0"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "" },
    });
    expect(await proc.exited).toBe(2);
    expect(await new Response(proc.stderr).text()).toContain("set MESH_MCP_TOKEN");
  });
});
