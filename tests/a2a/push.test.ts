/**
 * A2A push notifications: a task's updates reach a webhook on the operator's
 * allow-list, signed, retried after a failure; an address not on the list is refused
 * when the config is made and never called, not even through a redirect.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import type { Client } from "@a2a-js/sdk/client";
import type { Agent } from "../mcp/support/agent.ts";
import { startMesh, type Mesh } from "../mcp/support/mesh.ts";
import { a2aClient, submit, userMessage } from "./support/a2a-client.ts";

type Received = { path: string; body: any; headers: Headers; raw: string };

let hooks: ReturnType<typeof Bun.serve>;
const received: Received[] = [];
let failNext = 0;
let completed: () => void;
const completion = new Promise<void>((resolve) => (completed = resolve));

let mesh: Mesh;
let alice: Client;
let bob: Agent;
const TOKEN = "a-secret-of-this-config-only";

beforeAll(async () => {
  // The webhook receiver: loopback only.
  hooks = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const raw = await req.text();
      received.push({ path: url.pathname, body: raw ? JSON.parse(raw) : null, headers: req.headers, raw });
      if (url.pathname === "/hooks/ok/moved") return new Response(null, { status: 307, headers: { location: "/elsewhere/evil" } });
      if (failNext > 0) {
        failNext--;
        return new Response("busy", { status: 503 });
      }
      if (JSON.parse(raw).statusUpdate?.status?.state === "TASK_STATE_COMPLETED") completed();
      return new Response(null, { status: 204 });
    },
  });
  mesh = await startMesh({ MESH_A2A_PUSH_ALLOW: `http://127.0.0.1:${hooks.port}/hooks/ok` });
  [alice, bob] = await Promise.all([
    a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("alice", ["dev"])),
    mesh.agent("bob", ["reviewer"]),
  ]);
});
afterAll(async () => {
  await mesh.stop();
  hooks.stop(true);
});

const config = (taskId: string, url: string, token = TOKEN) => ({
  tenant: "",
  id: "",
  taskId,
  url,
  token,
  authentication: { scheme: "Bearer", credentials: "what-the-receiver-expects" },
});

const newTask = async (text: string) => (await submit(alice, userMessage(text))).id;

test("an address off the allow-list, or a config without a signing secret, is refused when it is made", async () => {
  const taskId = await newTask("Refused hooks");
  const base = `http://127.0.0.1:${hooks.port}`;
  for (const url of [
    `${base}/elsewhere/evil`,
    `${base}/hooks/okay`,
    `http://localhost:${hooks.port}/hooks/ok`,
    `http://127.0.0.1:1/hooks/ok`,
    "http://169.254.169.254/latest",
  ]) {
    await expect(alice.createTaskPushNotificationConfig(config(taskId, url))).rejects.toThrow(/not on the operator's allow-list/);
  }
  await expect(alice.createTaskPushNotificationConfig(config(taskId, `${base}/hooks/ok`, "short"))).rejects.toThrow(/at least 16 characters/);
  // Sent with a message, a refused config leaves no task behind.
  const before = (await mesh.allTasks()).length;
  const withHook = {
    acceptedOutputModes: [],
    returnImmediately: true,
    historyLength: undefined,
    taskPushNotificationConfig: config("", `${base}/elsewhere/evil`),
  };
  await expect(alice.sendMessage({ tenant: "", message: userMessage("Tell evil"), configuration: withHook, metadata: undefined })).rejects.toThrow(
    /allow-list/,
  );
  expect(await mesh.allTasks()).toHaveLength(before);
  const listed = await alice.listTaskPushNotificationConfig({ tenant: "", taskId, pageSize: 0, pageToken: "" });
  expect(listed.configs).toEqual([]);
});

test("a task's updates reach an allowed webhook in order, signed with the config's secret, retried after a failure; a redirect is not followed", async () => {
  const taskId = await newTask("Notify me");
  const base = `http://127.0.0.1:${hooks.port}`;
  const made = await alice.createTaskPushNotificationConfig(config(taskId, `${base}/hooks/ok`));
  expect(made).toMatchObject({ taskId, url: `${base}/hooks/ok` });
  expect(made.token).toBe(""); // the secret is never handed back
  await alice.createTaskPushNotificationConfig(config(taskId, `${base}/hooks/ok/moved`));
  const listed = await alice.listTaskPushNotificationConfig({ tenant: "", taskId, pageSize: 0, pageToken: "" });
  expect(listed.configs.map((c) => c.url).sort()).toEqual([`${base}/hooks/ok`, `${base}/hooks/ok/moved`]);
  // someone else who may read the task does not see alice's configs
  const bobOverA2A = await a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("bob", ["reviewer"]));
  expect((await bobOverA2A.listTaskPushNotificationConfig({ tenant: "", taskId, pageSize: 0, pageToken: "" })).configs).toEqual([]);

  failNext = 1;
  await bob.call("claim_task", { task_id: taskId });
  // Progress changes the task but not its A2A state: no notification of its own.
  await bob.call("report_progress", { task_id: taskId, message: "half way", percent: 50 });
  await bob.call("complete_task", { task_id: taskId, result: { done: true } });
  await completion;

  const ok = received.filter((r) => r.path === "/hooks/ok");
  const states = ok.map((r) => r.body.statusUpdate?.status.state ?? (r.body.artifactUpdate ? "artifact" : "?"));
  // The first delivery failed once (503) and was sent again; nothing was lost or reordered.
  expect(states).toEqual(["TASK_STATE_WORKING", "TASK_STATE_WORKING", "artifact", "TASK_STATE_COMPLETED"]);
  expect(ok[2]!.body.artifactUpdate).toMatchObject({ taskId, artifact: { parts: [{ data: { done: true } }] } });
  for (const r of ok) {
    expect(r.headers.get("authorization")).toBe("Bearer what-the-receiver-expects");
    expect(r.headers.get("content-type")).toBe("application/a2a+json");
    expect(r.raw).not.toContain(TOKEN);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.headers.get("x-a2a-notification-signature") ?? "") ?? [];
    expect(v1).toBe(createHmac("sha256", TOKEN).update(`${t}.${r.raw}`).digest("hex"));
  }
  // The redirecting hook was called, its redirect never followed.
  expect(received.some((r) => r.path === "/hooks/ok/moved")).toBe(true);
  expect(received.filter((r) => !r.path.startsWith("/hooks/ok"))).toEqual([]);
});
