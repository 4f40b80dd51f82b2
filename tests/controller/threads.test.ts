/**
 * Tasks that talk and split, on both engines, against a real controller over HTTP: the
 * holder asks, the sender answers, notes from either side, a thread only the task's
 * readers read; subtasks only the parent's holder adds, a parent that waits for its
 * children, a cancel that reaches every unfinished descendant once, a completion
 * refused while children run unless forced.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LIMITS } from "../../src/contract/schemas.ts";
import { until } from "../postgres/cluster.ts";
import { openSse } from "../support/sse.ts";
import type { TestController } from "../support/controller.ts";
import { CONTROLLER_ENGINES } from "../support/engines.ts";

for (const engine of CONTROLLER_ENGINES) {
  describe(`tasks that talk and split: ${engine.name}`, () => {
    let c: TestController;
    let alice: string;
    let bob: string;
    let carol: string;
    let dave: string;
    let eve: string;

    beforeAll(async () => {
      c = await engine.start();
      [alice, bob, carol, dave, eve] = await Promise.all([
        c.token("alice", ["dev"]),
        c.token("bob", ["worker"]),
        c.token("carol", ["worker"]),
        c.token("dave", ["tester"]),
        c.token("eve", ["outsider"]),
      ]);
    });
    afterAll(() => c.stop());

    const route = async (token: string, target = "worker", extra: Record<string, unknown> = {}) => {
      const res = await c.api(token, "POST", "/tasks/route", { target, task: { task_type: "review" }, ...extra }, { "idempotency-key": crypto.randomUUID() });
      return res;
    };
    const routed = async (token: string, target = "worker", extra: Record<string, unknown> = {}) => {
      const res = await route(token, target, extra);
      expect(res.status).toBe(202);
      return res.body.task_id as string;
    };
    const post = (token: string, id: string, move: string, body: unknown = {}) => c.api(token, "POST", `/tasks/${id}/${move}`, body);
    const read = async (id: string, token = alice) => (await c.api(token, "GET", `/tasks/${id}`)).body;
    const claimed = async (token: string, id: string, lease = 60) => {
      const res = await post(token, id, "claim", { lease_seconds: lease });
      expect(res.status).toBe(200);
      return res.body.attempt as number;
    };

    test("the holder asks, the sender's wait wakes on the question, the answer gives the task back to the same holder", async () => {
      const id = await routed(alice);
      const attempt = await claimed(bob, id);
      const { version } = await read(id);
      const waiting = c.api(alice, "GET", `/tasks/${id}?wait=30&after_version=${version}`);
      const asked = await post(bob, id, "ask", { attempt, question: "Which branch?", data: { choices: ["main", "dev"] } });
      expect(asked.status).toBe(200);
      expect(asked.body).toMatchObject({ status: "input_required", claimed_by: "bob", attempt });
      const woke = (await waiting).body;
      expect(woke.status).toBe("input_required");
      expect(woke.thread).toMatchObject([{ kind: "question", author: "bob", text: "Which branch?", data: { choices: ["main", "dev"] } }]);

      const answered = await post(alice, id, "reply", { answer: "dev" });
      expect(answered.body).toMatchObject({ status: "claimed", claimed_by: "bob", attempt });
      expect((await post(bob, id, "complete", { attempt, result: { branch: "dev" } })).body.status).toBe("completed");
      const done = await read(id);
      expect(done.thread.map((m: any) => [m.kind, m.author, m.text])).toEqual([
        ["question", "bob", "Which branch?"],
        ["answer", "alice", "dev"],
      ]);
      expect(done.history.map((h: any) => h.action)).toEqual(["task.created", "task.claimed", "task.input_required", "task.answered", "task.completed"]);
    });

    test("the sender's event stream carries the question, and a parent's holder hears its subtasks' changes", async () => {
      const id = await routed(alice);
      const attempt = await claimed(bob, id);
      const child = await routed(bob, "tester", { parent_task_id: id });
      const stream = await openSse(new URL("/events", c.url).href, alice);
      try {
        await post(bob, id, "ask", { attempt, question: "Which one?" });
        const heard = await stream.next(10_000);
        expect(heard).toMatchObject({ event: "task.input_required", data: { task_id: id, to_status: "input_required", parent_task_id: null } });
      } finally {
        stream.close();
      }
      const planner = await openSse(new URL("/events", c.url).href, bob);
      try {
        await claimed(dave, child);
        expect(await planner.next(10_000)).toMatchObject({ event: "task.claimed", data: { task_id: child, parent_task_id: id } });
      } finally {
        planner.close();
      }
    });

    test("the wrong callers are refused: asking, answering, noting and reading the thread", async () => {
      const id = await routed(alice);
      const attempt = await claimed(bob, id);
      expect((await post(carol, id, "ask", { attempt, question: "Mine?" })).status).toBe(403);
      expect((await post(alice, id, "reply", { answer: "too early" })).status).toBe(409);
      await post(bob, id, "ask", { attempt, question: "Which file?" });
      expect((await post(bob, id, "reply", { answer: "answering myself" })).status).toBe(403);
      expect((await post(carol, id, "reply", { answer: "not mine to answer" })).status).toBe(403);
      expect((await post(eve, id, "notes", { text: "hello" })).status).toBe(403);
      expect((await post(carol, id, "notes", { text: "not its holder" })).status).toBe(403);
      expect((await c.api(eve, "GET", `/tasks/${id}`)).status).toBe(403);
      // Whoever may read the task reads its thread: here another holder of its role.
      expect((await read(id, carol)).thread).toMatchObject([{ kind: "question", text: "Which file?" }]);
    });

    test("either side adds notes without moving the task; a finished task's thread is closed", async () => {
      const id = await routed(alice);
      const note = await post(alice, id, "notes", { text: "Also check the README", data: { file: "README.md" } });
      expect(note.status).toBe(200);
      expect(note.body).toMatchObject({ kind: "note", author: "alice", text: "Also check the README", data: { file: "README.md" } });
      expect((await read(id)).status).toBe("pending");
      const attempt = await claimed(bob, id);
      expect((await post(bob, id, "notes", { text: "Halfway there" })).status).toBe(200);
      const task = await read(id);
      expect(task.status).toBe("claimed");
      expect(task.thread.map((m: any) => [m.kind, m.author])).toEqual([
        ["note", "alice"],
        ["note", "bob"],
      ]);
      await post(bob, id, "complete", { attempt });
      expect((await post(alice, id, "notes", { text: "late" })).status).toBe(409);
    });

    test("a thread message's data is as small as its text: more is a 422 naming it, and nothing is added", async () => {
      const id = await routed(alice);
      const big = await post(alice, id, "notes", { text: "see data", data: { blob: "x".repeat(LIMITS.textLength) } });
      expect(big.status).toBe(422);
      expect(big.body.errors).toEqual([{ field: "data", message: `must be at most ${LIMITS.textLength} bytes as JSON` }]);
      expect((await read(id)).thread).toEqual([]);
    });

    test("a lease does not run out while the task waits for an answer, and its deadline still holds", async () => {
      const id = await routed(alice, "worker", { deadline_seconds: 4 });
      const attempt = await claimed(bob, id, 1);
      await post(bob, id, "ask", { attempt, question: "Which one?" });
      // Past the 1 s lease: a claimed task would be pending again by now.
      await Bun.sleep(2500);
      expect(await read(id)).toMatchObject({ status: "input_required", claimed_by: "bob", attempt });
      await until(async () => (await read(id)).status === "expired", "the deadline passed while waiting for an answer");
      expect((await read(id)).history.map((h: any) => h.action)).toEqual(["task.created", "task.claimed", "task.input_required", "task.expired"]);
    });

    test("once answered, the task's lease runs again: a holder that no longer renews loses it", async () => {
      const quick = await engine.start({ MESH_LEASE_SECONDS: "1" });
      try {
        const [sender, holder] = await Promise.all([quick.token("alice", ["dev"]), quick.token("bob", ["worker"])]);
        const res = await quick.api(sender, "POST", "/tasks/route", { target: "worker", task: { task_type: "review" } }, { "idempotency-key": "quick" });
        const id = res.body.task_id;
        const { attempt } = (await quick.api(holder, "POST", `/tasks/${id}/claim`, {})).body;
        await quick.api(holder, "POST", `/tasks/${id}/ask`, { attempt, question: "Which one?" });
        // Past the claim's lease: the clocks looked then and found nothing due, as the task waited.
        await Bun.sleep(1500);
        await quick.api(sender, "POST", `/tasks/${id}/reply`, { answer: "This one" });
        await until(async () => (await quick.api(sender, "GET", `/tasks/${id}`)).body.status === "pending", "the lease lapsed after the answer");
        expect((await quick.api(sender, "GET", `/tasks/${id}`)).body.history.map((h: any) => h.action).slice(-2)).toEqual([
          "task.answered",
          "task.lease_lapsed",
        ]);
      } finally {
        await quick.stop();
      }
    });

    test("only the parent's holder adds subtasks, while it holds the parent", async () => {
      const parent = await routed(alice);
      const notYetHeld = await route(bob, "tester", { parent_task_id: parent });
      expect(notYetHeld.status).toBe(409);
      await claimed(bob, parent);
      expect((await route(carol, "tester", { parent_task_id: parent })).status).toBe(403);
      expect((await route(alice, "tester", { parent_task_id: parent })).status).toBe(403);
      const child = await routed(bob, "tester", { parent_task_id: parent });
      expect((await read(child, bob)).parent_task_id).toBe(parent);
      expect((await read(parent)).children).toMatchObject([{ task_id: child, status: "pending", target: "tester" }]);
    });

    test("a parent's wait wakes when a child changes, and it cannot be completed while children run unless forced", async () => {
      const parent = await routed(alice);
      const attempt = await claimed(bob, parent);
      const child = await routed(bob, "tester", { parent_task_id: parent });
      const { version } = await read(parent, bob);
      const waiting = c.api(bob, "GET", `/tasks/${parent}?wait=30&after_version=${version}`);
      const childAttempt = await claimed(dave, child);
      const woke = (await waiting).body;
      expect(woke.children).toMatchObject([{ task_id: child, status: "claimed", claimed_by: "dave" }]);

      const refused = await post(bob, parent, "complete", { attempt });
      expect(refused.status).toBe(409);
      expect(refused.body.detail).toContain("unfinished subtask");
      await post(dave, child, "complete", { attempt: childAttempt });
      expect((await post(bob, parent, "complete", { attempt })).body.status).toBe("completed");

      const other = await routed(alice);
      const otherAttempt = await claimed(bob, other);
      await routed(bob, "tester", { parent_task_id: other });
      expect((await post(bob, other, "complete", { attempt: otherAttempt, force: true })).body.status).toBe("completed");
    });

    test("cancelling the root of a three-level tree cancels every unfinished descendant once", async () => {
      const root = await routed(alice);
      await claimed(bob, root);
      const done = await routed(bob, "tester", { parent_task_id: root });
      const doneAttempt = await claimed(dave, done);
      await post(dave, done, "complete", { attempt: doneAttempt });
      const middle = await routed(bob, "tester", { parent_task_id: root });
      await claimed(dave, middle);
      const leaves = [await routed(dave, "worker", { parent_task_id: middle }), await routed(dave, "worker", { parent_task_id: middle })];
      const pendingChild = await routed(bob, "tester", { parent_task_id: root });

      const cancelled = await post(alice, root, "cancel", { reason: "not needed" });
      expect(cancelled.body.status).toBe("cancelled");
      for (const id of [middle, pendingChild, ...leaves]) {
        const task = await read(id, bob);
        expect(task.status, id).toBe("cancelled");
        expect(
          task.history.filter((h: any) => h.action === "task.cancelled"),
          id,
        ).toHaveLength(1);
      }
      expect((await read(done, bob)).status).toBe("completed");
      // Cancelling again changes nothing more.
      expect((await post(alice, root, "cancel", {})).status).toBe(409);
    });

    test(`subtasks nest at most ${LIMITS.subtaskDepth} levels`, async () => {
      let parent = await routed(alice);
      await claimed(bob, parent);
      for (let level = 2; level <= LIMITS.subtaskDepth; level++) {
        parent = await routed(bob, "worker", { parent_task_id: parent });
        await claimed(bob, parent);
      }
      const tooDeep = await route(bob, "worker", { parent_task_id: parent });
      expect(tooDeep.status).toBe(409);
      expect(tooDeep.body.detail).toContain(`at most ${LIMITS.subtaskDepth} levels`);
    });

    test(`a task has at most ${LIMITS.subtasksPerTask} subtasks`, async () => {
      const parent = await routed(alice);
      await claimed(bob, parent);
      for (let i = 0; i < LIMITS.subtasksPerTask; i++) await routed(bob, "tester", { parent_task_id: parent });
      const oneTooMany = await route(bob, "tester", { parent_task_id: parent });
      expect(oneTooMany.status).toBe(409);
      expect(oneTooMany.body.detail).toContain(`already has ${LIMITS.subtasksPerTask} subtasks`);
      expect((await read(parent)).children).toHaveLength(LIMITS.subtasksPerTask);
    });
  });
}
