/**
 * Every tool through the compiled binary, spawned over real stdio by the official SDK
 * client, against a real controller: the happy path and each kind of failure.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Agent } from "./support/agent.ts";
import { startMesh, type Mesh } from "./support/mesh.ts";
import { closedPort, misbehave, problem } from "./support/misbehaving.ts";

let mesh: Mesh;
let alice: Agent; // a developer who sends work
let bob: Agent; // a reviewer who takes it
let carol: Agent; // a lead who approves
let dana: Agent; // holds two roles

beforeAll(async () => {
  mesh = await startMesh();
  [alice, bob, carol, dana] = await Promise.all([
    mesh.agent("alice", ["dev"]),
    mesh.agent("bob", ["reviewer"]),
    mesh.agent("carol", ["lead"]),
    mesh.agent("dana", ["ops", "security"]),
  ]);
});
afterAll(() => mesh.stop());

const send = async (target = "reviewer", task: Record<string, unknown> = { task_type: "code_review", description: "Review PR 7" }) => {
  const r = await alice.call("send_task", { target, task });
  expect(r.isError).toBeFalsy();
  return r.structured.task_id as string;
};

describe("the tool list", () => {
  test("the seed's four keep their names and arguments; the receiving side is there", async () => {
    const { tools } = await alice.client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(
      [
        "add_task_note",
        "ask_person_to_decide",
        "ask_sender",
        "cancel_task",
        "check_inbox",
        "claim_task",
        "complete_task",
        "decide_approval",
        "fail_task",
        "fetch_status",
        "list_approvals",
        "notify",
        "reply_to_task",
        "report_progress",
        "request_approval",
        "send_task",
      ].sort(),
    );
    const args = (name: string) => Object.keys(byName[name]!.inputSchema.properties ?? {});
    // The seed's arguments, in the seed's order; after them only optional ones: a key for repeating a failed call, and a wait.
    expect(args("send_task")).toEqual(["target", "task", "context", "max_attempts", "deadline", "deadline_seconds", "parent_task_id", "idempotency_key"]);
    expect(args("request_approval")).toEqual([
      "task_id",
      "approver_role",
      "reason",
      "decision",
      "comments",
      "expires_in_seconds",
      "escalate_to",
      "idempotency_key",
      "wait_seconds",
    ]);
    expect(args("notify")).toEqual(["target", "message", "priority", "idempotency_key"]);
    expect(args("fetch_status")[0]).toBe("task_id");
    expect(byName.send_task!.inputSchema.required).toEqual(["target", "task"]);
    expect(byName.request_approval!.inputSchema.required).toEqual(["task_id", "approver_role", "reason"]);
    expect(byName.notify!.inputSchema.required).toEqual(["target", "message"]);
    const props = (name: string) => byName[name]!.inputSchema.properties as Record<string, { default?: unknown; description?: string }>;
    expect(props("send_task").context!.default).toEqual({});
    expect(props("request_approval").decision!.default).toBe("pending");
    expect(props("request_approval").comments!.default).toBe("");
    expect(props("request_approval").wait_seconds).toMatchObject({ default: 0, maximum: 600 });
    expect(props("notify").priority!.default).toBe("normal");
    for (const tool of tools) {
      expect(tool.description!.length).toBeGreaterThan(40);
      expect(tool.outputSchema?.properties).toHaveProperty("trace_id");
      for (const [name, schema] of Object.entries(tool.inputSchema.properties ?? {}))
        expect({ tool: tool.name, name, described: !!(schema as { description?: string }).description }).toMatchObject({ described: true });
    }
  });

  test("annotations tell the truth", async () => {
    const { tools } = await alice.client.listTools();
    const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
    for (const name of ["fetch_status", "check_inbox", "list_approvals"]) expect(hints[name]).toMatchObject({ readOnlyHint: true, openWorldHint: true });
    for (const name of ["send_task", "notify", "request_approval"])
      expect(hints[name]).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: false });
    for (const name of ["claim_task", "complete_task", "fail_task", "cancel_task", "decide_approval"])
      expect(hints[name]).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
    // It records a decision, and each call asks the person again, perhaps about another approval.
    expect(hints.ask_person_to_decide).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true });
  });
});

describe("send_task", () => {
  test("sends {task_type, description, data} and says how to follow it", async () => {
    const r = await alice.call("send_task", {
      target: "reviewer",
      task: { task_type: "code_review", description: "Review PR 7", data: { pr: 7 } },
      context: { repo: "mesh" },
    });
    expect(r.isError).toBeFalsy();
    expect(r.structured).toMatchObject({
      status: "pending",
      target: "reviewer",
      task: { task_type: "code_review", description: "Review PR 7", data: { pr: 7 } },
    });
    expect(r.text).toContain(`fetch_status(task_id="${r.structured.task_id}"`);
    expect(r.text).toContain(`Trace id: ${r.structured.trace_id}`);
    const stored = (await mesh.allTasks()).find((t) => t.task_id === r.structured.task_id);
    expect(stored).toMatchObject({
      source: "alice",
      target: "reviewer",
      task_type: "code_review",
      data: { pr: 7 },
      context: { repo: "mesh" },
      trace_id: r.structured.trace_id,
    });
  });

  test("normalises a free-form task without losing a field", async () => {
    const r = await alice.call("send_task", {
      target: "reviewer",
      task: { type: "lint", description: "Lint it", files: ["a.ts"], strict: true, data: { branch: "main" } },
    });
    expect(r.isError).toBeFalsy();
    expect(r.structured.task).toEqual({ task_type: "lint", description: "Lint it", data: { branch: "main", files: ["a.ts"], strict: true } });
    const both = await alice.call("send_task", { target: "reviewer", task: { task_type: "lint", type: "quick" } });
    expect(both.structured.task).toEqual({ task_type: "lint", data: { type: "quick" } });
    const bare = await alice.call("send_task", { target: "reviewer", task: { summary: "look at this" } });
    expect(bare.structured.task).toEqual({ task_type: "task", data: { summary: "look at this" } });
  });

  test("a field given twice, or a type that is not a name, is refused before any request", async () => {
    const before = (await mesh.allTasks()).length;
    const clash = await alice.call("send_task", { target: "reviewer", task: { type: "lint", files: ["a"], data: { files: ["b"] } } });
    expect(clash.isError).toBe(true);
    expect(clash.text).toContain("task.files: is given both in task and in task.data");
    const spaced = await alice.call("send_task", { target: "reviewer", task: { type: "code review" } });
    expect(spaced.isError).toBe(true);
    expect(spaced.text).toContain("task.type: task_type may hold letters, digits");
    expect(spaced.text).toMatch(/Trace id: [0-9a-f]{32}/);
    expect((await mesh.allTasks()).length).toBe(before);
  });

  test("a role name that cannot be one is refused by the input schema", async () => {
    const r = await alice.call("send_task", { target: "not a role", task: {} });
    expect(r.isError).toBe(true);
    expect(r.text).toContain("target");
  });
});

describe("notify", () => {
  test("a notification is a task of type notification with data.priority", async () => {
    const plain = await alice.call("notify", { target: "oncall", message: "Deploy at 5" });
    expect(plain.structured).toMatchObject({ status: "pending", target: "oncall", priority: "normal" });
    const urgent = await alice.call("notify", { target: "oncall", message: "Prod is down", priority: "high" });
    const stored = (await mesh.allTasks()).find((t) => t.task_id === urgent.structured.task_id);
    expect(stored).toMatchObject({ task_type: "notification", description: "Prod is down", data: { priority: "high" }, priority: "high" });
  });

  test("a priority other than low, normal or high is refused before any request", async () => {
    const before = (await mesh.allTasks()).length;
    const r = await alice.call("notify", { target: "oncall", message: "hi", priority: "urgent" });
    expect(r.isError).toBe(true);
    expect(r.text).toContain("priority");
    expect(r.text).toContain('"low"|"normal"|"high"');
    expect((await mesh.allTasks()).length).toBe(before);
  });
});

describe("request_approval and deciding it", () => {
  test("ask, list, decide; the task shows the decision", async () => {
    const taskId = await send();
    const asked = await alice.call("request_approval", { task_id: taskId, approver_role: "lead", reason: "Touches billing" });
    expect(asked.isError).toBeFalsy();
    expect(asked.structured).toMatchObject({ status: "pending", task_id: taskId, approver_role: "lead" });
    const listed = await carol.call("list_approvals", {});
    const mine = listed.structured.approvals.find((a: any) => a.approval_id === asked.structured.approval_id);
    expect(mine).toMatchObject({ task_id: taskId, reason: "Touches billing", status: "pending", requested_by: "alice" });
    const decided = await carol.call("decide_approval", { approval_id: asked.structured.approval_id, decision: "approved", comments: "Fine" });
    expect(decided.structured.approval).toMatchObject({ status: "approved", decided_by: "carol", comments: "Fine" });
    const status = await alice.call("fetch_status", { task_id: taskId });
    expect(status.structured.task.approvals[0]).toMatchObject({ status: "approved", decided_by: "carol" });
    expect(status.text).toContain("approved by carol");
  });

  test("deciding twice is a conflict; deciding without the role is not allowed", async () => {
    const taskId = await send();
    const asked = await alice.call("request_approval", { task_id: taskId, approver_role: "lead", reason: "Check" });
    const id = asked.structured.approval_id;
    const stranger = await bob.call("decide_approval", { approval_id: id, decision: "approved" });
    expect(stranger.isError).toBe(true);
    expect(stranger.text).toStartWith("Not allowed: Only holders of role lead");
    expect(stranger.text).toContain("What to do:");
    await carol.call("decide_approval", { approval_id: id, decision: "rejected", comments: "No" });
    const again = await carol.call("decide_approval", { approval_id: id, decision: "approved" });
    expect(again.isError).toBe(true);
    expect(again.text).toStartWith("Conflict:");
    expect(again.text).toContain("fetch_status");
  });

  test("an unknown task is not found; a decision other than pending is refused", async () => {
    const unknown = await alice.call("request_approval", { task_id: "no-such-task", approver_role: "lead", reason: "x" });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toStartWith("Not found:");
    const decided = await alice.call("request_approval", { task_id: "t", approver_role: "lead", reason: "x", decision: "approved" });
    expect(decided.isError).toBe(true);
    expect(decided.text).toContain("decision");
  });
});

describe("the receiving side", () => {
  test("the inbox holds tasks for my roles only, not what I sent", async () => {
    const forOps = await alice.call("send_task", { target: "ops", task: { task_type: "deploy" } });
    const forSecurity = await alice.call("send_task", { target: "security", task: { task_type: "audit" } });
    await dana.call("send_task", { target: "reviewer", task: { task_type: "code_review" } });
    const inbox = await dana.call("check_inbox", {});
    const ids = inbox.structured.tasks.map((t: any) => t.task_id);
    expect(ids).toContain(forOps.structured.task_id);
    expect(ids).toContain(forSecurity.structured.task_id);
    expect(inbox.structured.tasks.every((t: any) => ["ops", "security"].includes(t.target))).toBe(true);
    const onlyOps = await dana.call("check_inbox", { role: "ops", task_type: "deploy" });
    expect(onlyOps.structured.tasks.map((t: any) => t.task_id)).toEqual([forOps.structured.task_id]);
    expect(onlyOps.text).toContain("1 pending task(s) for role ops");
  });

  test("claim, complete with a result; the sender sees it", async () => {
    const taskId = await send();
    const claimed = await bob.call("claim_task", { task_id: taskId });
    expect(claimed.structured.task).toMatchObject({ status: "claimed", claimed_by: "bob" });
    const done = await bob.call("complete_task", { task_id: taskId, result: { verdict: "lgtm", comments: 2 } });
    expect(done.structured.task).toMatchObject({ status: "completed", result: { verdict: "lgtm", comments: 2 } });
    const status = await alice.call("fetch_status", { task_id: taskId });
    expect(status.structured.task).toMatchObject({ status: "completed", claimed_by: "bob", result: { verdict: "lgtm" } });
    expect(status.structured.task.history.map((h: any) => h.action)).toEqual(["task.created", "task.claimed", "task.completed"]);
    expect(status.text).toContain('Result: {"verdict":"lgtm","comments":2}');
  });

  test("claiming without the role is not allowed; claiming again what you hold is fine; finishing twice is a conflict", async () => {
    const taskId = await send();
    const notMine = await carol.call("claim_task", { task_id: taskId });
    expect(notMine.isError).toBe(true);
    expect(notMine.text).toStartWith("Not allowed:");
    expect(notMine.text).toContain("(HTTP 403)");
    await bob.call("claim_task", { task_id: taskId });
    const again = await bob.call("claim_task", { task_id: taskId });
    expect(again.isError).toBeFalsy();
    expect(again.structured.task).toMatchObject({ status: "claimed", claimed_by: "bob" });
    await bob.call("complete_task", { task_id: taskId, result: {} });
    const twice = await bob.call("complete_task", { task_id: taskId, result: {} });
    expect(twice.isError).toBe(true);
    expect(twice.text).toContain("is completed; it can be completed only when claimed");
  });

  test("fail with a reason; the sender sees why", async () => {
    const taskId = await send();
    await bob.call("claim_task", { task_id: taskId });
    const failed = await bob.call("fail_task", { task_id: taskId, reason: "The branch is gone" });
    expect(failed.structured.task).toMatchObject({ status: "failed", error: "The branch is gone" });
    expect((await alice.call("fetch_status", { task_id: taskId })).text).toContain("Error: The branch is gone");
  });

  test("the sender may cancel; someone else may not", async () => {
    const taskId = await send();
    const other = await bob.call("cancel_task", { task_id: taskId, reason: "mine now" });
    expect(other.isError).toBe(true);
    const cancelled = await alice.call("cancel_task", { task_id: taskId, reason: "Not needed" });
    expect(cancelled.structured.task).toMatchObject({ status: "cancelled", error: "Not needed" });
  });

  test("fetch_status of an unknown id is a clear not-found, and the server keeps serving", async () => {
    const r = await alice.call("fetch_status", { task_id: "no-such-task" });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toBeUndefined();
    expect(r.text).toStartWith("Not found: No task has the id no-such-task.");
    expect(r.text).toContain("(HTTP 404)");
    expect((await alice.call("fetch_status", { task_id: await send() })).isError).toBeFalsy();
  });

  test("a token without roles has an empty inbox, even when it names a role it does not hold", async () => {
    await send("reviewer");
    const nobody = await mesh.agent("nobody", []);
    const r = await nobody.call("check_inbox", {});
    expect(r.isError).toBeFalsy();
    expect(r.text).toStartWith("No pending tasks for your roles.");
    const named = await nobody.call("check_inbox", { role: "reviewer" });
    expect(named.structured.tasks).toEqual([]);
  });
});

describe("waiting", () => {
  test("check_inbox waits for a new task, with progress notifications while it waits", async () => {
    const erin = await mesh.agent("erin", ["translator"]);
    let firstProgress!: () => void;
    const waiting = new Promise<void>((resolve) => (firstProgress = resolve));
    const progress: { progress: number; total?: number; message?: string }[] = [];
    const inbox = erin.call(
      "check_inbox",
      { wait_seconds: 20 },
      {
        onprogress: (p) => {
          progress.push(p);
          firstProgress();
        },
      },
    );
    await waiting;
    const taskId = await send("translator", { task_type: "translate", description: "Into Welsh" });
    const r = await inbox;
    expect(r.structured.tasks.map((t: any) => t.task_id)).toEqual([taskId]);
    expect(progress[0]).toMatchObject({ progress: 0, total: 20 });
    expect(progress[0]!.message).toContain("waiting for tasks");
  });

  test("a wait across several roles ends when one of them gets a task", async () => {
    let started!: () => void;
    const waiting = new Promise<void>((resolve) => (started = resolve));
    const inbox = dana.call("check_inbox", { task_type: "pen_test", wait_seconds: 20 }, { onprogress: () => started() });
    await waiting;
    const taskId = await send("security", { task_type: "pen_test" });
    const r = await inbox;
    expect(r.structured.tasks.map((t: any) => t.task_id)).toEqual([taskId]);
  });

  test("fetch_status waits for the task to change", async () => {
    const taskId = await send();
    let started!: () => void;
    const waiting = new Promise<void>((resolve) => (started = resolve));
    const status = alice.call("fetch_status", { task_id: taskId, wait_seconds: 20, after_version: 1 }, { onprogress: () => started() });
    await waiting;
    await bob.call("claim_task", { task_id: taskId });
    expect((await status).structured.task).toMatchObject({ status: "claimed", version: 2 });
  });

  test("an empty wait answers when its time is up", async () => {
    const r = await alice.call("check_inbox", { role: "nobody-holds-this", wait_seconds: 1 });
    expect(r.structured.tasks).toEqual([]);
    expect(r.text).toContain("No pending tasks for role nobody-holds-this after waiting 1 s.");
  });
});

describe("failures say what happened and what to do", () => {
  test("an expired token", async () => {
    const late = await mesh.agentWith({ CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: await mesh.expiredToken("alice") });
    const r = await late.call("fetch_status", { task_id: "x" });
    expect(r.isError).toBe(true);
    expect(r.text).toContain("The controller rejected the token: The token has expired");
    expect(r.text).toContain("agent-mesh token --sub NAME --role ROLE");
    expect(r.text).toContain("(HTTP 401)");
  });

  test("a token the controller did not sign", async () => {
    const forged = await mesh.agentWith({ CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" });
    const r = await forged.call("send_task", { target: "reviewer", task: { task_type: "x" } });
    expect(r.isError).toBe(true);
    expect(r.text).toStartWith("The controller rejected the token:");
  });

  test("the controller is not running: how to start one, after the retries", async () => {
    const lost = await mesh.agentWith({ CONTROLLER_URL: closedPort(), MESH_JWT_TOKEN: await mesh.controller.token("alice", ["dev"]), MESH_RETRY_COUNT: "1" });
    const r = await lost.call("send_task", { target: "reviewer", task: { task_type: "x" } });
    expect(r.isError).toBe(true);
    expect(r.text).toStartWith("Could not reach the controller at http://127.0.0.1:");
    expect(r.text).toContain("Start one with `agent-mesh controller`");
    expect(r.text).toContain("Gave up after 2 attempts.");
    expect(r.text).toMatch(/Idempotency key: [0-9a-f-]{36}/);
  });

  test("repeating a call with the idempotency key a failure named does not do it twice", async () => {
    const first = await alice.call("send_task", { target: "reviewer", task: { task_type: "x" }, idempotency_key: "repeat-me-1" });
    const again = await alice.call("send_task", { target: "reviewer", task: { task_type: "x" }, idempotency_key: "repeat-me-1" });
    expect(again.structured.task_id).toBe(first.structured.task_id);
    const asked = { task_id: first.structured.task_id, approver_role: "lead", reason: "r", idempotency_key: "repeat-me-2" };
    expect((await alice.call("request_approval", asked)).structured.approval_id).toBe((await alice.call("request_approval", asked)).structured.approval_id);
  });

  test("a controller that keeps failing: gave up after N attempts, with the one idempotency key it saw", async () => {
    const failing = misbehave([problem(503, "unavailable", "The database is unreachable; try again shortly.")]);
    const agent = await mesh.agentWith({ CONTROLLER_URL: failing.url, MESH_JWT_TOKEN: "a.b.c", MESH_RETRY_COUNT: "2" });
    const r = await agent.call("send_task", { target: "reviewer", task: { task_type: "x" } });
    await failing.stop();
    expect(failing.seen).toHaveLength(3);
    const key = failing.seen[0]!.headers.get("idempotency-key")!;
    expect(failing.seen.every((s) => s.headers.get("idempotency-key") === key)).toBe(true);
    expect(r.text).toStartWith("The controller is unavailable: The database is unreachable");
    expect(r.text).toContain("Gave up after 3 attempts.");
    expect(r.text).toContain(`Idempotency key: ${key}`);
    expect(r.text).toContain(`To repeat it: it may have been done already, so call again with the same arguments and idempotency_key="${key}"`);
    expect(r.text).toContain(`Trace id: ${failing.seen[0]!.headers.get("x-trace-id")}`);
  });

  test("a tool with no idempotency_key is not told to pass one: its repeat is safe, and it says so", async () => {
    const failing = misbehave([problem(503, "unavailable", "The database is unreachable; try again shortly.")]);
    const agent = await mesh.agentWith({ CONTROLLER_URL: failing.url, MESH_JWT_TOKEN: "a.b.c", MESH_RETRY_COUNT: "1" });
    const r = await agent.call("decide_approval", { approval_id: "a-1", decision: "approved" });
    await failing.stop();
    expect(r.isError).toBe(true);
    expect(r.text).not.toContain("idempotency_key=");
    expect(r.text).toContain("To repeat it: it may have been done already; calling again is safe");
  });

  test("rate limited: too many waits open", async () => {
    const limited = await startMesh({ MESH_MAX_WAITS_PER_CALLER: "1" });
    try {
      const token = await limited.controller.token("frank", ["support"]);
      const hold = new AbortController();
      const held = fetch(new URL("/tasks?target=support&wait=30", limited.controller.url), {
        headers: { authorization: `Bearer ${token}` },
        signal: hold.signal,
      }).catch(() => null);
      // No event says a long-poll has started; the controller's gauge does.
      const admin = await limited.controller.token("ops", ["admin"]);
      for (let tries = 0; !/mesh_long_polls_open 1/.test((await limited.controller.api(admin, "GET", "/metrics")).body); tries++) {
        if (tries > 500) throw new Error("the long-poll never opened");
        await Bun.sleep(5);
      }
      const frank = await limited.agentWith({ CONTROLLER_URL: limited.controller.url, MESH_JWT_TOKEN: token, MESH_RETRY_COUNT: "0" });
      const r = await frank.call("check_inbox", { wait_seconds: 5 });
      hold.abort();
      await held;
      expect(r.isError).toBe(true);
      expect(r.text).toStartWith("Too many requests: You already have 1 long-polls");
      expect(r.text).toContain("Gave up after 1 attempt.");
      expect(r.text).toContain("(HTTP 429)");
    } finally {
      await limited.stop();
    }
  });

  test("a body larger than the controller takes", async () => {
    const r = await alice.call("send_task", { target: "reviewer", task: { task_type: "big", data: { blob: "x".repeat(1_100_000) } } });
    expect(r.isError).toBe(true);
    expect(r.text).toStartWith("Too large:");
    expect(r.text).toContain("(HTTP 413)");
  });
});
