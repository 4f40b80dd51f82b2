/** The controller's HTTP edge: requests without a usable Host, and how many connections it holds. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";
import { rawRequest } from "../support/raw-http.ts";

describe("a request without a usable Host header", () => {
  let c: TestController;
  beforeAll(async () => (c = await startTestController()));
  afterAll(() => c.stop());

  const send = (path: string, hostLine: string, version = "1.1") =>
    rawRequest(c.url, `GET ${path} HTTP/${version}\r\n${hostLine}Connection: close\r\n\r\n`);

  test("health checks answer: an HTTP/1.0 checker sends no Host", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const res = await send(path, "", "1.0");
      expect(res.status).toBe(200);
    }
    expect((await send("/healthz", "Host: [not-a-host\r\n")).status).toBe(200);
  });

  test("other routes are a 400 that says why, logged as a request and not as an error", async () => {
    for (const host of ["", "Host: [not-a-host\r\n", "Host: x:99999\r\n", "Host: a b\r\n"]) {
      const res = await send("/tasks", host, "1.0");
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).detail).toContain("Host header");
    }
    const lines = c.logs().trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    expect(lines.filter((l) => l.msg === "request" && l.path === "/tasks" && l.status === 400).length).toBe(4);
  });
});
