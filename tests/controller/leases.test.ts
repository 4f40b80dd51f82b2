/**
 * Work always finishes: leases that lapse, fencing by attempt, retries and dead letters,
 * deadlines and approvals that expire or escalate, on both engines, against a real
 * controller over HTTP whose own clocks act (leases of 1 s keep it quick).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CONTROLLER_ENGINES } from "../support/engines.ts";
import { rmSync } from "node:fs";
import { startTestController, tempDir, type TestController } from "../support/controller.ts";
import { createTestDatabase } from "../postgres/database.ts";
import { until } from "../postgres/cluster.ts";

for (const engine of CONTROLLER_ENGINES) {
  describe(`leases, retries, deadlines and expiring approvals: ${engine.name}`, () => {
    let c: TestController;
    let alice: string;
    let bob: string;
    let carol: string;
    let lead: string;
    let head: string;
    let admin: string;

    beforeAll(async () => {
      c = await engine.start();
      [alice, bob, carol, lead, head, admin] = await Promise.all([
        c.token("alice", ["dev"]),
        c.token("bob", ["worker"]),
        c.token("carol", ["worker"]),
        c.token("lena", ["lead"]),
        c.token("hugo", ["head"]),
        c.token("root", ["admin"]),
      ]);
    });
    afterAll(() => c.stop());

    const route = async (extra: Record<string, unknown> = {}) => {
      const res = await c.api(
        alice,
        "POST",
        "/tasks/route",
        { target: "worker", task: { task_type: "review" }, ...extra },
        { "idempotency-key": crypto.randomUUID() },
      );
      expect(res.status).toBe(202);
      return res.body.task_id as string;
    };
    const post = (token: string, id: string, move: string, body: unknown = {}) => c.api(token, "POST", `/tasks/${id}/${move}`, body);
    const read = async (id: string) => (await c.api(alice, "GET", `/tasks/${id}`)).body;
    const statusIs = (id: string, status: string) => until(async () => (await read(id)).status === status, `task ${id} is ${status}`);

    test("a lease that runs out puts the task back for the next claimer, and the lapsed attempt can no longer finish it", async () => {
      const id = await route();
      const first = await post(bob, id, "claim", { lease_seconds: 1 });
      expect(first.body).toMatchObject({ status: "claimed", claimed_by: "bob", attempt: 1, lease_expires_at: expect.any(String) });
      await statusIs(id, "pending");
      const lapsed = await read(id);
      expect(lapsed).toMatchObject({ claimed_by: null, attempt: 1, lease_expires_at: null });
      expect(lapsed.history.map((h: any) => [h.action, h.actor, h.from_status, h.to_status]).slice(-2)).toEqual([
        ["task.claimed", "bob", "pending", "claimed"],
        ["task.lease_lapsed", "agent-mesh", "claimed", "pending"],
      ]);

      const second = await post(carol, id, "claim", { lease_seconds: 60 });
      expect(second.body).toMatchObject({ claimed_by: "carol", attempt: 2 });
      const late = await post(bob, id, "complete", { attempt: 1, result: { late: true } });
      expect(late.status).toBe(409);
      expect(late.body.detail).toContain("lease");
      expect(late.body.detail).toContain("lost");
      expect((await post(carol, id, "complete", { attempt: 2, result: { ok: true } })).body).toMatchObject({ status: "completed", result: { ok: true } });
    });

    test("the same identity in a new attempt fences off its own lapsed one", async () => {
      const id = await route();
      await post(bob, id, "claim", { lease_seconds: 1 });
      await statusIs(id, "pending");
      expect((await post(bob, id, "claim", { lease_seconds: 60 })).body.attempt).toBe(2);
      const stale = await post(bob, id, "heartbeat", { attempt: 1 });
      expect(stale.status).toBe(409);
      expect((await post(bob, id, "fail", { attempt: 1, error: "late" })).status).toBe(409);
      expect((await post(bob, id, "complete", { attempt: 2 })).body.status).toBe("completed");
    });

    test("heartbeats keep a lease through several lease lengths and carry progress to the sender", async () => {
      const id = await route();
      await post(bob, id, "claim", { lease_seconds: 1 });
      const started = Date.now();
      let beats = 0;
      while (Date.now() - started < 3500) {
        const beat = await post(bob, id, "heartbeat", { attempt: 1, lease_seconds: 1, ...(beats === 0 && { progress: { message: "halfway", percent: 50 } }) });
        expect(beat.status).toBe(200);
        beats++;
        await Bun.sleep(250);
      }
      const task = await read(id);
      expect(task).toMatchObject({ status: "claimed", attempt: 1, progress: { message: "halfway", percent: 50 } });
      expect(task.history.map((h: any) => h.action)).toEqual(["task.created", "task.claimed", "task.progress"]);
    });

    test("a heartbeat keeps no Idempotency-Key: a session renews every third of a lease, and a renewal is safe to repeat", async () => {
      const id = await route();
      await post(bob, id, "claim");
      const key = { "idempotency-key": "beat" };
      expect((await c.api(bob, "POST", `/tasks/${id}/heartbeat`, { attempt: 1 }, key)).status).toBe(200);
      const other = await c.api(bob, "POST", `/tasks/${id}/heartbeat`, { attempt: 1, progress: { percent: 10 } }, key);
      expect(other.status).toBe(200);
      expect(other.body.progress).toEqual({ percent: 10 });
    });

    test("a failure worth retrying waits out a backoff, runs out of attempts into the dead-letter state, and its sender revives it", async () => {
      const id = await route({ max_attempts: 2 });
      await post(bob, id, "claim");
      const retried = await post(bob, id, "fail", { attempt: 1, error: "flaky", retry: true });
      expect(retried.body).toMatchObject({ status: "pending", error: "flaky", retry_at: expect.any(String), claimed_by: null });
      const early = await post(carol, id, "claim");
      if (Date.parse(retried.body.retry_at) > Date.now() + 100) expect(early.status).toBe(409);
      await until(async () => (await post(carol, id, "claim")).status === 200, "the retried task is claimable again");
      const dead = await post(carol, id, "fail", { attempt: 2, error: "still flaky", retry: true });
      expect(dead.body).toMatchObject({ status: "dead_lettered", attempt: 2 });
      expect(dead.body.error).toContain("still flaky");
      const listed = await c.api(alice, "GET", "/tasks?status=dead_lettered&order=desc&limit=5");
      expect(listed.body.items.map((t: any) => t.task_id)).toContain(id);
      expect((await read(id)).history.map((h: any) => h.action)).toEqual([
        "task.created",
        "task.claimed",
        "task.retry_scheduled",
        "task.claimed",
        "task.dead_lettered",
      ]);

      expect((await post(bob, id, "retry")).status).toBe(403);
      expect((await post(alice, id, "claim")).status).toBe(403);
      const revived = await post(alice, id, "retry", {});
      expect(revived.body).toMatchObject({ status: "pending", attempt: 2, max_attempts: 5 });
      expect((await post(bob, id, "claim")).body).toMatchObject({ status: "claimed", attempt: 3 });
      expect((await post(admin, id, "retry")).status).toBe(409);
    });

    test("a lease that lapses on the last attempt dead-letters the task", async () => {
      const id = await route({ max_attempts: 1 });
      await post(bob, id, "claim", { lease_seconds: 1 });
      await statusIs(id, "dead_lettered");
      expect((await read(id)).error).toContain("lapsed");
    });

    test("a task not finished by its deadline expires; its holder's late complete is refused", async () => {
      const id = await route({ deadline_seconds: 1 });
      const claimed = await post(bob, id, "claim", { lease_seconds: 60 });
      expect(claimed.body.deadline).toEqual(expect.any(String));
      await statusIs(id, "expired");
      const late = await post(bob, id, "complete", { attempt: 1 });
      expect(late.status).toBe(409);
      expect(late.body.detail).toContain("lost");
      expect((await read(id)).history.at(-1)).toMatchObject({ action: "task.expired", from_status: "claimed", to_status: "expired" });
    });

    test("a deadline is a time or a number of seconds, not both, and not past", async () => {
      const both = await c.api(
        alice,
        "POST",
        "/tasks/route",
        { target: "worker", task: { task_type: "t" }, deadline: new Date(Date.now() + 60_000).toISOString(), deadline_seconds: 5 },
        { "idempotency-key": crypto.randomUUID() },
      );
      expect(both.status).toBe(422);
      const past = await c.api(
        alice,
        "POST",
        "/tasks/route",
        { target: "worker", task: { task_type: "t" }, deadline: "2000-01-01T00:00:00Z" },
        { "idempotency-key": crypto.randomUUID() },
      );
      expect(past.status).toBe(422);
      const at = new Date(Date.now() + 3_600_000);
      const id = await route({ deadline: at.toISOString().replace("Z", "+00:00") });
      expect((await read(id)).deadline).toBe(at.toISOString());
    });

    test("an approval nobody decides in time expires", async () => {
      const id = await route();
      const asked = await c.api(alice, "POST", "/approvals", { task_id: id, approver_role: "lead", reason: "sign off", expires_in_seconds: 1 });
      const approvalId = asked.body.approval_id;
      const waited = await c.api(alice, "GET", `/approvals/${approvalId}?wait=20`);
      expect(waited.body).toMatchObject({ status: "expired", may_decide: { allowed: false } });
      const late = await c.api(lead, "POST", `/approvals/${approvalId}/decision`, { decision: "approved" });
      expect(late.status).toBe(409);
      expect(late.body.detail).toContain("expired");
    });

    test("an approval undecided in time passes to its escalation role, whose holders decide it; the waiter hears of it", async () => {
      const id = await route();
      const asked = await c.api(alice, "POST", "/approvals", {
        task_id: id,
        approver_role: "lead",
        reason: "sign off",
        expires_in_seconds: 1,
        escalate_to: "head",
      });
      const approvalId = asked.body.approval_id;
      const waited = await c.api(alice, "GET", `/approvals/${approvalId}?wait=20`);
      expect(waited.body).toMatchObject({ status: "pending", approver_role: "head", escalated_from: "lead", escalate_to: null });
      const inbox = await c.api(head, "GET", "/approvals?for=me");
      expect(inbox.body.items.map((a: any) => a.approval_id)).toContain(approvalId);
      expect((await c.api(lead, "POST", `/approvals/${approvalId}/decision`, { decision: "approved" })).status).toBe(403);
      const decided = await c.api(head, "POST", `/approvals/${approvalId}/decision`, { decision: "approved", comments: "fine" });
      expect(decided.body).toMatchObject({ status: "approved", decided_by: "hugo" });
      const history = (await read(id)).history.map((h: any) => [h.action, h.actor]);
      expect(history).toContainEqual(["approval.escalated", "agent-mesh"]);
      const noWindow = await c.api(alice, "POST", "/approvals", { task_id: id, approver_role: "lead", reason: "x", escalate_to: "head" });
      expect(noWindow.status).toBe(422);
    });

    test("/metrics counts what the clocks did: leases lapsed, retries, dead letters, deadlines missed, approvals expired and escalated", async () => {
      const text = await (await fetch(new URL("/metrics", c.url))).text();
      for (const event of ["leases_lapsed", "retries", "dead_letters", "deadlines_missed", "approvals_expired", "approvals_escalated"]) {
        const count = new RegExp(`^mesh_timer_events_total\\{event="${event}"\\} (\\d+)$`, "m").exec(text);
        expect({ event, counted: Number(count?.[1] ?? 0) > 0 }).toEqual({ event, counted: true });
      }
    });
  });
}

describe("a controller that was down", () => {
  const databases: Record<string, () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>> = {
    sqlite: async () => ({ env: {}, drop: async () => {} }),
    postgres: async () => {
      const db = await createTestDatabase();
      return { env: { MESH_DATABASE_URL: db.url() }, drop: () => db.drop() };
    },
  };
  for (const [name, database] of Object.entries(databases)) {
    test(`acts on a deadline that passed while it was stopped, once it is back: ${name}`, async () => {
      const db = await database();
      const env = { ...db.env, MESH_DATA_DIR: tempDir() };
      const before = await startTestController(env);
      const alice = await before.token("alice", ["dev"]);
      const routed = await before.api(
        alice,
        "POST",
        "/tasks/route",
        { target: "worker", task: { task_type: "t" }, deadline_seconds: 1 },
        { "idempotency-key": "k" },
      );
      const id = routed.body.task_id;
      await before.stop();
      await Bun.sleep(1500);
      const after = await startTestController(env);
      try {
        await until(async () => (await after.api(alice, "GET", `/tasks/${id}`)).body.status === "expired", "the task expired");
        expect((await after.api(alice, "GET", `/tasks/${id}`)).body.history.at(-1)).toMatchObject({ action: "task.expired", actor: "agent-mesh" });
      } finally {
        await after.stop();
        await db.drop();
        rmSync(env.MESH_DATA_DIR, { recursive: true, force: true });
      }
    });
  }
});
