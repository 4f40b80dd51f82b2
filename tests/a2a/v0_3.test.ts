/**
 * Clients still on A2A v0.3 (its method names and shapes: `message/stream`, `kind`,
 * lower-case states) reach the same roles at the same endpoint: the official SDK's own
 * v0.3 transport sends, follows, gets and cancels a task a mesh agent works on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TaskState, type StreamResponse } from "@a2a-js/sdk";
import type { Client } from "@a2a-js/sdk/client";
import type { Agent } from "../mcp/support/agent.ts";
import { startMesh, type Mesh } from "../mcp/support/mesh.ts";
import { a2aClient, submit, userMessage } from "./support/a2a-client.ts";

let mesh: Mesh;
let alice: Client;
let bob: Agent;

beforeAll(async () => {
  mesh = await startMesh();
  [alice, bob] = await Promise.all([
    a2aClient(mesh.controller.url, "reviewer", await mesh.controller.token("alice", ["dev"]), "0.3"),
    mesh.agent("bob", ["reviewer"]),
  ]);
});
afterAll(() => mesh.stop());

const stateOf = (event: StreamResponse) => {
  const p = event.payload!;
  if (p.$case === "task" || p.$case === "statusUpdate") return TaskState[p.value.status!.state];
  return p.$case === "artifactUpdate" ? p.value.artifact!.parts.map((part) => part.content?.value) : p.$case;
};

test("a v0.3 client streams a task to completion with its result, gets it, and cancels another", async () => {
  expect(alice.protocolVersion).toBe("0.3");
  const stream = alice.sendMessageStream({ tenant: "", message: userMessage("Review PR 7", { pr: 7 }), configuration: undefined, metadata: undefined });
  const first = (await stream.next()).value as StreamResponse;
  expect(stateOf(first)).toBe("TASK_STATE_SUBMITTED");
  const taskId = (first.payload!.value as { id: string }).id;
  const inbox = await bob.call("check_inbox", {});
  expect(inbox.structured.tasks).toContainEqual(expect.objectContaining({ task_id: taskId, description: "Review PR 7", data: { pr: 7 } }));
  await bob.call("claim_task", { task_id: taskId });
  await bob.call("complete_task", { task_id: taskId, result: { verdict: "ship it" } });
  const rest: unknown[] = [];
  for await (const event of stream) rest.push(stateOf(event));
  expect(rest).toEqual(["TASK_STATE_WORKING", [{ verdict: "ship it" }], "TASK_STATE_COMPLETED"]);

  const got = await alice.getTask({ tenant: "", id: taskId, historyLength: undefined });
  expect(TaskState[got.status!.state]).toBe("TASK_STATE_COMPLETED");
  expect(got.artifacts[0]!.parts[0]!.content).toEqual({ $case: "data", value: { verdict: "ship it" } });

  // v0.3's message/send answers at once unless asked to block
  const other = await submit(alice, userMessage("Not needed after all"));
  expect(TaskState[other.status!.state]).toBe("TASK_STATE_SUBMITTED");
  const cancelled = await alice.cancelTask({ tenant: "", id: other.id, metadata: undefined });
  expect(TaskState[cancelled.status!.state]).toBe("TASK_STATE_CANCELED");
});
