/** The controller's HTTP edge: requests without a usable Host, and how many connections it holds. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";
import { holdConnection, rawRequest, type HeldConnection } from "../support/raw-http.ts";

describe("a request without a usable Host header", () => {
  let c: TestController;
  beforeAll(async () => (c = await startTestController()));
  afterAll(() => c.stop());

  const send = (path: string, hostLine: string, version = "1.1") => rawRequest(c.url, `GET ${path} HTTP/${version}\r\n${hostLine}Connection: close\r\n\r\n`);

  test("health checks answer: an HTTP/1.0 checker sends no Host", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const res = await send(path, "", "1.0");
      expect(res.status).toBe(200);
    }
    expect((await send("/healthz", "")).status).toBe(200);
    expect((await send("/healthz", "Host: [not-a-host\r\n")).status).toBe(200);
  });

  test("other routes are a 400 that says why, logged as a request and not as an error", async () => {
    for (const host of ["", "Host: [not-a-host\r\n", "Host: x:99999\r\n", "Host: a b\r\n"]) {
      const res = await send("/tasks", host, "1.0");
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).detail).toContain("Host header");
    }
    const lines = c
      .logs()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    expect(lines.filter((l) => l.msg === "request" && l.path === "/tasks" && l.status === 400).length).toBe(4);
  });
});

describe("a connection budget (MESH_MAX_CONNECTIONS)", () => {
  const BUDGET = 8;
  const anonymous = (url: string) => holdConnection(url, `GET /tasks HTTP/1.1\r\nHost: ${new URL(url).host}\r\n\r\n`);
  const signedIn = (url: string, token: string) =>
    holdConnection(url, `GET /tasks?limit=1 HTTP/1.1\r\nHost: ${new URL(url).host}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  const held: HeldConnection[] = [];
  afterAll(() => held.forEach((h) => h.close()));

  test("past the budget, idle connections make way: /healthz and a caller with a token still get in", async () => {
    const c = await startTestController({ MESH_MAX_CONNECTIONS: String(BUDGET), MESH_ANONYMOUS_IDLE: "5m" });
    try {
      const crowd = await Promise.all(
        Array.from({ length: BUDGET + 4 }, async (_, i) => {
          const h = i % 2 ? await anonymous(c.url) : await holdConnection(c.url);
          await h.answered;
          return h;
        }),
      );
      held.push(...crowd);
      expect((await fetch(new URL("/healthz", c.url))).status).toBe(200);
      expect((await c.api(await c.token("alice", ["dev"]), "GET", "/tasks")).status).toBe(200);
      // The server closed the longest-idle ones to stay within the budget.
      const mustClose = crowd.length - (BUDGET - 1);
      let closed = 0;
      await Promise.race([new Promise<void>((resolve) => crowd.forEach((h) => h.closed.then(() => ++closed === mustClose && resolve()))), Bun.sleep(5000)]);
      expect(crowd.filter((h) => h.isOpen()).length).toBeLessThanOrEqual(BUDGET - 1);
    } finally {
      await c.stop();
    }
  });

  test("an idle connection that showed no valid credential is closed after MESH_ANONYMOUS_IDLE; one that did is kept", async () => {
    const c = await startTestController({ MESH_MAX_CONNECTIONS: String(BUDGET), MESH_ANONYMOUS_IDLE: "1s" });
    try {
      const stranger = await anonymous(c.url);
      const forged = await signedIn(c.url, "not.a.token");
      const member = await signedIn(c.url, await c.token("alice", ["dev"]));
      held.push(stranger, forged, member);
      expect(await member.answered).toStartWith("HTTP/1.1 200");
      expect(await forged.answered).toStartWith("HTTP/1.1 401");
      await Promise.all([stranger.closed, forged.closed]);
      expect(member.isOpen()).toBe(true);
    } finally {
      await c.stop();
    }
  });

  test("anonymous uploads that never finish cannot hold the budget: health checks and a caller with a token get in, and each upload is cut after MESH_ANONYMOUS_IDLE", async () => {
    const c = await startTestController({ MESH_MAX_CONNECTIONS: String(BUDGET), MESH_ANONYMOUS_IDLE: "2s" });
    try {
      // Anyone may post a sign-in form; these promise a small form and send one byte of it.
      const upload = `POST /login/link HTTP/1.1\r\nHost: ${new URL(c.url).host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9000\r\n\r\nt`;
      const uploads = await Promise.all(Array.from({ length: BUDGET + 2 }, () => holdConnection(c.url, upload)));
      held.push(...uploads);
      await Bun.sleep(200);
      expect((await fetch(new URL("/healthz", c.url))).status).toBe(200);
      expect((await c.api(await c.token("alice", ["dev"]), "GET", "/tasks")).status).toBe(200);
      await Promise.race([Promise.all(uploads.map((u) => u.closed)), Bun.sleep(10_000)]);
      expect(uploads.filter((u) => u.isOpen()).length).toBe(0);
    } finally {
      await c.stop();
    }
  });

  test("when every connection is in a request, a new one gets 503 with Retry-After", async () => {
    const c = await startTestController({ MESH_MAX_CONNECTIONS: String(BUDGET) });
    try {
      const token = await c.token("alice", ["dev"]);
      const polls = Array.from({ length: BUDGET }, () =>
        holdConnection(c.url, `GET /tasks?for=me&wait=20 HTTP/1.1\r\nHost: ${new URL(c.url).host}\r\nAuthorization: Bearer ${token}\r\n\r\n`),
      );
      held.push(...(await Promise.all(polls)));
      await Bun.sleep(200); // the long-polls reach the controller
      const refused = await rawRequest(c.url, "GET /healthz HTTP/1.0\r\n\r\n");
      expect(refused.status).toBe(503);
      expect(refused.head).toContain("Retry-After: 1");
    } finally {
      await c.stop();
    }
  });
});
