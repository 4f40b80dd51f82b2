/**
 * The approvals page in a real browser (Debian's chromium through playwright-core),
 * against a real controller, with an agent on the other side: the compiled binary
 * over stdio, driven by the official MCP client.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { startAgent, type Agent } from "../mcp/support/agent.ts";
import { BROWSER_SETUP_MS, launchBrowser } from "../support/browser.ts";
import { startTestController, type TestController } from "../support/controller.ts";
import { loginLink } from "../support/web.ts";

let browser: Browser;
let c: TestController;
let planner: Agent;
beforeAll(async () => {
  browser = await launchBrowser();
  c = await startTestController();
  planner = await startAgent({ CONTROLLER_URL: c.url, MESH_JWT_TOKEN: await c.token("planner", ["planner"]) });
}, BROWSER_SETUP_MS);
afterAll(async () => {
  await planner?.close();
  await browser?.close();
  await c?.stop();
});

/** A person opens the link `agent-mesh login` printed and presses its button. */
async function signedIn(subject: string, roles: string[]): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(await loginLink(c, subject, roles));
  await page.getByRole("button", { name: `Sign in as ${subject}` }).click();
  await page.waitForURL(c.url);
  return page;
}

async function askForApproval(target: string, reason: string) {
  const sent = await planner.call("send_task", {
    target,
    task: { task_type: "deploy", description: "Roll out release 2.4 to production", data: { release: "2.4" } },
  });
  const asked = await planner.call("request_approval", { task_id: sent.structured.task_id, approver_role: "release-approver", reason });
  return { taskId: sent.structured.task_id as string, approvalId: asked.structured.approval_id as string };
}

test("an approval an agent asks for appears without a reload; approved with a comment, the agent's fetch_status shows it", async () => {
  const page = await signedIn("ada", ["release-approver"]);
  await page.getByText("ada").filter({ visible: true }).first().waitFor();
  // Set on this document: still there later means the page never reloaded.
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

  const { taskId, approvalId } = await askForApproval("deployer", "Touches production");
  const item = page.locator(`[data-approval-id="${approvalId}"]`);
  await item.waitFor({ timeout: 15_000 });
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);

  await item.getByRole("link").first().click();
  await page.getByText("Touches production").filter({ visible: true }).first().waitFor();
  await page.getByText("Roll out release 2.4 to production").filter({ visible: true }).first().waitFor();
  await page.getByLabel("Comment").fill("Checked the rollout plan");
  await page.getByRole("button", { name: "Approve" }).click();
  await page
    .getByRole("status")
    .getByText(/approved/i)
    .waitFor();

  const status = await planner.call("fetch_status", { task_id: taskId });
  expect(status.structured.task.approvals[0]).toMatchObject({ status: "approved", decided_by: "ada", comments: "Checked the rollout plan" });
  // The decision moves to the person's own history.
  await page.getByRole("link", { name: /My decisions/ }).click();
  await page.locator(`[data-approval-id="${approvalId}"]`).waitFor();
});

test("a person without the approver role sees the approval but is offered no decision, and is told why", async () => {
  const page = await signedIn("dev", ["deployer"]);
  const { approvalId } = await askForApproval("deployer", "Needs a second pair of eyes");
  await page.goto(new URL(`/?approval=${approvalId}`, c.url).href);
  await page.getByText("Needs a second pair of eyes").filter({ visible: true }).first().waitFor();
  await page
    .getByText(/release-approver/)
    .filter({ visible: true })
    .first()
    .waitFor();
  expect(await page.getByRole("button", { name: "Approve" }).count()).toBe(0);
  expect(await page.getByRole("button", { name: "Reject" }).count()).toBe(0);
  expect((await c.api(await c.token("planner", ["planner"]), "GET", `/approvals/${approvalId}`)).body.status).toBe("pending");
});

test("a page opened with no session goes to sign-in, and comes back to the approval it was opened for", async () => {
  const { approvalId } = await askForApproval("deployer", "Opened from a chat link");
  const page = await (await browser.newContext()).newPage();
  await page.goto(new URL(`/?approval=${approvalId}`, c.url).href);
  expect(new URL(page.url()).pathname).toBe("/login");
  await page
    .getByText(/--sub YOUR-NAME --role ROLE/)
    .filter({ visible: true })
    .first()
    .waitFor();

  const link = new URL(await loginLink(c, "ada", ["release-approver"]));
  await page.goto(`${link.href}&next=${encodeURIComponent(`/?approval=${approvalId}`)}`);
  await page.getByRole("button", { name: "Sign in as ada" }).click();
  await page.getByText("Opened from a chat link").filter({ visible: true }).first().waitFor();
  expect(new URL(page.url()).searchParams.get("approval")).toBe(approvalId);
});

test("rejecting works from the keyboard alone", async () => {
  const page = await signedIn("ada", ["release-approver"]);
  const { approvalId } = await askForApproval("deployer", "Keyboard only");
  const item = page.locator(`[data-approval-id="${approvalId}"]`);
  await item.waitFor({ timeout: 15_000 });
  await item.getByRole("link").first().focus();
  await page.keyboard.press("Enter");
  await page.getByLabel("Comment").focus();
  await page.keyboard.type("Not this week");
  await page.getByRole("button", { name: "Reject" }).focus();
  await page.keyboard.press("Enter");
  await page
    .getByRole("status")
    .getByText(/rejected/i)
    .waitFor();
  const approval = (await c.api(await c.token("planner", ["planner"]), "GET", `/approvals/${approvalId}`)).body;
  expect(approval).toMatchObject({ status: "rejected", decided_by: "ada", comments: "Not this week" });
});

test("an approval has one title: its reason, in the list and in full", async () => {
  const page = await signedIn("ada", ["release-approver"]);
  const { approvalId } = await askForApproval("deployer", "Schema migration locks the orders table");
  const item = page.locator(`#list-pending [data-approval-id="${approvalId}"]`);
  await item.waitFor({ timeout: 15_000 });
  const listed = await item.locator(".title").textContent();
  await item.getByRole("link").first().click();
  const heading = page.locator(`h1#detail-title[data-approval-id="${approvalId}"]`);
  await heading.waitFor();
  expect(listed).toBe("Schema migration locks the orders table");
  expect(await heading.textContent()).toBe(listed);
  // The task's description is still there, as the task's.
  await page.locator("#slot-task").getByText("Roll out release 2.4 to production").waitFor();
});

test("a person who sent a task reads the question on the page and answers it there; the page shows the task's subtasks", async () => {
  const worker = await startAgent({ CONTROLLER_URL: c.url, MESH_JWT_TOKEN: await c.token("rita", ["reviewer"]) });
  try {
    const routed = await c.api(
      await c.token("ada", ["release-approver"]),
      "POST",
      "/tasks/route",
      { target: "reviewer", task: { task_type: "code_review", description: "Review the retry fix" } },
      { "idempotency-key": crypto.randomUUID() },
    );
    const taskId = routed.body.task_id as string;
    await worker.call("claim_task", { task_id: taskId });
    const sub = await worker.call("send_task", { target: "tester", task: { task_type: "test_run" }, parent_task_id: taskId });
    await worker.call("ask_sender", { task_id: taskId, question: "Which branch holds the fix?" });

    const page = await signedIn("ada", ["release-approver"]);
    await page.goto(new URL(`/?task=${taskId}`, c.url).href);
    await page.getByText("Which branch holds the fix?").filter({ visible: true }).first().waitFor();
    await page.locator(`[data-task-id="${sub.structured.task_id}"]`).waitFor();
    await page.getByLabel("Your answer").fill("fix-retries");
    await page.getByRole("button", { name: "Send answer" }).click();
    await page
      .getByRole("status")
      .getByText(/Answer sent/)
      .waitFor();

    const status = (await worker.call("fetch_status", { task_id: taskId })).structured.task;
    expect(status).toMatchObject({ status: "claimed", claimed_by: "rita" });
    expect(status.thread.map((m: { kind: string; author: string; text: string }) => [m.kind, m.author, m.text])).toEqual([
      ["question", "rita", "Which branch holds the fix?"],
      ["answer", "ada", "fix-retries"],
    ]);
  } finally {
    await worker.close();
  }
});

test("a dead-lettered task shows its attempts and error, and its sender puts it back with the Retry button; a worker is offered none", async () => {
  const worker = await c.token("wes", ["syncer"]);
  const routed = await c.api(
    await c.token("pia", ["ops"]),
    "POST",
    "/tasks/route",
    { target: "syncer", task: { task_type: "sync" }, max_attempts: 1 },
    { "idempotency-key": crypto.randomUUID() },
  );
  const id = routed.body.task_id;
  await c.api(worker, "POST", `/tasks/${id}/claim`, {});
  await c.api(worker, "POST", `/tasks/${id}/fail`, { attempt: 1, error: "upstream down", retry: true });

  const onlooker = await signedIn("wes", ["syncer"]);
  await onlooker.goto(new URL(`/?task=${id}`, c.url).href);
  await onlooker.getByText("upstream down").filter({ visible: true }).first().waitFor();
  expect(await onlooker.locator("#retry-task").count()).toBe(0);

  const sender = await signedIn("pia", ["ops"]);
  await sender.goto(new URL(`/?task=${id}`, c.url).href);
  await sender.getByText("1 of 1").filter({ visible: true }).first().waitFor();
  await sender.locator('.badge[data-status="dead_lettered"]', { hasText: "Dead lettered" }).filter({ visible: true }).first().waitFor();
  await sender.getByRole("button", { name: "Retry: put it back to pending" }).click();
  await sender.locator("#retry-task").waitFor({ state: "detached" });
  expect((await c.api(worker, "GET", `/tasks/${id}`)).body).toMatchObject({ status: "pending", max_attempts: 4 });
});

test("the tasks view lists who serves each role: how many workers and waiting sessions, and when last seen", async () => {
  await c.api(await c.token("build-bot", ["builder"]), "POST", "/roles/presence", { kind: "worker", instance: "page-test" });
  const page = await signedIn("pia", ["ops"]);
  await page.goto(new URL("/?view=tasks", c.url).href);
  const builder = page.locator('#list-roles [data-role="builder"]');
  await builder.waitFor();
  expect(await builder.textContent()).toContain("1 worker, 0 waiting sessions");
});
