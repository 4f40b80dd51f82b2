/**
 * Who serves a role: a worker and an MCP session waiting on its inbox show in GET /roles;
 * send_task to a role no one serves still sends and says so; only a holder may serve a role.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { until } from "../postgres/cluster.ts";
import { BINARY, startTestController, type TestController, tempDir } from "../support/controller.ts";
import { startAgent, type Agent } from "../mcp/support/agent.ts";

let c: TestController;
let alice: string;
const agents: Agent[] = [];
let worker: Bun.Subprocess | undefined;

beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["dev"]);
});
afterAll(async () => {
  worker?.kill("SIGKILL");
  await Promise.all(agents.map((a) => a.close().catch(() => {})));
  await c.stop();
});

const roles = async (token = alice) => (await c.api(token, "GET", "/roles")).body.items as any[];
const agent = async (sub: string, held: string[]) => {
  const a = await startAgent({ CONTROLLER_URL: c.url.replace(/\/$/, ""), MESH_JWT_TOKEN: await c.token(sub, held) });
  agents.push(a);
  return a;
};

describe("who serves a role", () => {
  test("a worker shows as serving its role, with when it was last seen", async () => {
    worker = Bun.spawn([BINARY, "worker", "--role", "builder", "--data-dir", join(tempDir(), "w"), "--", "true"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
      env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: c.url.replace(/\/$/, ""), MESH_JWT_TOKEN: await c.token("build-bot", ["builder"]) },
    });
    await until(async () => (await roles()).some((r) => r.role === "builder"), "the worker reported");
    const builder = (await roles()).find((r) => r.role === "builder");
    expect(builder).toMatchObject({ role: "builder", workers: 1, sessions: 0, servers: [{ kind: "worker", subject: "build-bot", role: "builder" }] });
    expect(Date.parse(builder.last_seen)).toBeGreaterThan(Date.now() - 60_000);
  }, 20_000);

  test("an MCP session that waits on its inbox shows as a session serving its roles", async () => {
    const a = await agent("reviewer-bot", ["reviewer"]);
    await a.call("check_inbox", { wait_seconds: 1 });
    await until(async () => (await roles()).some((r) => r.role === "reviewer"), "the session reported");
    expect((await roles()).find((r) => r.role === "reviewer")).toMatchObject({
      workers: 0,
      sessions: 1,
      servers: [{ kind: "session", subject: "reviewer-bot" }],
    });
  }, 20_000);

  test("send_task to a role no one has served still sends, and says so; to a served role it says nothing of the kind", async () => {
    const a = await agent("lead-bot", ["lead"]);
    const lonely = await a.call("send_task", { target: "nobody-home", task: { task_type: "x" } });
    expect(lonely.isError).toBeFalsy();
    expect(lonely.text).toContain("no agent has served role nobody-home in the last hour; the task waits until one does");
    const served = await a.call("send_task", { target: "reviewer", task: { task_type: "x" } });
    expect(served.text).not.toContain("no agent");
  }, 20_000);

  test("only a holder of a role may say it serves it", async () => {
    const res = await c.api(alice, "POST", "/roles/presence", { kind: "worker", instance: "i1", roles: ["builder"] });
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain("You do not hold the role builder");
    const ok = await c.api(alice, "POST", "/roles/presence", { kind: "worker", instance: "i1" });
    expect(ok.status).toBe(200);
    expect(ok.body.roles).toEqual(["dev"]);
  });
});
