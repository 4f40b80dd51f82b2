/**
 * The controller client's retry rules, against real HTTP servers that misbehave on
 * purpose, and against a real controller for the answers it really gives.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ControllerClient, retryAfterMs, type ControllerClientOptions } from "../../src/client/controller-client.ts";
import { createLogger } from "../../src/lib/log.ts";
import { staticToken, type TokenSource } from "../../src/client/token-source.ts";
import { explainFailure } from "../../src/client/explain.ts";
import { startTestController, type TestController } from "../support/controller.ts";
import { accepted, closedPort, dropping, misbehave, problem } from "./support/misbehaving.ts";

const ROUTE = { target: "reviewer", task: { task_type: "review" } };

function clientFor(baseUrl: string, o: Partial<ControllerClientOptions> = {}) {
  const warnings: Record<string, unknown>[] = [];
  const log = createLogger("warn", (line) => void warnings.push(JSON.parse(line)));
  const client = new ControllerClient({ baseUrl, tokens: staticToken("t0k3n"), retries: 3, timeoutMs: 2_000, baseDelayMs: 5, maxDelayMs: 20, log, ...o });
  return { client, warnings };
}

describe("retries", () => {
  test("503, 503, then 202: three attempts with one Idempotency-Key and one trace id", async () => {
    const server = misbehave([problem(503, "unavailable", "busy"), problem(503, "unavailable", "busy"), accepted()]);
    const { client } = clientFor(server.url);
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.attempts).toBe(3);
    expect(server.seen).toHaveLength(3);
    const keys = new Set(server.seen.map((s) => s.headers.get("idempotency-key")));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
    const traces = new Set(server.seen.map((s) => s.headers.get("x-trace-id")));
    expect([...traces]).toEqual([r.traceId]);
    // traceparent joins the same trace, a new span each attempt
    for (const s of server.seen) expect(s.headers.get("traceparent")).toMatch(new RegExp(`^00-${r.traceId}-[0-9a-f]{16}-01$`));
    expect(server.seen[0]!.headers.get("authorization")).toBe("Bearer t0k3n");
  });

  test("422 is answered once: one attempt, the failure names the field", async () => {
    const body = {
      type: "urn:agent-mesh:problem:invalid",
      title: "Invalid request",
      status: 422,
      detail: "body: target: bad",
      trace_id: "x",
      errors: [{ field: "target", message: "bad" }],
    };
    const server = misbehave([new Response(JSON.stringify(body), { status: 422, headers: { "content-type": "application/problem+json" } }), accepted()]);
    const { client } = clientFor(server.url);
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(server.seen).toHaveLength(1);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toMatchObject({ kind: "invalid", status: 422, attempts: 1, gaveUp: false, fields: [{ field: "target", message: "bad" }] });
    expect(explainFailure(r.failure, "MESH_JWT_TOKEN")).toContain("target: bad");
  });

  test.each([
    [400, "bad_request"],
    [403, "forbidden"],
    [404, "not_found"],
    [409, "conflict"],
  ] as const)("%d is never retried", async (status, kind) => {
    const server = misbehave([problem(status, kind.replace("_", "-"), "no"), accepted()]);
    const { client } = clientFor(server.url);
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(server.seen).toHaveLength(1);
    expect(r.ok ? null : r.failure.kind).toBe(kind);
  });

  test("408, 429 and 5xx without a problem body are retried", async () => {
    const server = misbehave([
      new Response("slow", { status: 408 }),
      new Response("busy", { status: 429 }),
      new Response("<html>bad gateway</html>", { status: 502 }),
      accepted(),
    ]);
    const { client } = clientFor(server.url);
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(r.ok && r.attempts).toBe(4);
  });

  test("gives up after 1 + MESH_RETRY_COUNT attempts and says so, with the idempotency key", async () => {
    const server = misbehave([problem(503, "unavailable", "database down")]);
    const { client } = clientFor(server.url, { retries: 2 });
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(server.seen).toHaveLength(3);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toMatchObject({ kind: "unavailable", attempts: 3, gaveUp: true });
    const text = explainFailure(r.failure, "MESH_JWT_TOKEN");
    expect(text).toContain("Gave up after 3 attempts.");
    expect(text).toContain(`Idempotency key: ${server.seen[0]!.headers.get("idempotency-key")}`);
    expect(text).toContain(`Trace id: ${server.seen[0]!.headers.get("x-trace-id")}`);
  });

  test("backoff is exponential, capped and jittered", async () => {
    const server = misbehave([problem(500, "internal", "boom")]);
    const full = clientFor(server.url, { baseDelayMs: 10, maxDelayMs: 25, random: () => 1 });
    await full.client.call("routeTask", { body: ROUTE });
    expect(full.warnings.map((w) => w.delay_ms)).toEqual([10, 20, 25]);
    const half = clientFor(server.url, { baseDelayMs: 10, maxDelayMs: 25, random: () => 0.5 });
    await half.client.call("routeTask", { body: ROUTE });
    expect(half.warnings.map((w) => w.delay_ms)).toEqual([5, 10, 13]);
    await server.stop();
  });

  test("GETs carry no Idempotency-Key; POSTs always do", async () => {
    const server = misbehave([Response.json({ items: [], next_cursor: null })]);
    const { client } = clientFor(server.url);
    await client.call("listTasks", { query: { target: "reviewer", status: "pending" } });
    await server.stop();
    expect(server.seen[0]!.headers.get("idempotency-key")).toBeNull();
    expect(server.seen[0]!.path).toBe("/tasks?target=reviewer&status=pending");
  });
});

describe("the network", () => {
  test("dropped connections are retried until one answers", async () => {
    const server = dropping(2);
    const { client } = clientFor(server.url);
    const r = await client.call("routeTask", { body: ROUTE });
    server.stop();
    expect(server.connections()).toBe(3);
    expect(r.ok && r.attempts).toBe(3);
  });

  test("a controller that is not running: gives up and says how to start one", async () => {
    const url = closedPort();
    const { client } = clientFor(url, { retries: 1 });
    const r = await client.call("getTask", { params: { id: "t-1" } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toMatchObject({ kind: "unreachable", attempts: 2, gaveUp: true });
    const text = explainFailure(r.failure, "MESH_JWT_TOKEN");
    expect(text).toContain("Could not reach the controller");
    expect(text).toContain("agent-mesh controller");
  });

  test("a reply slower than the timeout is abandoned and tried again", async () => {
    const server = misbehave(["hang", accepted()]);
    const { client } = clientFor(server.url, { timeoutMs: 200 });
    const r = await client.call("routeTask", { body: ROUTE });
    expect(r.ok && r.attempts).toBe(2);
    await server.seen[0]!.aborted; // the slow request was really given up, not left open
    await server.stop();
  });

  test("only timeouts: gives up as a timeout", async () => {
    const server = misbehave(["hang"]);
    const { client } = clientFor(server.url, { timeoutMs: 100, retries: 1 });
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(r.ok ? null : r.failure).toMatchObject({ kind: "timeout", attempts: 2, gaveUp: true });
  });

  test("an attempt cut short by the call's time budget says the budget ran out", async () => {
    const server = misbehave(["hang"]);
    const { client } = clientFor(server.url, { timeoutMs: 5_000, budgetMs: 1_500, retries: 0 });
    const r = await client.call("getTask", { params: { id: "t-1" } });
    await server.stop();
    expect(r.ok ? null : r.failure).toMatchObject({ kind: "timeout", detail: "No answer within 1.5 s.", gaveUp: true, budgetSeconds: 1.5 });
    if (!r.ok) expect(explainFailure(r.failure, "MESH_JWT_TOKEN")).toContain("Gave up after 1 attempt, when this call's 1.5 s time budget ran out.");
  });

  test("a long-poll's wait comes on top of the time budget, and the message says so", async () => {
    const server = misbehave(["hang", "hang", "hang"]);
    const { client } = clientFor(server.url, { timeoutMs: 5_000, budgetMs: 1_000, retries: 3 });
    const r = await client.call("getTask", { params: { id: "t-1" }, query: { wait: 1 } });
    await server.stop();
    expect(r.ok ? null : r.failure).toMatchObject({ gaveUp: true, budgetSeconds: 1, waitSeconds: 1 });
    if (!r.ok) expect(explainFailure(r.failure, "MESH_JWT_TOKEN")).toContain("when this call's 1 s time budget (on top of the 1 s it asked to wait) ran out.");
  });

  test("a long-poll's wait is added to the per-attempt timeout", async () => {
    const server = misbehave([{ afterMs: 400, response: Response.json({ items: [], next_cursor: null }) }]);
    const { client } = clientFor(server.url, { timeoutMs: 200, retries: 0 });
    const r = await client.call("listTasks", { query: { target: "reviewer", wait: 1 } });
    await server.stop();
    expect(r.ok).toBe(true);
  });

  test("Retry-After is honoured instead of the backoff", async () => {
    const server = misbehave([problem(429, "rate-limited", "slow down", { "retry-after": "1" }), accepted()]);
    const { client } = clientFor(server.url, { baseDelayMs: 1, maxDelayMs: 1 });
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(r.ok && r.attempts).toBe(2);
    expect(server.seen[1]!.at - server.seen[0]!.at).toBeGreaterThanOrEqual(990);
  });

  test("a Retry-After longer than the client will wait ends the call and says how long", async () => {
    const server = misbehave([problem(429, "rate-limited", "slow down", { "retry-after": "120" }), accepted()]);
    const { client } = clientFor(server.url);
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(server.seen).toHaveLength(1);
    expect(r.ok ? null : r.failure).toMatchObject({ kind: "rate_limited", retryAfterSeconds: 120 });
    if (!r.ok) expect(explainFailure(r.failure, "MESH_JWT_TOKEN")).toContain("Wait 120 s");
  });

  test("Retry-After as an HTTP date", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(retryAfterMs("Wed, 01 Jan 2025 00:00:03 GMT", now)).toBe(3000);
    expect(retryAfterMs("7", now)).toBe(7000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
  });

  test("cancelling stops a backoff wait at once", async () => {
    const server = misbehave([problem(503, "unavailable", "busy")]);
    const { client } = clientFor(server.url, { baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 1 });
    const cancel = new AbortController();
    const pending = client.call("routeTask", { body: ROUTE }, { signal: cancel.signal });
    await server.received(1);
    cancel.abort();
    const r = await pending;
    await server.stop();
    expect(r.ok ? null : r.failure.kind).toBe("cancelled");
    expect(server.seen).toHaveLength(1);
  });
});

describe("tokens", () => {
  test("a 401 renews a renewable token once, outside the retry budget", async () => {
    const server = misbehave([problem(401, "unauthenticated", "expired"), accepted()]);
    let issued = 0;
    const tokens: TokenSource = { origin: "test", token: async () => `token-${++issued}`, renew: () => true };
    const { client } = clientFor(server.url, { tokens, retries: 0 });
    const r = await client.call("routeTask", { body: ROUTE });
    await server.stop();
    expect(r.ok && r.attempts).toBe(2);
    expect(server.seen.map((s) => s.headers.get("authorization"))).toEqual(["Bearer token-1", "Bearer token-2"]);
  });

  test("a 401 after renewing, or with a fixed token, ends the call", async () => {
    const server = misbehave([problem(401, "unauthenticated", "The token has expired; get a new one.")]);
    const renewable: TokenSource = { origin: "test", token: async () => "t", renew: () => true };
    const once = await clientFor(server.url, { tokens: renewable }).client.call("routeTask", { body: ROUTE });
    expect(server.seen).toHaveLength(2);
    const fixed = await clientFor(server.url).client.call("routeTask", { body: ROUTE });
    expect(server.seen).toHaveLength(3);
    await server.stop();
    expect(once.ok ? null : once.failure.kind).toBe("unauthenticated");
    if (fixed.ok) throw new Error("expected a failure");
    const text = explainFailure(fixed.failure, "MESH_JWT_TOKEN");
    expect(text).toContain("The token has expired");
    expect(text).toContain("agent-mesh token --sub");
  });
});

describe("against a real controller", () => {
  let controller: TestController;
  beforeAll(async () => (controller = await startTestController()));
  afterAll(() => controller.stop());

  test("a validation failure names the field", async () => {
    const { client } = clientFor(controller.url, { tokens: staticToken(await controller.token("alice", ["dev"])) });
    const r = await client.call("routeTask", { body: { target: "not a role!", task: { task_type: "review" } } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toMatchObject({ kind: "invalid", status: 422, attempts: 1 });
    expect(r.failure.fields?.[0]?.field).toBe("target");
    expect(explainFailure(r.failure, "MESH_JWT_TOKEN")).toMatch(/target: role may hold/);
  });

  test("the controller reports the call's own trace id", async () => {
    const { client } = clientFor(controller.url, { tokens: staticToken(await controller.token("alice", ["dev"])) });
    const first = await client.call("routeTask", { body: ROUTE });
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(first.value.trace_id).toBe(first.traceId);
  });
});

describe("what cannot be sent, and what is not a controller", () => {
  test("a body JSON cannot hold is refused once, not retried as a network fault", async () => {
    const server = misbehave([accepted()]);
    const { client } = clientFor(server.url);
    let data: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) data = { inner: data };
    const r = await client.call("routeTask", { body: { target: "reviewer", task: { task_type: "deep", data } } });
    await server.stop();
    expect(server.seen).toHaveLength(0);
    expect(r.ok ? null : r.failure).toMatchObject({ kind: "unsendable", gaveUp: false });
  });

  test("a 200 that is not JSON comes from something other than a controller", async () => {
    const server = misbehave([new Response("<html>welcome</html>", { headers: { "content-type": "text/html" } })]);
    const { client } = clientFor(server.url);
    const r = await client.call("getTask", { params: { id: "t-1" } });
    await server.stop();
    expect(r.ok ? null : r.failure).toMatchObject({ kind: "not_controller", detail: "HTTP 200 with text/html that is not the Agent Mesh API" });
  });

  test("an identity provider that cannot be reached is described in our words", async () => {
    const tokens = (await import("../../src/client/token-source.ts")).clientCredentials({
      endpoint: { tokenUrl: `${closedPort()}token` },
      clientId: "a",
      clientSecret: "b",
    });
    const error = await tokens.token().catch((e: Error) => e);
    expect((error as Error).message).toEndWith("could not be reached: the connection was refused.");
  });
});
