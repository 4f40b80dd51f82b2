/**
 * Two agents talk through a task: the compiled binary over stdio, driven by the official
 * SDK client, against a real controller on each engine. The taker asks, the sender's
 * fetch_status(wait) wakes on the question, the sender answers, the taker finishes; a
 * planner splits its task and waits for the subtask in one call. The thread survives the
 * controller's kill -9 and restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createTestDatabase, type TestDatabase } from "../postgres/database.ts";
import { apiClient, spawnController, tempDir, tokenFor, type SpawnedController } from "../support/controller.ts";
import { startAgent, type Agent } from "./support/agent.ts";

for (const engine of ["sqlite", "postgres"] as const) {
  describe(`two agents talk through a task: ${engine}`, () => {
    const dataDir = tempDir();
    let db: TestDatabase | null = null;
    let controller: SpawnedController;
    let port = 0;
    const agents: Agent[] = [];

    const start = async () => {
      // Leases of 1 s: whatever this session holds must be kept renewed, also while it waits for an answer.
      controller = await spawnController(["--data-dir", dataDir], { port, env: { MESH_LEASE_SECONDS: "1", ...(db ? { MESH_DATABASE_URL: db.url() } : {}) } });
      port = controller.port;
    };
    const agent = async (name: string, roles: string[], env: Record<string, string> = {}) => {
      const a = await startAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await tokenFor(dataDir, name, roles), ...env });
      agents.push(a);
      return a;
    };

    beforeAll(async () => {
      if (engine === "postgres") db = await createTestDatabase();
      await start();
    });
    afterAll(async () => {
      await Promise.all(agents.map((a) => a.close().catch(() => {})));
      await controller.stop();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("the taker asks, the sender's wait wakes on the question and answers, the taker finishes; the thread survives kill -9", async () => {
      const sender = await agent("alice", ["dev"]);
      const taker = await agent("bob", ["reviewer"]);
      const sent = await sender.call("send_task", { target: "reviewer", task: { task_type: "code_review", description: "Review the fix" } });
      const id = sent.structured.task_id as string;
      expect((await taker.call("claim_task", { task_id: id })).structured.task.status).toBe("claimed");
      const { version } = (await sender.call("fetch_status", { task_id: id })).structured.task;

      const waiting = sender.call("fetch_status", { task_id: id, wait_seconds: 30, after_version: version });
      const asked = await taker.call("ask_sender", { task_id: id, question: "Which branch?", data: { choices: ["main", "fix-7"] } });
      const askedAt = performance.now();
      expect(asked.isError).toBeFalsy();
      expect(asked.structured.task).toMatchObject({ status: "input_required", claimed_by: "bob" });
      const woke = await waiting;
      console.log(`[figure] ${engine}: the sender's fetch_status(wait) answered ${(performance.now() - askedAt).toFixed(0)} ms after ask_sender returned`);
      expect(woke.structured.task.status).toBe("input_required");
      expect(woke.structured.task.thread).toMatchObject([{ kind: "question", author: "bob", text: "Which branch?" }]);
      expect(woke.text).toContain("reply_to_task");

      // The taker says how far along it is while it waits; the wait outlasts a lease, and so does the time after the answer.
      expect((await taker.call("report_progress", { task_id: id, message: "read the diff; waiting for the branch" })).isError).toBeFalsy();
      await Bun.sleep(2500);
      const replied = await sender.call("reply_to_task", { task_id: id, answer: "fix-7" });
      expect(replied.isError).toBeFalsy();
      expect(replied.structured.task).toMatchObject({ status: "claimed", claimed_by: "bob" });
      await Bun.sleep(2500);
      const seen = await taker.call("fetch_status", { task_id: id });
      expect(seen.structured.task).toMatchObject({ status: "claimed", claimed_by: "bob", attempt: 1 });
      expect(seen.text).toContain("answer from alice");
      const inbox = await taker.call("check_inbox", { status: "claimed" });
      expect(inbox.structured.threads[id].map((m: { kind: string }) => m.kind)).toEqual(["question", "answer"]);
      expect(inbox.text).toContain("answer from alice at");
      expect((await taker.call("complete_task", { task_id: id, result: { approved: true } })).structured.task.status).toBe("completed");

      await controller.kill9();
      await start();
      const token = await tokenFor(dataDir, "alice", ["dev"]);
      const after = (await apiClient(controller.url)(token, "GET", `/tasks/${id}`)).body;
      expect(after.status).toBe("completed");
      expect(after.thread.map((m: any) => [m.kind, m.author, m.text, m.data])).toEqual([
        ["question", "bob", "Which branch?", { choices: ["main", "fix-7"] }],
        ["answer", "alice", "fix-7", null],
      ]);
    });

    test("a planner splits its task, waits for the subtask in one call, and may not complete before it is done unless forced", async () => {
      const sender = await agent("carol", ["dev"]);
      // A 1 s lease: the planner's session must keep renewing it while the subtask runs.
      const planner = await agent("paul", ["planner"], { MESH_LEASE_SECONDS: "1" });
      const tester = await agent("tina", ["tester"]);
      const epic = (await sender.call("send_task", { target: "planner", task: { task_type: "epic" } })).structured.task_id as string;
      await planner.call("claim_task", { task_id: epic });
      const sub = await planner.call("send_task", { target: "tester", task: { task_type: "test" }, parent_task_id: epic });
      expect(sub.isError).toBeFalsy();
      const child = sub.structured.task_id as string;
      const early = await planner.call("complete_task", { task_id: epic });
      expect(early.isError).toBe(true);
      expect(early.text).toContain("unfinished subtask");
      // The refusal left the task the planner's: its session still renews the lease, well past one lease.
      await Bun.sleep(2500);
      expect((await planner.call("fetch_status", { task_id: epic })).structured.task).toMatchObject({ status: "claimed", claimed_by: "paul", attempt: 1 });

      const { version } = (await planner.call("fetch_status", { task_id: epic })).structured.task;
      const waiting = planner.call("fetch_status", { task_id: epic, wait_seconds: 30, after_version: version });
      await tester.call("claim_task", { task_id: child });
      const woke = (await waiting).structured.task;
      expect(woke.children).toMatchObject([{ task_id: child, status: "claimed", claimed_by: "tina" }]);
      await tester.call("complete_task", { task_id: child, result: { passed: true } });
      expect((await planner.call("complete_task", { task_id: epic })).structured.task.status).toBe("completed");
    });
  });
}
