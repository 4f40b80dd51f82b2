/** `agent-mesh tasks …` and `agent-mesh approvals …` through the compiled binary, against a real controller. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { BINARY, startTestController, type TestController } from "../support/controller.ts";
import { postLink } from "../support/web.ts";

let c: TestController;
let alice: string;
let mia: string;
let taskId: string;
let approvalId: string;

beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["dev"]);
  mia = await c.token("mia", ["manager"]);
  taskId = (
    await c.api(
      alice,
      "POST",
      "/tasks/route",
      { target: "worker", task: { task_type: "deploy", description: "ship it", data: { env: "prod" } } },
      { "idempotency-key": "p1" },
    )
  ).body.task_id;
  approvalId = (await c.api(alice, "POST", "/approvals", { task_id: taskId, approver_role: "manager", reason: "touches prod" })).body.approval_id;
});
afterAll(() => c.stop());

async function mesh(token: string | null, ...args: string[]) {
  const proc = Bun.spawn([BINARY, ...args], {
    env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: c.url, MESH_RETRY_COUNT: "0", ...(token && { MESH_JWT_TOKEN: token }) },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

test("tasks list prints a table of what the caller may see", async () => {
  const r = await mesh(alice, "tasks", "list");
  expect(r.code).toBe(0);
  const [header, row] = r.stdout.trim().split("\n");
  expect(header).toMatch(/^TASK\s+TYPE\s+STATUS\s+FROM\s+TO ROLE\s+CLAIMED BY\s+ATTEMPT\s+CREATED\s+DEADLINE$/);
  expect(row).toContain(taskId);
  expect(row).toMatch(/deploy\s+pending\s+alice\s+worker/);
  expect((await mesh(mia, "tasks", "list", "--status", "completed")).stdout.trim()).toBe("No tasks match.");
});

test("tasks show prints the task, its approvals and history; --json prints the API's answer", async () => {
  const r = await mesh(alice, "tasks", "show", taskId);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`Task ${taskId}: deploy, pending`);
  expect(r.stdout).toContain('Data: {"env":"prod"}');
  expect(r.stdout).toContain(approvalId);
  expect(r.stdout).toMatch(/alice\s+task.created/);
  const json = JSON.parse((await mesh(alice, "tasks", "show", taskId, "--json")).stdout);
  expect(json).toMatchObject({ task_id: taskId, status: "pending", approvals: [{ approval_id: approvalId }] });
});

test("tasks show prints the task's thread and its subtasks", async () => {
  const bob = await c.token("bob", ["worker"]);
  const id = (await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "review" } }, { "idempotency-key": "talks" })).body.task_id;
  await c.api(bob, "POST", `/tasks/${id}/claim`, {});
  const child = (
    await c.api(bob, "POST", "/tasks/route", { target: "tester", task: { task_type: "test_run" }, parent_task_id: id }, { "idempotency-key": "split" })
  ).body.task_id;
  await c.api(bob, "POST", `/tasks/${id}/ask`, { attempt: 1, question: "Which branch?" });
  const shown = await mesh(alice, "tasks", "show", id);
  expect(shown.stdout).toContain(`Task ${id}: review, input_required`);
  expect(shown.stdout).toContain("Waiting for an answer from alice to bob's question");
  expect(shown.stdout).toMatch(/bob\s+question\s+Which branch\?/);
  expect(shown.stdout).toMatch(new RegExp(`${child}\\s+test_run\\s+pending\\s+tester`));
  expect((await mesh(bob, "tasks", "show", child)).stdout).toContain(`Subtask of: ${id}`);
});

test("tasks show says a dead letter's attempts and error, and tasks retry puts it back, for its sender", async () => {
  const bob = await c.token("bob", ["worker"]);
  const routed = await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "sync" }, max_attempts: 1 }, { "idempotency-key": "dead" });
  const id = routed.body.task_id;
  await c.api(bob, "POST", `/tasks/${id}/claim`, {});
  await c.api(bob, "POST", `/tasks/${id}/fail`, { attempt: 1, error: "upstream down", retry: true });
  const shown = await mesh(alice, "tasks", "show", id);
  expect(shown.stdout).toContain(`Task ${id}: sync, dead_lettered`);
  expect(shown.stdout).toContain("Attempt: 1 of 1");
  expect(shown.stdout).toContain("Dead letter: all 1 attempts are used");
  expect(shown.stdout).toContain("upstream down");
  expect((await mesh(bob, "tasks", "retry", id)).code).not.toBe(0);
  const revived = await mesh(alice, "tasks", "retry", id);
  expect(revived.code).toBe(0);
  expect(revived.stdout.trim()).toBe(`Task ${id} is pending again; it may be claimed until attempt 4.`);
});

test("approvals list and approve with a comment, as the approver", async () => {
  const list = await mesh(mia, "approvals", "list");
  expect(list.stdout).toContain(approvalId);
  expect(list.stdout).toContain("touches prod");
  const approved = await mesh(mia, "approvals", "approve", approvalId, "--comment", "go ahead");
  expect(approved.code).toBe(0);
  expect(approved.stdout.trim()).toBe(`Approval ${approvalId} approved by mia.`);
  const task = await c.api(alice, "GET", `/tasks/${taskId}`);
  expect(task.body.approvals[0]).toMatchObject({ status: "approved", comments: "go ahead" });
});

test("a refusal says what happened and what to do, and exits 1", async () => {
  const taskTwo = (await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "t" } }, { "idempotency-key": "p2" })).body.task_id;
  const ask = (await c.api(alice, "POST", "/approvals", { task_id: taskTwo, approver_role: "manager", reason: "r" })).body.approval_id;
  const r = await mesh(alice, "approvals", "reject", ask);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("Not allowed: Only holders of role manager may decide");
  expect(r.stderr).toContain("What to do:");
  expect(r.stderr).toContain("Trace id:");
});

test("no controller: says so and how to start one", async () => {
  const proc = Bun.spawnSync([BINARY, "tasks", "list"], {
    env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: "http://127.0.0.1:9", MESH_RETRY_COUNT: "0", MESH_JWT_TOKEN: alice },
  });
  expect(proc.exitCode).toBe(1);
  expect(proc.stderr.toString()).toContain("Could not reach the controller at http://127.0.0.1:9");
  expect(proc.stderr.toString()).toContain("agent-mesh controller");
});

test("a CONTROLLER_URL with a path says to use the base URL", async () => {
  // Not spawnSync: the controller answering it lives in this process.
  const proc = Bun.spawn([BINARY, "tasks", "list"], {
    env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: `${c.url}api`, MESH_RETRY_COUNT: "0", MESH_JWT_TOKEN: alice },
    stderr: "pipe",
  });
  expect(await proc.exited).toBe(1);
  expect(await new Response(proc.stderr).text()).toContain("Set CONTROLLER_URL to the controller's base URL");
});

test("a token given with its Bearer prefix is refused before any request, saying so", async () => {
  const r = await mesh(`Bearer ${alice}`, "tasks", "list");
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('MESH_JWT_TOKEN: give the token alone, without "Bearer "');
});

test("usage errors exit 2 with one line", async () => {
  for (const args of [
    ["tasks", "show"],
    ["tasks", "frob"],
    ["approvals", "approve"],
    ["tasks", "list", "--status", "done"],
    ["mcp", "--port", "9999"],
  ]) {
    const r = await mesh(alice, ...args);
    expect(r.code, args.join(" ")).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  }
  expect((await mesh(null, "tasks", "list")).stderr).toContain("MESH_JWT_TOKEN");
});

test("login prints a one-time link that signs a person in to the page, and says how long it holds", async () => {
  const r = await mesh(null, "login", "--sub", "dana", "--role", "manager", "--data-dir", c.dataDir, "--url", c.url, "--ttl", "5m");
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("within 5 min; it signs in dana once");
  const link = new URL(r.stdout.trim());
  expect(`${link.origin}/`).toBe(c.url);
  expect(link.pathname).toBe("/login/link");
  const posted = await postLink(c.url, { ticket: link.searchParams.get("ticket")! });
  expect(posted.status).toBe(303);
  const me = await fetch(new URL("/me", c.url), { headers: { cookie: posted.headers.get("set-cookie")!.split(";")[0]! } });
  expect(await me.json()).toEqual({ subject: "dana", roles: ["manager"], is_admin: false });
});

test("login without --sub, or with a role the API could not name: exit 2 and one line saying what to do", async () => {
  for (const [args, message] of [
    [["login"], /--sub \/ MESH_LOGIN_SUB: is required: who signs in/],
    [["login", "--sub", "dana", "--role", "two words"], /--role: role may hold letters, digits/],
  ] as const) {
    const r = await mesh(null, ...args, "--data-dir", c.dataDir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }
});

test("a list cut at --limit says more match; approvals say whether you may decide each", async () => {
  const more = (await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "deploy" } }, { "idempotency-key": "p-more" })).body.task_id;
  const asked = (await c.api(alice, "POST", "/approvals", { task_id: more, approver_role: "manager", reason: "touches prod too" })).body.approval_id;
  const cut = await mesh(alice, "tasks", "list", "--limit", "1");
  expect(cut.stdout.trim().split("\n").at(-1)).toBe("More tasks match than --limit 1 shows; raise --limit or narrow the filters.");
  const approvals = async (token: string) => (await mesh(token, "approvals", "list", "--json")).stdout;
  expect(JSON.parse(await approvals(mia)).items.find((a: any) => a.approval_id === asked).may_decide).toEqual({ allowed: true });
  const table = (await mesh(mia, "approvals", "list")).stdout.trim().split("\n");
  expect(table[0]).toContain("YOU MAY DECIDE");
  expect(table.find((line) => line.startsWith(asked))).toMatch(/\byes\b/);
  const asker = (await mesh(alice, "approvals", "list")).stdout.trim().split("\n");
  expect(asker.find((line) => line.startsWith(asked))).toContain("no (not an approver)");
});
