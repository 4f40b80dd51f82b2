/**
 * Property-based fuzzing of the MCP side of the compiled binary, against a real controller:
 * - frames on stdin: garbage, JSON that is not JSON-RPC, JSON-RPC with wrong shapes,
 *   huge or odd ids, wrong types for params, calls to tools with hostile arguments;
 * - tool arguments through the official SDK client: wrong types, huge strings, deep
 *   nesting, hostile keys such as __proto__.
 * Every request gets a JSON-RPC error or a result (isError when refused); the server
 * never crashes; stdout holds only JSON-RPC frames; a refused call stores nothing.
 *
 * MCP_FUZZ_RUNS sets the number of cases of each property (default 400).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { rmSync } from "node:fs";
import { tempDir, tokenFor } from "../support/controller.ts";
import { envCount } from "./support/ledger.ts";
import { FAULTS_BINARY, startControllerProcess, startMcpAgent, type ControllerProcess, type McpAgent } from "./support/processes.ts";

const RUNS = envCount("MCP_FUZZ_RUNS", 400);
const TOOLS = [
  "send_task",
  "request_approval",
  "notify",
  "fetch_status",
  "check_inbox",
  "claim_task",
  "complete_task",
  "fail_task",
  "cancel_task",
  "list_approvals",
  "decide_approval",
  "ask_person_to_decide",
  "ask_sender",
  "reply_to_task",
  "add_task_note",
  "report_progress",
];
/**
 * What a tool's success writes at the controller (its audit action). Claiming a task you
 * already hold succeeds without writing, so a claim writes at most once; the rest exactly once.
 */
const WRITES: Record<string, { actions: string[]; exact: boolean }> = {
  send_task: { actions: ["task.created"], exact: true },
  notify: { actions: ["task.created"], exact: true },
  request_approval: { actions: ["approval.requested"], exact: true },
  claim_task: { actions: ["task.claimed"], exact: false },
  complete_task: { actions: ["task.completed"], exact: true },
  fail_task: { actions: ["task.failed", "task.retry_scheduled", "task.dead_lettered"], exact: true },
  report_progress: { actions: ["task.progress"], exact: true },
  cancel_task: { actions: ["task.cancelled"], exact: true },
  decide_approval: { actions: ["approval.approved", "approval.rejected"], exact: true },
  ask_sender: { actions: ["task.input_required"], exact: true },
  reply_to_task: { actions: ["task.answered"], exact: true },
  add_task_note: { actions: ["task.noted"], exact: true },
};

/** Successful calls by tool, to hold the audit trail against. */
class Writes {
  readonly successes: Record<string, number> = {};
  succeeded(tool: string | undefined) {
    if (tool && WRITES[tool]) this.successes[tool] = (this.successes[tool] ?? 0) + 1;
  }
  /** The audit rows `actor` wrote can all be explained by successful calls, and every exact one wrote. */
  check(written: Record<string, number>) {
    const groups = new Map<string, { actions: string[]; exact: number; atMost: number }>();
    for (const [tool, { actions, exact }] of Object.entries(WRITES)) {
      const key = actions.join("|");
      const g = groups.get(key) ?? { actions, exact: 0, atMost: 0 };
      const n = this.successes[tool] ?? 0;
      if (exact) g.exact += n;
      else g.atMost += n;
      groups.set(key, g);
    }
    const known = new Set([...groups.values()].flatMap((g) => g.actions));
    expect(Object.keys(written).filter((a) => !known.has(a))).toEqual([]);
    for (const [key, g] of groups) {
      const n = g.actions.reduce((sum, a) => sum + (written[a] ?? 0), 0);
      expect({ actions: key, writes: n, atLeast: n >= g.exact, atMost: n <= g.exact + g.atMost }).toEqual({
        actions: key,
        writes: n,
        atLeast: true,
        atMost: true,
      });
    }
  }
}
const METHODS = [
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "logging/setLevel",
  "resources/list",
  "prompts/list",
  "completion/complete",
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
];
const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "__defineGetter__", "valueOf"];

let dataDir: string;
let controller: ControllerProcess;
let admin: string;
let roleless: string;
let existingTask: string;

beforeAll(async () => {
  dataDir = tempDir("mesh-mcp-fuzz-");
  controller = await startControllerProcess({ dataDir });
  admin = await tokenFor(dataDir, "fuzz-auditor", ["admin"]);
  roleless = await tokenFor(dataDir, "fuzz-sender", ["worker", "approver"]);
  // A real task, so that ids in the fuzzed calls sometimes point at something.
  const res = await fetch(`${controller.url}/tasks/route`, {
    method: "POST",
    headers: { authorization: `Bearer ${roleless}`, "idempotency-key": "fuzz-seed", "content-type": "application/json" },
    body: JSON.stringify({ target: "worker", task: { task_type: "seed" } }),
  });
  existingTask = ((await res.json()) as { task_id: string }).task_id;
});

afterAll(async () => {
  await controller?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Audit rows written by `actor`, by action. */
async function writesBy(actor: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let cursor = "";
  for (;;) {
    const res = await fetch(`${controller.url}/audit?actor=${actor}&limit=200${cursor ? `&cursor=${cursor}` : ""}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const page = (await res.json()) as { items: { action: string }[]; next_cursor: string | null };
    for (const e of page.items) counts[e.action] = (counts[e.action] ?? 0) + 1;
    if (!page.next_cursor) return counts;
    cursor = page.next_cursor;
  }
}

// ── generators ───────────────────────────────────────────────────────────────

const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, -(2 ** 63), 1.5, -0, 0, -1, 1e-320);
/** Numbers JSON can carry that JavaScript cannot: they arrive as Infinity or lose digits. */
const numberText = fc.constantFrom("1e999", "-1e999", "123456789012345678901234567890", "0.0000000000000000000000000001", "1E400");
const hostileKey = fc.oneof(fc.constantFrom(...HOSTILE_KEYS, "", "target", "task", "task_id", "data", "type", "task_type"), fc.string({ maxLength: 12 }));
const hugeString = fc.constantFrom(8, 200, 20_000, 300_000).chain((n) => fc.constant("é\u0000\u2028x".repeat(n / 4)));

/** JSON text of a hostile value: hostile keys are real keys (as JSON.parse makes them), not prototypes. */
const hostileJson: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("null", "true", "false", '""', '"worker"', '"reviewer"', '"pending"', '"approved"', '"high"', "[]", "{}"),
    hugeNumber.map((n) => JSON.stringify(n)),
    numberText,
    fc.string({ maxLength: 40 }).map((s) => JSON.stringify(s)),
    hugeString.map((s) => JSON.stringify(s)),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
    fc.array(fc.tuple(hostileKey, tie("value")), { maxLength: 5 }).map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
    fc.integer({ min: 20, max: 300 }).map((depth) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`),
  ),
})).value;

/** Arguments for a tool: its own field names (and others) with hostile values. */
const argumentsJson = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom("target", "task", "context", "task_id", "approver_role", "reason", "decision", "comments", "message", "priority", "role", "status"),
        fc.constantFrom("wait_seconds", "after_version", "limit", "result", "error", "approval_id", "task_type"),
        hostileKey,
      ),
      fc.oneof(hostileJson, fc.constant(JSON.stringify(crypto.randomUUID())), fc.constant('"EXISTING"')),
    ),
    { maxLength: 6 },
  )
  .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`);

/** A valid call of each tool, as [field, JSON text] pairs; EXISTING becomes the id of a real task. */
const TEMPLATES: Record<string, [string, string][]> = {
  send_task: [
    ["target", '"worker"'],
    ["task", '{"task_type":"fuzz","description":"d","data":{"n":1}}'],
    ["context", "{}"],
  ],
  notify: [
    ["target", '"worker"'],
    ["message", '"m"'],
    ["priority", '"low"'],
  ],
  request_approval: [
    ["task_id", '"EXISTING"'],
    ["approver_role", '"approver"'],
    ["reason", '"r"'],
  ],
  fetch_status: [["task_id", '"EXISTING"']],
  check_inbox: [
    ["role", '"worker"'],
    ["limit", "5"],
  ],
  claim_task: [["task_id", '"EXISTING"']],
  complete_task: [
    ["task_id", '"EXISTING"'],
    ["result", '{"ok":true}'],
  ],
  fail_task: [
    ["task_id", '"EXISTING"'],
    ["reason", '"r"'],
  ],
  cancel_task: [
    ["task_id", '"EXISTING"'],
    ["reason", '"r"'],
  ],
  list_approvals: [["status", '"pending"']],
  decide_approval: [
    ["approval_id", `"${crypto.randomUUID()}"`],
    ["decision", '"approved"'],
  ],
};

/** A valid call with one thing wrong (or nothing): a field of the wrong type, a field missing, a hostile key added. */
const nearValid: fc.Arbitrary<{ tool: string; args: string }> = fc
  .tuple(
    fc.constantFrom(...Object.keys(TEMPLATES)),
    fc.oneof(
      fc.constant({ kind: "none" as const }),
      fc.record({ kind: fc.constant("replace" as const), index: fc.nat(), value: hostileJson }),
      fc.record({ kind: fc.constant("remove" as const), index: fc.nat() }),
      fc.record({ kind: fc.constant("add" as const), key: hostileKey, value: hostileJson }),
      fc.record({ kind: fc.constant("task" as const), key: hostileKey, value: hostileJson }),
    ),
  )
  .map(([tool, m]) => {
    const pairs = [...TEMPLATES[tool]!];
    const i = "index" in m ? m.index % pairs.length : 0;
    if (m.kind === "replace") pairs[i] = [pairs[i]![0], m.value];
    if (m.kind === "remove") pairs.splice(i, 1);
    if (m.kind === "add") pairs.push([m.key, m.value]);
    if (m.kind === "task") pairs.push(["task", `{"task_type":"fuzz",${JSON.stringify(m.key)}:${m.value}}`]);
    return { tool, args: `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}` };
  });

const anId = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
  hugeNumber.map(String),
  numberText,
  fc.constantFrom("null", "true", "{}", "[]", '"x"'),
);
const params = fc.oneof(hostileJson, fc.constant("{}"), argumentsJson);

/** One line for stdin. Calls to tools that could succeed get an id the test can wait for. */
type Frame = { text: string; waitFor?: string; tool?: string };
const frames: fc.Arbitrary<Frame> = fc.oneof(
  fc.string({ maxLength: 200 }).map((text) => ({ text })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ text: Buffer.from(b).toString("latin1") })),
  fc.string({ unit: "binary", maxLength: 100 }).map((text) => ({ text })),
  hostileJson.map((text) => ({ text })),
  // JSON-RPC-shaped, each part possibly wrong.
  fc
    .record(
      {
        jsonrpc: fc.constantFrom('"2.0"', '"1.0"', "2", "null", '""'),
        id: anId,
        method: fc.oneof(
          fc.constantFrom(...METHODS).map((m) => JSON.stringify(m)),
          fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
          hostileJson,
        ),
        params,
        result: hostileJson,
        error: hostileJson,
      },
      { requiredKeys: [] },
    )
    .map((r) => ({
      text: `{${Object.entries(r)
        .map(([k, v]) => `"${k}":${v}`)
        .join(",")}}`,
    })),
  // A tools/call that is a well-formed request: nearly valid arguments, hostile ones, or params of the wrong type.
  fc
    .tuple(
      fc.oneof(
        { weight: 3, arbitrary: nearValid },
        {
          weight: 1,
          arbitrary: fc.record({ tool: fc.oneof(fc.constantFrom(...TOOLS), fc.string({ maxLength: 20 })), args: fc.oneof(argumentsJson, hostileJson) }),
        },
      ),
      fc.boolean(),
      fc.nat(),
    )
    .map(([{ tool, args }, wrap, n]) => {
      const id = `call-${n}-${crypto.randomUUID()}`;
      const p = wrap || Object.hasOwn(TEMPLATES, tool) ? `{"name":${JSON.stringify(tool)},"arguments":${withExisting(args)}}` : args;
      return { text: `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"tools/call","params":${p}}`, waitFor: id, tool };
    }),
);

const withExisting = (json: string) => json.replaceAll('"EXISTING"', JSON.stringify(existingTask));

// ── the binary on raw pipes ──────────────────────────────────────────────────

type Message = { jsonrpc?: unknown; id?: unknown; result?: any; error?: { code: unknown; message: unknown }; method?: unknown };

/** Checks one line of stdout: a JSON-RPC 2.0 response or notification, nothing else. */
function checkFrame(line: string): Message {
  let m: Message;
  try {
    m = JSON.parse(line);
  } catch {
    throw new Error(`stdout held a line that is not JSON: ${line.slice(0, 200)}`);
  }
  const ok =
    m !== null &&
    typeof m === "object" &&
    !Array.isArray(m) &&
    m.jsonrpc === "2.0" &&
    (typeof m.method === "string"
      ? !("id" in m) // the server sends notifications only, never requests of its own here
      : (typeof m.id === "string" || typeof m.id === "number" || m.id === null) &&
        "result" in m !== "error" in m &&
        (!("error" in m) || (typeof m.error!.code === "number" && typeof m.error!.message === "string")));
  if (!ok) throw new Error(`stdout held a line that is not a JSON-RPC 2.0 frame: ${line.slice(0, 300)}`);
  return m;
}

function spawnRaw(env: Record<string, string>) {
  const proc = Bun.spawn([FAULTS_BINARY, "mcp"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", MESH_LOG_LEVEL: "error", ...env },
  });
  const responses = new Map<string, Message>();
  const waiters = new Map<string, (m: Message) => void>();
  let bad: Error | null = null;
  let frames = 0;
  let pending = "";
  const stderr = new Response(proc.stderr).text();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        frames++;
        try {
          const m = checkFrame(line);
          if (typeof m.id === "string") {
            responses.set(m.id, m);
            waiters.get(m.id)?.(m);
          }
        } catch (error) {
          bad ??= error as Error;
        }
      }
    }
  })();
  return {
    proc,
    frames: () => frames,
    bad: () => bad,
    write(text: string) {
      proc.stdin.write(text);
      proc.stdin.flush();
    },
    /** The response with this (string) id, once it comes; a server that never answers fails the case. */
    answer(id: string, what = id, ms = 20_000): Promise<Message> {
      const got = responses.get(id);
      if (got) return Promise.resolve(got);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${id} within ${ms} ms after: ${what.slice(0, 500)}`)), ms);
        waiters.set(id, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
    },
    async close() {
      proc.stdin.end();
      const code = await proc.exited;
      await reading;
      if (pending !== "") bad ??= new Error(`stdout ended in the middle of a line: ${pending.slice(0, 200)}`);
      return { code, stderr: await stderr };
    },
  };
}

const rpc = (id: string, method: string, p: unknown = {}) => `${JSON.stringify({ jsonrpc: "2.0", id, method, params: p })}\n`;

test(`${RUNS} fuzzed frames on stdin: JSON-RPC errors or results, only frames on stdout, no crash, nothing stored when refused`, async () => {
  const subject = "fuzz-raw";
  const raw = spawnRaw({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await tokenFor(dataDir, subject, ["worker", "approver"]), MESH_RETRY_COUNT: "0" });
  raw.write(rpc("init", "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "fuzz", version: "0" } }));
  expect((await raw.answer("init")).result.serverInfo.name).toBe("agent-mesh");
  raw.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);

  const writes = new Writes();
  const outcomes = { jsonRpcError: 0, isError: 0, success: 0 };
  let sentinel = 0;
  await fc.assert(
    fc.asyncProperty(frames, async (frame) => {
      raw.write(`${frame.text}\n`);
      const ping = `sentinel-${sentinel++}`;
      raw.write(rpc(ping, "ping"));
      // The ping is answered after the frame was read, so a crash or a bad frame shows up here.
      expect(await raw.answer(ping, frame.text)).toMatchObject({ result: {} });
      if (frame.waitFor) {
        const answer = await raw.answer(frame.waitFor, frame.text);
        if (answer.error) outcomes.jsonRpcError++;
        else if (answer.result.isError) {
          outcomes.isError++;
          expect(answer.result.content[0].text.length).toBeGreaterThan(0);
        } else {
          outcomes.success++;
          writes.succeeded(frame.tool);
        }
      }
      expect(raw.bad()).toBeNull();
      expect(raw.proc.exitCode).toBeNull();
    }),
    { numRuns: RUNS },
  );
  // Still serving after all of it.
  raw.write(rpc("last", "tools/list"));
  expect((await raw.answer("last")).result.tools).toHaveLength(TOOLS.length);
  const { code, stderr } = await raw.close();
  const written = await writesBy(subject);
  console.log("raw MCP frames:", JSON.stringify({ cases: RUNS, stdoutFrames: raw.frames(), toolCalls: outcomes, successes: writes.successes, written }));
  expect(raw.bad()).toBeNull();
  expect({ code, crash: /panic|Segmentation|uncaught|Unhandled/i.test(stderr) ? stderr.slice(0, 2000) : null }).toEqual({ code: 0, crash: null });
  // Only the calls answered with success wrote anything.
  writes.check(written);
});

test(`${RUNS} fuzzed tool arguments through the SDK client: an error result or a success, nothing stored when refused`, async () => {
  const subject = "fuzz-sdk";
  const agent: McpAgent = await startMcpAgent({
    CONTROLLER_URL: controller.url,
    MESH_JWT_TOKEN: await tokenFor(dataDir, subject, ["worker", "approver"]),
    MESH_RETRY_COUNT: "0",
  });
  const writes = new Writes();
  const outcomes = { jsonRpcError: 0, isError: 0, success: 0 };
  const seenErrors = new Set<string>();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 3, arbitrary: nearValid },
          {
            weight: 1,
            arbitrary: fc.record({
              tool: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...TOOLS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
              args: argumentsJson,
            }),
          },
        ),
        async ({ tool: name, args }) => {
          const parsed = JSON.parse(withExisting(args)) as Record<string, unknown>;
          const r = await agent.call(name, parsed, 30_000);
          if ("thrown" in r) {
            // A JSON-RPC error from the server is a fine answer; a lost connection, a timeout or a
            // result the SDK client finds malformed (e.g. against the tool's outputSchema) is not.
            const text = String(r.thrown);
            expect(text).toMatch(/^McpError: MCP error -32\d{3}:/);
            expect(text).not.toMatch(/-32001|Connection closed|timed out|output schema|Structured content/i);
            outcomes.jsonRpcError++;
            seenErrors.add(text.slice(0, 60));
            return;
          }
          if (r.isError) {
            outcomes.isError++;
            expect(r.text.length).toBeGreaterThan(0);
            // A tool that ran but whose answer broke its own output schema may have written something.
            expect(r.text).not.toStartWith("Output validation error");
            return;
          }
          outcomes.success++;
          expect(r.structuredContent).toBeDefined();
          writes.succeeded(name);
        },
      ),
      { numRuns: RUNS },
    );
    await agent.client.ping();
    expect(agent.closedEarly()).toBe(false);
    expect(agent.transportErrors).toEqual([]);
  } finally {
    await agent.close();
  }
  const written = await writesBy(subject);
  console.log("SDK tool arguments:", JSON.stringify({ cases: RUNS, outcomes, successes: writes.successes, written, jsonRpcErrors: [...seenErrors] }));
  writes.check(written);
});

test("hostile keys in a task: __proto__ never reaches the store, other keys stay plain data, nothing is polluted", async () => {
  const subject = "fuzz-keys";
  const agent = await startMcpAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await tokenFor(dataDir, subject, []), MESH_RETRY_COUNT: "0" });
  const outcomes: Record<string, string> = {};
  try {
    let succeeded = 0;
    for (const key of HOSTILE_KEYS) {
      for (const where of ["task", "data", "context", "nested"]) {
        const hostile = `{${JSON.stringify(key)}:{"polluted":true}}`;
        const args = JSON.parse(
          where === "task"
            ? `{"target":"worker","task":{"task_type":"t",${hostile.slice(1, -1)}}}`
            : where === "data"
              ? `{"target":"worker","task":{"task_type":"t","data":${hostile}}}`
              : where === "context"
                ? `{"target":"worker","task":{"task_type":"t"},"context":${hostile}}`
                : `{"target":"worker","task":{"task_type":"t","data":{"deep":[${hostile}]}}}`,
        );
        const r = await agent.call("send_task", args);
        expect("thrown" in r).toBe(false);
        if ("thrown" in r || r.isError) {
          outcomes[`${key} in ${where}`] = "refused";
          continue;
        }
        succeeded++;
        const id = (r.structuredContent as { task_id: string }).task_id;
        const task = (await (await fetch(`${controller.url}/tasks/${id}`, { headers: { authorization: `Bearer ${admin}` } })).json()) as Record<string, any>;
        const stored = JSON.stringify({ data: task.data, context: task.context });
        outcomes[`${key} in ${where}`] = stored.includes('"polluted"') ? "stored as data" : "dropped";
        // __proto__ is never stored; any other key is ordinary data, kept as it was sent.
        if (key === "__proto__") expect({ key, where, stored }).toEqual({ key, where, stored: expect.not.stringContaining("polluted") });
        else expect({ key, where, stored: stored.includes(`${JSON.stringify(key)}:{"polluted":true}`) }).toEqual({ key, where, stored: true });
      }
    }
    // Nothing leaked into an Object prototype, here or in the server, which still serves normally.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await writesBy(subject))["task.created"] ?? 0).toBe(succeeded);
    const plain = await agent.call("send_task", { target: "worker", task: { task_type: "after_hostile_keys" } });
    expect("thrown" in plain || Boolean(plain.isError)).toBe(false);
    if (!("thrown" in plain)) expect(JSON.stringify(plain.structuredContent)).not.toContain("polluted");
    console.log("hostile keys through send_task:", JSON.stringify(outcomes));
  } finally {
    await agent.close();
  }
});
