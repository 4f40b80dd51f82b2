/**
 * The MCP server keeps the leases its session holds: the compiled binary over stdio,
 * driven by the official SDK client, against a real controller on each engine. A
 * server killed with kill -9 frees its task after one lease; a live one keeps it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CONTROLLER_ENGINES } from "../support/engines.ts";
import type { TestController } from "../support/controller.ts";
import { until } from "../postgres/cluster.ts";
import { startAgent, type Agent } from "./support/agent.ts";

for (const engine of CONTROLLER_ENGINES) {
  describe(`the MCP server keeps its session's leases: ${engine.name}`, () => {
    let c: TestController;
    let alice: string;
    const agents: Agent[] = [];

    beforeAll(async () => {
      c = await engine.start();
      alice = await c.token("alice", ["dev"]);
    });
    afterAll(async () => {
      await Promise.all(agents.map((a) => a.close().catch(() => {})));
      await c.stop();
    });

    /** An agent holding role worker whose server claims with a 1 s lease. */
    const worker = async (name: string) => {
      const agent = await startAgent({ CONTROLLER_URL: c.url.replace(/\/$/, ""), MESH_JWT_TOKEN: await c.token(name, ["worker"]), MESH_LEASE_SECONDS: "1" });
      agents.push(agent);
      return agent;
    };
    const route = async () => {
      const res = await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "review" } }, { "idempotency-key": crypto.randomUUID() });
      return res.body.task_id as string;
    };
    const read = async (id: string) => (await c.api(alice, "GET", `/tasks/${id}`)).body;

    test("a server killed with kill -9 frees its task after one lease, and another agent completes it", async () => {
      const id = await route();
      const crashing = await worker("bob");
      const claimed = await crashing.call("claim_task", { task_id: id });
      expect(claimed.isError).toBeFalsy();
      expect(claimed.structured.task).toMatchObject({ status: "claimed", attempt: 1 });
      process.kill(crashing.pid()!, "SIGKILL");
      await until(async () => (await read(id)).status === "pending", "the crashed agent's lease lapsed");

      const other = await worker("carol");
      expect((await other.call("claim_task", { task_id: id })).structured.task).toMatchObject({ claimed_by: "carol", attempt: 2 });
      const done = await other.call("complete_task", { task_id: id, result: { ok: true } });
      expect(done.isError).toBeFalsy();
      expect(done.structured.task).toMatchObject({ status: "completed", result: { ok: true } });
      expect((await read(id)).history.map((h: any) => h.action)).toEqual([
        "task.created",
        "task.claimed",
        "task.lease_lapsed",
        "task.claimed",
        "task.completed",
      ]);
    });

    test("a live session keeps its claim through several lease lengths, and completes it without naming the attempt", async () => {
      const id = await route();
      const agent = await worker("dave");
      await agent.call("claim_task", { task_id: id });
      const reported = await agent.call("report_progress", { task_id: id, message: "tests pass", percent: 40 });
      expect(reported.isError).toBeFalsy();
      await Bun.sleep(3500);
      expect((await read(id)).progress).toEqual({ message: "tests pass", percent: 40 });
      expect(await read(id)).toMatchObject({ status: "claimed", claimed_by: "dave", attempt: 1 });
      const done = await agent.call("complete_task", { task_id: id, result: {} });
      expect(done.isError).toBeFalsy();
      expect(done.structured.task.status).toBe("completed");
    });

    test("request_approval(wait_seconds) hears that its approval passed to the escalation role; fetch_status says the attempt and the lease", async () => {
      const id = await route();
      const sender = await startAgent({ CONTROLLER_URL: c.url.replace(/\/$/, ""), MESH_JWT_TOKEN: alice });
      agents.push(sender);
      const asked = await sender.call("request_approval", {
        task_id: id,
        approver_role: "lead",
        reason: "sign off",
        expires_in_seconds: 1,
        escalate_to: "head",
        wait_seconds: 20,
      });
      expect(asked.structured).toMatchObject({ status: "pending", approver_role: "head", escalated_from: "lead" });
      expect(asked.text).toContain("passed to role head");

      const agent = await worker("frank");
      await agent.call("claim_task", { task_id: id });
      const status = await sender.call("fetch_status", { task_id: id });
      expect(status.text).toContain("Attempt: 1 of 3");
      expect(status.text).toContain("Lease: held by frank until");
      expect(status.text).toContain("escalated from role lead");
    });

    test("a renewal that finds the lease lost says so in the server's log, and renews no more", async () => {
      const id = await route();
      const agent = await worker("gina");
      await agent.call("claim_task", { task_id: id });
      expect((await c.api(alice, "POST", `/tasks/${id}/cancel`, { reason: "not needed" })).status).toBe(200);
      await until(async () => agent.stderr().includes("lost the lease"), "the server logged the lost lease");
      expect(agent.stderr()).toContain(id);
    });

    test("a task this session did not claim cannot be completed without its attempt", async () => {
      const id = await route();
      await c.api(await c.token("erin", ["worker"]), "POST", `/tasks/${id}/claim`, {});
      const agent = await worker("erin");
      const refused = await agent.call("complete_task", { task_id: id });
      expect(refused.isError).toBe(true);
      expect(refused.text).toContain("has not claimed");
      expect((await agent.call("complete_task", { task_id: id, attempt: 1 })).structured.task.status).toBe("completed");
    });
  });
}
