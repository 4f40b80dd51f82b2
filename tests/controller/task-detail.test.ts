/**
 * A task's detail has a size bound however long the task lives: the newest history
 * entries and approvals, with links to paginated lists of the rest; and one task may
 * have only so many approvals waiting at once. On both engines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LIMITS } from "../../src/contract/schemas.ts";
import type { TestController } from "../support/controller.ts";
import { CONTROLLER_ENGINES } from "../support/engines.ts";

for (const engine of CONTROLLER_ENGINES) {
  describe(`task detail: ${engine.name}`, () => {
    const OPEN = 3;
    let c: TestController;
    let alice: string;
    let lead: string;

    beforeAll(async () => {
      c = await engine.start({ MESH_MAX_OPEN_APPROVALS_PER_TASK: String(OPEN) });
      alice = await c.token("alice", ["dev"]);
      lead = await c.token("lena", ["lead"]);
    });
    afterAll(() => c?.stop());

    const newTask = async () =>
      (await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "review" } }, { "idempotency-key": crypto.randomUUID() })).body
        .task_id as string;
    const ask = (task_id: string, reason = "r") => c.api(alice, "POST", "/approvals", { task_id, approver_role: "lead", reason });

    /** Every item of a paginated list, following next_cursor until it is null. */
    async function all(path: string) {
      const items: any[] = [];
      for (let next: string | null = path; next; ) {
        const res = await c.api(alice, "GET", next);
        expect(res.status).toBe(200);
        items.push(...res.body.items);
        next = res.body.next_cursor && `${path.split("?")[0]}?cursor=${res.body.next_cursor}`;
      }
      return items;
    }

    test("a task may have only so many approvals waiting; a decision frees a place", async () => {
      const id = await newTask();
      for (let i = 0; i < OPEN; i++) expect((await ask(id)).status).toBe(202);
      const refused = await ask(id);
      expect(refused.status).toBe(409);
      expect(refused.body.detail).toContain("MESH_MAX_OPEN_APPROVALS_PER_TASK");
      const [first] = (await c.api(alice, "GET", `/approvals?task_id=${id}`)).body.items;
      expect((await c.api(lead, "POST", `/approvals/${first.approval_id}/decision`, { decision: "rejected" })).status).toBe(200);
      expect((await ask(id)).status).toBe(202);
    });

    test("shows the newest history and approvals, oldest first, and links to the rest", async () => {
      const id = await newTask();
      // Asked and rejected in turn, so the open-approval limit never stops the task gathering more.
      const asked: string[] = [];
      const count = LIMITS.detailApprovals + 5;
      for (let i = 0; i < count; i++) {
        const { approval_id } = (await ask(id, `reason ${i}`)).body;
        asked.push(approval_id);
        expect((await c.api(lead, "POST", `/approvals/${approval_id}/decision`, { decision: "rejected" })).status).toBe(200);
      }
      const detail = (await c.api(alice, "GET", `/tasks/${id}`)).body;
      expect(detail.approvals.map((a: any) => a.approval_id)).toEqual(asked.slice(-LIMITS.detailApprovals));
      expect(detail.history).toHaveLength(LIMITS.detailHistory);
      // created, then asked and decided for each approval
      const entries = 1 + 2 * count;
      expect(detail.history.at(-1).action).toBe("approval.rejected");
      expect(detail.history.map((h: any) => h.seq)).toEqual([...detail.history.map((h: any) => h.seq)].sort((a, b) => a - b));

      // The links lead to everything, newest first, the shown ones included.
      const approvals = await all(detail.older_approvals.replace(/\?.*/, ""));
      expect(approvals.map((a) => a.approval_id)).toEqual(asked.toReversed());
      const history = await all(detail.older_history.replace(/\?.*/, ""));
      expect(history).toHaveLength(entries);
      expect(history.at(-1).action).toBe("task.created");
      // and the link itself continues just after what the detail shows
      const older = await all(detail.older_approvals);
      expect(older.map((a) => a.approval_id)).toEqual(asked.slice(0, count - LIMITS.detailApprovals).toReversed());
    });

    test("a short-lived task's detail shows it all and links to nothing", async () => {
      const id = await newTask();
      await ask(id);
      const detail = (await c.api(alice, "GET", `/tasks/${id}`)).body;
      expect(detail.approvals).toHaveLength(1);
      expect(detail.history.map((h: any) => h.action)).toEqual(["task.created", "approval.requested"]);
      expect(detail).toMatchObject({ older_history: null, older_approvals: null });
    });

    test("a body is measured as it is stored: numbers written out in full count, so a small body cannot grow past the limit", async () => {
      // `9e20` is 4 bytes sent and 21 stored: 200,000 of them are 1 MB sent, 4.4 MB stored.
      const numbers = `[${Array.from({ length: 200_000 }, () => "9e20").join(",")}]`;
      const body = `{"target":"worker","task":{"task_type":"t","data":{"n":${numbers}}}}`;
      expect(body.length).toBeLessThan(LIMITS.bodyBytes);
      const before = (await c.api(alice, "GET", "/tasks?source=alice&limit=200")).body.items.length;
      const res = await c.api(alice, "POST", "/tasks/route", body, { "idempotency-key": crypto.randomUUID() });
      expect(res.status).toBe(413);
      expect(res.body.detail).toContain("as the controller stores it");
      expect((await c.api(alice, "GET", "/tasks?source=alice&limit=200")).body.items.length).toBe(before);
      const fits = `[${Array.from({ length: 40_000 }, () => "9e20").join(",")}]`;
      expect(
        (
          await c.api(alice, "POST", "/tasks/route", `{"target":"worker","task":{"task_type":"t","data":{"n":${fits}}}}`, {
            "idempotency-key": crypto.randomUUID(),
          })
        ).status,
      ).toBe(202);
    });

    test("a task's lists are for its readers only", async () => {
      const id = await newTask();
      const eve = await c.token("eve", ["other"]);
      for (const list of ["history", "approvals"]) {
        expect((await c.api(eve, "GET", `/tasks/${id}/${list}`)).status).toBe(403);
        expect((await c.api(alice, "GET", `/tasks/no-such-task/${list}`)).status).toBe(404);
      }
    });
  });
}
