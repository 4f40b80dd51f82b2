/** The edges of the HTTP API: malformed input, limits, problems, operations endpoints. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";

let c: TestController;
let alice: string;
let admin: string;
beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["worker"]);
  admin = await c.token("root", ["admin"]);
});
afterAll(() => c.stop());

const route = (body: unknown, key: string) => c.api(alice, "POST", "/tasks/route", body, { "idempotency-key": key });
const stored = async () => (await c.api(admin, "GET", "/audit?limit=200")).body.items.length as number;

describe("bad bodies: a 4xx problem, nothing stored", () => {
  test("malformed JSON → 400", async () => {
    const before = await stored();
    const res = await route('{"target": "worker", ', "bad-json");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body.detail).toContain("not valid JSON");
    expect(await stored()).toBe(before);
  });

  test("wrong types → 422 naming each field", async () => {
    const res = await route({ target: 42, task: { task_type: ["x"] }, priority: "urgent" }, "types");
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: any) => e.field).sort()).toEqual(["priority", "target", "task.task_type"]);
  });

  test("a missing field → 422 naming it", async () => {
    const res = await route({ target: "worker" }, "missing");
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("task");
  });

  test("an unknown top-level field → 422 naming it", async () => {
    const res = await route({ target: "worker", task: { task_type: "x" }, colour: "red" }, "unknown");
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("colour");
  });

  test("a body over 1 MiB → 413, with or without a content-length", async () => {
    const big = { target: "worker", task: { task_type: "x", data: { blob: "x".repeat(1024 * 1024) } } };
    expect((await route(big, "big")).status).toBe(413);
    const chunked = await fetch(new URL("/tasks/route", c.url), {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "idempotency-key": "big-stream" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(32));
          controller.close();
        },
      }),
    });
    expect(chunked.status).toBe(413);
  });

  test("prototype-pollution keys → 400", async () => {
    const res = await route('{"target":"worker","task":{"task_type":"x","data":{"__proto__":{"admin":true}}}}', "proto");
    expect(res.status).toBe(400);
    expect(({} as any).admin).toBeUndefined();
  });

  test("nesting deeper than 64 levels → 400 that says so; 64 is fine", async () => {
    const nested = (depth: number) => `{"target":"worker","task":{"task_type":"x","data":{"a":${"[".repeat(depth)}${"]".repeat(depth)}}}}`;
    const deep = await route(nested(100_000), "deep");
    expect(deep.status).toBe(400);
    expect(deep.body.detail).toContain("nested deeper than 64");
    expect((await route(nested(61), "shallow")).status).toBe(202);
  });

  test("U+0000 in a key or a value → 422 on every engine (PostgreSQL cannot store it)", async () => {
    for (const body of [
      '{"target":"worker","task":{"task_type":"x","description":"a\\u0000b"}}',
      '{"target":"worker","task":{"task_type":"x","data":{"k\\u0000":1}}}',
    ]) {
      const res = await route(body, `nul-${body.length}`);
      expect(res.status).toBe(422);
      expect(res.body.detail).toContain("U+0000");
    }
  });

  test("ordinary keys such as constructor are data like any other", async () => {
    const res = await route({ target: "worker", task: { task_type: "x", data: { constructor: "Bob", prototype: 1 } } }, "ctor");
    expect(res.status).toBe(202);
  });

  test("invalid UTF-8 → 400", async () => {
    const res = await fetch(new URL("/tasks/route", c.url), {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "idempotency-key": "utf8" },
      body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    expect(res.status).toBe(400);
  });

  test("an over-long string → 422", async () => {
    const res = await route({ target: "worker", task: { task_type: "x", description: "d".repeat(20_000) } }, "long");
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("task.description");
  });
});

describe("routes", () => {
  test("an unknown route is a 404 problem", async () => {
    const res = await c.api(alice, "GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.body.type).toBe("urn:agent-mesh:problem:no-route");
  });

  test("a known route with the wrong method is a 405 problem with Allow", async () => {
    const res = await c.api(alice, "DELETE", "/approvals");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST, GET");
    expect(res.body.type).toBe("urn:agent-mesh:problem:method-not-allowed");
  });

  test("an unknown query parameter is a 422 naming it", async () => {
    const res = await c.api(alice, "GET", "/tasks?colour=red");
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe("colour");
  });

  test("a query number that is not a number is a 422 in words, naming it, on every list", async () => {
    for (const [path, field, words] of [
      ["/tasks?limit=abc", "limit", "must be a whole number"],
      ["/tasks?wait=soon", "wait", "must be a number of seconds"],
      ["/approvals?limit=x", "limit", "must be a whole number"],
      ["/events?since=abc", "since", "must be a whole number"],
    ]) {
      const res = await c.api(alice, "GET", path!);
      expect({ path, status: res.status, field: res.body.errors?.[0]?.field, message: res.body.errors?.[0]?.message }).toEqual({
        path,
        status: 422,
        field,
        message: words,
      });
      expect(res.body.detail).not.toContain("NaN");
    }
  });

  test("a malformed escape in the path is a 400", async () => {
    expect((await c.api(alice, "GET", "/tasks/%E0%A4%A")).status).toBe(400);
  });
});

describe("operations", () => {
  test("/healthz, /readyz and /status answer without a token", async () => {
    expect((await c.api(null, "GET", "/healthz")).body).toEqual({ status: "ok" });
    expect((await c.api(null, "GET", "/readyz")).body).toMatchObject({ status: "ready", database: "sqlite" });
    expect((await c.api(null, "GET", "/status")).body).toMatchObject({ status: "ok", version: expect.any(String), database: "sqlite", auth: "dev" });
  });

  test("/.well-known/jwks.json serves the dev public key, never the private part", async () => {
    const res = await c.api(null, "GET", "/.well-known/jwks.json");
    expect(res.body.keys).toHaveLength(1);
    expect(res.body.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
    expect(res.body.keys[0].d).toBeUndefined();
  });

  test("/metrics counts requests by route pattern and status, in Prometheus format", async () => {
    await c.api(alice, "GET", "/tasks/some-id");
    const res = await fetch(new URL("/metrics", c.url));
    const text = await res.text();
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(text).toMatch(/mesh_http_requests_total\{method="GET",route="\/tasks\/:id",status="404"\} \d+/);
    expect(text).toContain("mesh_http_request_duration_seconds_bucket");
    expect(text).toMatch(/mesh_long_polls_open \d+/);
    expect(text).toMatch(/mesh_idempotent_replays_total \d+/);
    expect(text).toMatch(/mesh_tasks\{status="pending"\} [1-9]/);
    expect(text).toContain('mesh_tasks{status="cancelled"} 0');
    expect(text).not.toContain("some-id");
  });

  test("every request is logged as one JSON line with its trace id", async () => {
    const res = await c.api(alice, "GET", "/tasks", undefined, { "x-trace-id": "log-me-1" });
    const line = c
      .logs()
      .split("\n")
      .find((l) => l.includes('"trace_id":"log-me-1"'));
    expect(res.status).toBe(200);
    expect(JSON.parse(line!)).toMatchObject({ level: "info", msg: "request", method: "GET", path: "/tasks", status: 200, sub: "alice" });
  });
});

describe("/openapi.json", () => {
  test("documents every route with the schemas the routes validate with", async () => {
    const res = await c.api(null, "GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    expect(Object.keys(res.body.paths).sort()).toEqual([
      "/admin/erasures",
      "/approvals",
      "/approvals/{id}",
      "/approvals/{id}/decision",
      "/audit",
      "/events",
      "/me",
      "/roles",
      "/roles/presence",
      "/tasks",
      "/tasks/route",
      "/tasks/{id}",
      "/tasks/{id}/approvals",
      "/tasks/{id}/ask",
      "/tasks/{id}/cancel",
      "/tasks/{id}/claim",
      "/tasks/{id}/complete",
      "/tasks/{id}/fail",
      "/tasks/{id}/heartbeat",
      "/tasks/{id}/history",
      "/tasks/{id}/notes",
      "/tasks/{id}/reply",
      "/tasks/{id}/retry",
    ]);
    const route = res.body.paths["/tasks/route"].post;
    expect(route.requestBody.content["application/json"].schema.required).toEqual(["target", "task"]);
    expect(route.parameters).toContainEqual(expect.objectContaining({ name: "Idempotency-Key", required: true }));
    expect(route.responses["202"].content["application/json"].schema.properties.task_id).toBeDefined();
    expect(res.body.paths["/tasks"].get.parameters.map((p: any) => p.name)).toContain("wait");
    expect(Object.keys(res.body.paths["/events"].get.responses["200"].content)).toEqual(["text/event-stream"]);
  });
});
