/**
 * Agents on other stacks reach the mesh over A2A: the official `@a2a-js/sdk` client
 * sends a task to a role, a mesh agent (the compiled binary over stdio) claims and
 * completes it, and the A2A client sees every state and the result, through the same
 * rules as the REST API.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TaskState, type StreamResponse } from "@a2a-js/sdk";
import type { Client } from "@a2a-js/sdk/client";
import { TaskNotCancelableError, TaskNotFoundError } from "@a2a-js/sdk/errors";
import type { Agent } from "../mcp/support/agent.ts";
import { startMesh, type Mesh } from "../mcp/support/mesh.ts";
import { a2aClient, submit, userMessage } from "./support/a2a-client.ts";

let mesh: Mesh;
let alice: Client; // a developer on another stack, sending work over A2A
let bob: Agent; // a reviewer: a mesh agent, the compiled binary

beforeAll(async () => {
  mesh = await startMesh({ MESH_A2A_ROLES: "reviewer,lead" });
  [alice, bob] = await Promise.all([
    a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("alice", ["dev"])),
    mesh.agent("bob", ["reviewer"]),
  ]);
});
afterAll(() => mesh.stop());

/** An event of a stream, in a form a test can compare. */
function seen(event: StreamResponse) {
  const p = event.payload!;
  if (p.$case === "task") return { task: TaskState[p.value.status!.state] };
  if (p.$case === "statusUpdate") return { status: TaskState[p.value.status!.state], said: p.value.status!.message?.parts[0]?.content?.value };
  if (p.$case === "artifactUpdate") return { artifact: p.value.artifact!.parts.map((part) => part.content?.value) };
  return { message: p.value };
}

test("each role has an Agent Card with its skill, the bearer scheme, its JSON-RPC endpoint and streaming; the controller's card lists the named roles", async () => {
  const card = (path: string) => fetch(new URL(path, mesh.controller.url)).then((r) => r.json() as Promise<any>);
  const reviewer = await card("a2a/reviewer/.well-known/agent-card.json");
  expect(reviewer).toMatchObject({
    name: "reviewer (Agent Mesh)",
    supportedInterfaces: [
      { url: `${mesh.controller.url}a2a/reviewer`, protocolBinding: "JSONRPC", protocolVersion: "1.0" },
      { url: `${mesh.controller.url}a2a/reviewer`, protocolBinding: "JSONRPC", protocolVersion: "0.3" },
    ],
    capabilities: { streaming: true, pushNotifications: false },
    securitySchemes: { bearer: { httpAuthSecurityScheme: { scheme: "Bearer", bearerFormat: "JWT" } } },
    skills: [{ id: "reviewer", tags: ["agent-mesh", "reviewer"] }],
  });
  const mesh_ = await card(".well-known/agent-card.json");
  expect(mesh_.skills.map((s: any) => s.id)).toEqual(["reviewer", "lead"]);
  expect(mesh_.description).toContain("/a2a/{role}");
});

test("a message streams as a task: submitted, working when a mesh agent claims it, then its result as an artifact and completed", async () => {
  const stream = alice.sendMessageStream({
    tenant: "",
    message: userMessage("Review PR 42", { pr: 42, repo: "acme/payments" }),
    configuration: undefined,
    metadata: undefined,
  });
  const first = await stream.next();
  expect(seen(first.value as StreamResponse)).toEqual({ task: "TASK_STATE_SUBMITTED" });
  const taskId = (first.value as any).payload.value.id as string;

  // bob, on the mesh, finds it in his inbox as a task with the text as description and the data as data
  const inbox = await bob.call("check_inbox", {});
  expect(inbox.structured.tasks).toContainEqual(
    expect.objectContaining({ task_id: taskId, source: "alice", target: "reviewer", description: "Review PR 42", data: { pr: 42, repo: "acme/payments" } }),
  );
  expect((await bob.call("claim_task", { task_id: taskId })).isError).toBeFalsy();
  expect(seen((await stream.next()).value as StreamResponse)).toMatchObject({ status: "TASK_STATE_WORKING" });
  expect((await bob.call("complete_task", { task_id: taskId, result: { verdict: "approve", notes: "Cap retries at 5" } })).isError).toBeFalsy();

  const rest: ReturnType<typeof seen>[] = [];
  for await (const event of stream) rest.push(seen(event));
  expect(rest).toEqual([{ artifact: [{ verdict: "approve", notes: "Cap retries at 5" }] }, { status: "TASK_STATE_COMPLETED", said: undefined }]);

  const task = await alice.getTask({ tenant: "", id: taskId, historyLength: undefined });
  expect(TaskState[task.status!.state]).toBe("TASK_STATE_COMPLETED");
  expect(task.artifacts[0]!.parts[0]!.content).toEqual({ $case: "data", value: { verdict: "approve", notes: "Cap retries at 5" } });
});

test("a repeated messageId from the same caller finds the first task; another caller's same messageId is a task of its own", async () => {
  const message = userMessage("Look at the flaky test", undefined, "retry-me-1");
  const once = await submit(alice, message);
  const twice = await submit(alice, message);
  expect(twice.id).toBe(once.id);
  const dave = await a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("dave", ["dev"]));
  const his = await submit(dave, message);
  expect(his.id).not.toBe(once.id);
  const all = await mesh.allTasks();
  expect(
    all
      .filter((t) => t.context?.a2a?.messageId === "retry-me-1")
      .map((t) => t.source)
      .sort(),
  ).toEqual(["alice", "dave"]);
  // Out of bob's inbox, for the tests that follow.
  await Promise.all([alice.cancelTask({ tenant: "", id: once.id, metadata: undefined }), dave.cancelTask({ tenant: "", id: his.id, metadata: undefined })]);
});

test("a blocking send answers once the task is finished, with its result", async () => {
  const sent = alice.sendMessage({ tenant: "", message: userMessage("Quick check"), configuration: undefined, metadata: undefined });
  const inbox = await bob.call("check_inbox", { wait_seconds: 20 });
  const taskId = inbox.structured.tasks.find((t: any) => t.description === "Quick check").task_id;
  await bob.call("claim_task", { task_id: taskId });
  await bob.call("complete_task", { task_id: taskId, result: { ok: true } });
  const task = (await sent) as any;
  expect({ id: task.id, state: TaskState[task.status.state], result: task.artifacts[0].parts[0].content.value }).toEqual({
    id: taskId,
    state: "TASK_STATE_COMPLETED",
    result: { ok: true },
  });
});

test("cancelling over A2A cancels the mesh task: its claimant sees it cancelled", async () => {
  const task = await submit(alice, userMessage("Long job"));
  await bob.call("claim_task", { task_id: task.id });
  const cancelled = await alice.cancelTask({ tenant: "", id: task.id, metadata: undefined });
  expect(TaskState[cancelled.status!.state]).toBe("TASK_STATE_CANCELED");
  // Cancelling again has the same effect, not an error.
  expect(TaskState[(await alice.cancelTask({ tenant: "", id: task.id, metadata: undefined })).status!.state]).toBe("TASK_STATE_CANCELED");
  const status = await bob.call("fetch_status", { task_id: task.id });
  expect(status.structured.task.status).toBe("cancelled");
  // A finished task is not cancelable.
  const done = await submit(alice, userMessage("Done soon"));
  await bob.call("claim_task", { task_id: done.id });
  await bob.call("complete_task", { task_id: done.id, result: {} });
  await expect(alice.cancelTask({ tenant: "", id: done.id, metadata: undefined })).rejects.toBeInstanceOf(TaskNotCancelableError);
});

test("cancelling on the mesh ends an A2A subscription with canceled and the reason", async () => {
  const token = await mesh.controller.token("alice", ["dev"]);
  const task = await submit(alice, userMessage("Maybe later"));
  const events = alice.resubscribeTask({ tenant: "", id: task.id });
  expect(seen((await events.next()).value as StreamResponse)).toEqual({ task: "TASK_STATE_SUBMITTED" });
  // alice's own mesh agent (the binary, the same identity) cancels it
  const aliceOnMesh = await mesh.agentWith({ CONTROLLER_URL: mesh.controller.url, MESH_JWT_TOKEN: token });
  expect((await aliceOnMesh.call("cancel_task", { task_id: task.id, reason: "Plans changed" })).isError).toBeFalsy();
  const rest: ReturnType<typeof seen>[] = [];
  for await (const event of events) rest.push(seen(event));
  expect(rest).toEqual([{ status: "TASK_STATE_CANCELED", said: "Plans changed" }]);
  // A finished task has nothing to subscribe to.
  await expect(alice.resubscribeTask({ tenant: "", id: task.id }).next()).rejects.toThrow(/already cancelled/);
});

test("authorization is the mesh's: no token, no call; someone who may not read a task cannot get, follow or cancel it", async () => {
  const task = await submit(alice, userMessage("Private to reviewers"));
  const eve = await a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("eve", ["ops"]));
  await expect(eve.getTask({ tenant: "", id: task.id, historyLength: undefined })).rejects.toMatchObject({ envelopeCode: -32000 });
  await expect(eve.cancelTask({ tenant: "", id: task.id, metadata: undefined })).rejects.toMatchObject({ envelopeCode: -32000 });
  await expect(eve.resubscribeTask({ tenant: "", id: task.id }).next()).rejects.toThrow();
  // bob holds the target role: he may read it, but only its source may cancel it
  const bobOverA2A = await a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("bob", ["reviewer"]));
  expect((await bobOverA2A.getTask({ tenant: "", id: task.id, historyLength: undefined })).id).toBe(task.id);
  await expect(bobOverA2A.cancelTask({ tenant: "", id: task.id, metadata: undefined })).rejects.toThrow(/source/);

  const anonymous = await fetch(new URL("a2a/reviewer", mesh.controller.url), {
    method: "POST",
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: task.id } }),
  });
  expect(anonymous.status).toBe(401);
  expect(((await anonymous.json()) as any).error.code).toBe(-32000);
  expect(await mesh.allTasks()).toContainEqual(expect.objectContaining({ task_id: task.id, status: "pending" }));
});

test("what the mesh cannot do is answered with A2A's error codes", async () => {
  const token = await mesh.controller.token("alice", ["dev"]);
  const call = async (method: string, params: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(new URL("a2a/reviewer", mesh.controller.url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "a2a-version": "1.0", ...headers },
      body: JSON.stringify({ jsonrpc: "2.0", id: "x", method, params }),
    });
    const body = (await r.json()) as any;
    return { id: body.id, code: body.error?.code };
  };
  const text = (t: string) => ({ messageId: crypto.randomUUID(), role: "ROLE_USER", parts: [{ text: t }] });
  const pending = await submit(alice, userMessage("Still pending"));
  expect(await call("tasks/archive", {})).toEqual({ id: "x", code: -32601 });
  expect(await call("GetTask", {})).toEqual({ id: "x", code: -32602 });
  expect(await call("GetTask", { id: "no-such-task" })).toEqual({ id: "x", code: -32001 });
  expect(await call("SendMessage", { message: text("hi") }, { "a2a-version": "0.5" })).toEqual({ id: "x", code: -32009 });
  expect(await call("SendMessage", { message: { ...text("a file"), parts: [{ url: "https://example.com/a.pdf" }] } })).toEqual({ id: "x", code: -32005 });
  // Each role's agent knows its own tasks only, even to a caller who may read others.
  const leadAgent = await a2aClient(mesh.controller.url, "lead", token);
  await expect(leadAgent.getTask({ tenant: "", id: pending.id, historyLength: undefined })).rejects.toBeInstanceOf(TaskNotFoundError);
  await expect(leadAgent.cancelTask({ tenant: "", id: pending.id, metadata: undefined })).rejects.toBeInstanceOf(TaskNotFoundError);
  // A task takes more messages only when it waits for input.
  expect(await call("SendMessage", { message: { ...text("more"), taskId: pending.id } })).toEqual({ id: "x", code: -32004 });
  // The same messageId for another message is refused, not a second task.
  const again = text("first");
  await call("SendMessage", { message: again, configuration: { returnImmediately: true } });
  expect(await call("SendMessage", { message: { ...again, parts: [{ text: "second" }] }, configuration: { returnImmediately: true } })).toEqual({
    id: "x",
    code: -32602,
  });
});

test("a mesh agent's question is input-required over A2A, carrying the question; a message naming the task answers it, and the agent carries on", async () => {
  const task = await submit(alice, userMessage("Review the retry change"));
  expect((await bob.call("claim_task", { task_id: task.id })).isError).toBeFalsy();
  expect((await bob.call("ask_sender", { task_id: task.id, question: "Which branch?" })).isError).toBeFalsy();
  const waiting = await alice.getTask({ tenant: "", id: task.id, historyLength: undefined });
  expect(TaskState[waiting.status!.state]).toBe("TASK_STATE_INPUT_REQUIRED");
  expect(waiting.status!.message?.parts[0]?.content?.value).toBe("Which branch?");

  const answered = await submit(alice, { ...userMessage("release/2.4", { branch: "release/2.4" }), taskId: task.id });
  expect(answered.id).toBe(task.id);
  expect(TaskState[answered.status!.state]).toBe("TASK_STATE_WORKING");
  const status = await bob.call("fetch_status", { task_id: task.id });
  expect(status.text).toContain("release/2.4");
  expect((await bob.call("complete_task", { task_id: task.id, result: { verdict: "approve" } })).isError).toBeFalsy();
  const done = await alice.getTask({ tenant: "", id: task.id, historyLength: undefined });
  expect(TaskState[done.status!.state]).toBe("TASK_STATE_COMPLETED");
});
