/**
 * Limits that hold under abuse, where tests/controller does not already show them:
 * - long-polls per caller (MESH_MAX_WAITS_PER_CALLER) with many more asked for at once,
 *   across the kinds of wait, per caller, given back when a client hangs up, and through
 *   an MCP server that stays responsive while its waits are held;
 * - page size while walking far more tasks than one page;
 * - string lengths at and just past each limit through the MCP tools, and ids far too long.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { apiClient, tempDir, tokenFor, type TestController } from "../support/controller.ts";
import { until } from "../postgres/cluster.ts";
import { LIMITS } from "../../src/contract/schemas.ts";
import { metric } from "./support/ledger.ts";
import { startControllerProcess, startMcpAgent, type ControllerProcess, type McpAgent } from "./support/processes.ts";

const MAX_WAITS = 8;

let dataDir: string;
let controller: ControllerProcess;
let api: TestController["api"];
let admin: string;
const agents: McpAgent[] = [];

beforeAll(async () => {
  dataDir = tempDir("mesh-limits-");
  controller = await startControllerProcess({ dataDir, env: { MESH_MAX_WAITS_PER_CALLER: String(MAX_WAITS) } });
  api = apiClient(controller.url);
  admin = await tokenFor(dataDir, "limits-auditor", ["admin"]);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await controller?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const openWaits = () => metric(controller.url, "mesh_long_polls_open");
let keys = 0;
const route = (token: string, target: string, extra: Record<string, unknown> = {}) =>
  api(token, "POST", "/tasks/route", { target, task: { task_type: "limit_probe", ...extra } }, { "idempotency-key": `limits-${keys++}` });

/** A request that can be hung up on: resolves with its status, or "aborted". */
function hold(token: string, path: string) {
  const hangUp = new AbortController();
  // An event stream answers 200 at once and then stays open: its body is not read, but its
  // response is kept until the hang-up, or the runtime may collect it and close the stream early.
  let open: Response | undefined;
  const answer: Promise<{ status: number | "aborted"; retryAfter: string | null; body: string }> = fetch(new URL(path, controller.url), {
    headers: { authorization: `Bearer ${token}` },
    signal: hangUp.signal,
  })
    .then(async (r) => {
      open = r;
      return { status: r.status, retryAfter: r.headers.get("retry-after"), body: r.status === 200 ? "" : await r.text() };
    })
    .catch(() => ({ status: "aborted" as const, retryAfter: null, body: "" }));
  return {
    answer,
    hangUp: () => {
      hangUp.abort();
      void open?.body?.cancel().catch(() => {});
    },
  };
}

describe("long-polls per caller", () => {
  test(`60 at once from one caller across every kind of wait: ${MAX_WAITS} held, the rest 429 at once; another caller has its own budget`, async () => {
    const mallory = await tokenFor(dataDir, "mallory", ["quiet"]);
    const task = (await route(mallory, "quiet")).body.task_id as string;
    // The longest wait the API allows, so none of these ends by itself on a slow, busy machine before the test hangs up.
    const paths = [`/tasks?target=quiet&status=completed&wait=60`, `/tasks/${task}?wait=60`, `/approvals?approver_role=quiet&wait=60`, `/events`];
    const started = performance.now();
    const polls = Array.from({ length: 60 }, (_, i) => hold(mallory, paths[i % paths.length]!));
    const refused: Awaited<(typeof polls)[number]["answer"]>[] = [];
    // The refusals come back at once; the held ones do not come back until hung up on.
    for (const p of polls) void p.answer.then((a) => a.status !== "aborted" && a.status !== 200 && refused.push(a));
    await until(async () => refused.length === 60 - MAX_WAITS, `${60 - MAX_WAITS} polls were refused`);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(new Set(refused.map((r) => r.status))).toEqual(new Set([429]));
    expect(refused.every((r) => r.retryAfter === "1" && r.body.includes("long-polls or event streams open"))).toBe(true);
    expect(await openWaits()).toBe(MAX_WAITS);

    // Someone else is not held up by mallory.
    const alice = await tokenFor(dataDir, "alice", ["quiet"]);
    const hers = Array.from({ length: MAX_WAITS }, () => hold(alice, "/tasks?target=quiet&status=failed&wait=60"));
    await until(async () => (await openWaits()) === 2 * MAX_WAITS, "alice's polls are held too");
    expect((await api(alice, "GET", "/tasks?target=quiet&status=failed&wait=1")).status).toBe(429);

    // Hanging up gives the slots back at once, not when the waits would have ended.
    const hungUpAt = performance.now();
    for (const p of [...polls, ...hers]) p.hangUp();
    await until(async () => (await openWaits()) === 0, "every slot is given back");
    expect(performance.now() - hungUpAt).toBeLessThan(5_000);
    const again = Array.from({ length: MAX_WAITS }, () => hold(mallory, "/tasks?target=quiet&status=completed&wait=60"));
    await until(async () => (await openWaits()) === MAX_WAITS, "a full budget of new polls is held");
    for (const p of again) p.hangUp();
    await until(async () => (await openWaits()) === 0, "every slot is given back again");
  });

  test("through one MCP server: extra waits fail clearly and at once, the server keeps serving, held waits answer when work arrives", async () => {
    const token = await tokenFor(dataDir, "busy-agent", ["inbox"]);
    const agent = await startMcpAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: token, MESH_RETRY_COUNT: "0" });
    agents.push(agent);
    const calls = Array.from({ length: 30 }, () => agent.call("check_inbox", { role: "inbox", wait_seconds: 30 }));
    const finished: Awaited<(typeof calls)[number]>[] = [];
    for (const c of calls) void c.then((r) => finished.push(r));
    await until(async () => finished.length === 30 - MAX_WAITS, "the calls over budget are answered");
    for (const r of finished) {
      expect("thrown" in r).toBe(false);
      if ("thrown" in r) continue;
      expect(r.isError).toBe(true);
      expect(r.text).toStartWith("Too many requests: You already have");
      expect(r.text).toContain("(HTTP 429)");
    }
    expect(await openWaits()).toBe(MAX_WAITS);
    // The server still answers other calls while its waits are held.
    await agent.client.ping();
    const sender = await tokenFor(dataDir, "limits-sender", []);
    const sent = await route(sender, "inbox");
    expect(sent.status).toBe(202);
    const answered = await Promise.all(calls);
    const waited = answered.filter((r) => !("thrown" in r) && !r.isError);
    expect(waited).toHaveLength(MAX_WAITS);
    for (const r of waited) expect(JSON.stringify((r as { structuredContent: unknown }).structuredContent)).toContain(sent.body.task_id);
    await until(async () => (await openWaits()) === 0, "the waits are over");
  });
});

describe("page size", () => {
  test(`walking ${LIMITS.pageSize * 2 + 50} tasks: no page is larger than ${LIMITS.pageSize}, every task is seen once, anything larger is a 422`, async () => {
    const sender = await tokenFor(dataDir, "pager", []);
    const total = LIMITS.pageSize * 2 + 50;
    for (let i = 0; i < total; i += 50) await Promise.all(Array.from({ length: Math.min(50, total - i) }, () => route(sender, "paged")));
    for (const limit of [LIMITS.pageSize + 1, 1_000_000, 0, -1, 1.5, "1e3", "Infinity", "NaN"]) {
      const res = await api(admin, "GET", `/tasks?target=paged&limit=${limit}`);
      expect({ limit, status: res.status, field: res.body.errors?.[0]?.field }).toEqual({ limit, status: 422, field: "limit" });
    }
    for (const order of ["asc", "desc"]) {
      const seen = new Set<string>();
      let cursor = "";
      let pages = 0;
      for (;;) {
        const res = await api(admin, "GET", `/tasks?target=paged&order=${order}&limit=${LIMITS.pageSize}${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(LIMITS.pageSize);
        pages++;
        for (const t of res.body.items) {
          expect(seen.has(t.task_id)).toBe(false);
          seen.add(t.task_id);
        }
        if (res.body.items.length < LIMITS.pageSize || !res.body.next_cursor) break;
        cursor = res.body.next_cursor;
      }
      expect({ order, seen: seen.size, pages }).toEqual({ order, seen: total, pages: 3 });
    }
    // And through MCP: the tool's limit is bounded the same way.
    const agent = await startMcpAgent({
      CONTROLLER_URL: controller.url,
      MESH_JWT_TOKEN: await tokenFor(dataDir, "pager-agent", ["paged"]),
      MESH_RETRY_COUNT: "0",
    });
    agents.push(agent);
    const tooMany = await agent.call("check_inbox", { role: "paged", limit: LIMITS.pageSize + 1 });
    expect("thrown" in tooMany || tooMany.isError).toBe(true);
    const most = await agent.call("check_inbox", { role: "paged", limit: LIMITS.pageSize });
    expect("thrown" in most).toBe(false);
    if (!("thrown" in most)) expect((most.structuredContent as { tasks: unknown[] }).tasks).toHaveLength(LIMITS.pageSize);
  });
});

describe("page bytes", () => {
  /**
   * A page is bounded by its size as well as its count: 200 tasks of 1 MiB read back as
   * one answer took a controller from 128 MiB to 3.1 GiB with eight such reads at once.
   * Now a page ends once it reaches LIMITS.pageBytes, with a cursor to the rest.
   */
  test("a page of tasks is bounded in bytes, not only in count, and the cursor walks the rest", async () => {
    const mallory = await tokenFor(dataDir, "page-bytes", []);
    const blob = "x".repeat(1_000_000);
    for (let i = 0; i < 12; i++) expect((await route(mallory, "bytes", { data: { blob } })).status).toBe(202);
    const res = await fetch(`${controller.url}/tasks?source=page-bytes&limit=${LIMITS.pageSize}`, { headers: { authorization: `Bearer ${mallory}` } });
    const text = await res.text();
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(LIMITS.pageBytes + LIMITS.bodyBytes);
    let page = JSON.parse(text);
    let seen = page.items.length;
    expect(seen).toBeLessThan(12);
    while (page.items.length && page.next_cursor) {
      const next = await fetch(`${controller.url}/tasks?source=page-bytes&limit=${LIMITS.pageSize}&cursor=${page.next_cursor}`, {
        headers: { authorization: `Bearer ${mallory}` },
      });
      page = await next.json();
      seen += page.items.length;
    }
    expect(seen).toBe(12);
  });
});

describe("string lengths", () => {
  test("through the MCP tools: at the limit it is taken, one past it is refused naming the field, and nothing is stored", async () => {
    const subject = "long-strings";
    const token = await tokenFor(dataDir, subject, ["worker"]);
    const agent = await startMcpAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: token, MESH_RETRY_COUNT: "0" });
    agents.push(agent);
    const own = (await route(token, "worker")).body.task_id as string;
    const text = LIMITS.textLength;
    const name = LIMITS.roleLength;
    const role = (n: number) => "r".repeat(n);
    const cases: { tool: string; field: string; args: (n: number) => Record<string, unknown>; limit: number }[] = [
      { tool: "send_task", field: "target", limit: name, args: (n) => ({ target: role(n), task: { task_type: "t" } }) },
      { tool: "send_task", field: "task_type", limit: name, args: (n) => ({ target: "worker", task: { task_type: role(n) } }) },
      { tool: "send_task", field: "description", limit: text, args: (n) => ({ target: "worker", task: { task_type: "t", description: "d".repeat(n) } }) },
      { tool: "notify", field: "message", limit: text, args: (n) => ({ target: "worker", message: "m".repeat(n) }) },
      { tool: "request_approval", field: "reason", limit: text, args: (n) => ({ task_id: own, approver_role: "lead", reason: "r".repeat(n) }) },
      { tool: "request_approval", field: "approver_role", limit: name, args: (n) => ({ task_id: own, approver_role: role(n), reason: "r" }) },
      {
        tool: "request_approval",
        field: "comments",
        limit: text,
        args: (n) => ({ task_id: own, approver_role: "lead", reason: "r", comments: "c".repeat(n) }),
      },
      { tool: "fetch_status", field: "task_id", limit: LIMITS.idLength, args: (n) => ({ task_id: "i".repeat(n) }) },
      { tool: "fail_task", field: "reason", limit: text, args: (n) => ({ task_id: "i".repeat(8), reason: "f".repeat(n) }) },
      { tool: "cancel_task", field: "reason", limit: text, args: (n) => ({ task_id: "i".repeat(8), reason: "c".repeat(n) }) },
      { tool: "decide_approval", field: "comments", limit: text, args: (n) => ({ approval_id: "a".repeat(8), decision: "approved", comments: "c".repeat(n) }) },
    ];
    const auditRows = async () => (await api(admin, "GET", `/audit?actor=${subject}&limit=200`)).body.items.length as number;
    for (const c of cases) {
      const before = await auditRows();
      const over = await agent.call(c.tool, c.args(c.limit + 1));
      expect("thrown" in over).toBe(false);
      if ("thrown" in over) continue;
      expect({ tool: c.tool, field: c.field, refused: over.isError === true, named: over.text.includes(c.field) }).toEqual({
        tool: c.tool,
        field: c.field,
        refused: true,
        named: true,
      });
      expect({ tool: c.tool, field: c.field, stored: (await auditRows()) - before }).toEqual({ tool: c.tool, field: c.field, stored: 0 });
      // At the limit, the length is not what refuses it (an unknown id may still be not found).
      const at = await agent.call(c.tool, c.args(c.limit));
      if (!("thrown" in at) && at.isError)
        expect({ tool: c.tool, field: c.field, text: at.text }).toEqual({
          tool: c.tool,
          field: c.field,
          text: expect.stringMatching(/^(Not found|Conflict|Not allowed)/),
        });
    }
    await agent.client.ping();
  });

  test("ids far too long in a path or a query: 4xx, never a 5xx", async () => {
    const token = await tokenFor(dataDir, "long-ids", []);
    for (const n of [LIMITS.idLength + 1, 10_000, 60_000]) {
      const id = "x".repeat(n);
      for (const [method, path] of [
        ["GET", `/tasks/${id}`],
        ["GET", `/tasks/${id}?wait=1`],
        ["POST", `/tasks/${id}/claim`],
        ["GET", `/approvals/${id}`],
        ["POST", `/approvals/${id}/decision`],
        ["GET", `/approvals?task_id=${id}`],
        ["GET", `/tasks?target=${id}`],
      ] as const) {
        const res = await api(token, method, path, method === "POST" ? {} : undefined);
        expect({ n, path: path.slice(0, 20), status: res.status >= 400 && res.status < 500 }).toEqual({ n, path: path.slice(0, 20), status: true });
      }
    }
    expect((await fetch(`${controller.url}/healthz`)).status).toBe(200);
  });
});
