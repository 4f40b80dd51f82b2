/**
 * `agent-mesh worker --a2a URL`: the compiled binary serves a role with a remote A2A
 * agent, here one made with the official `@a2a-js/sdk` server (DefaultRequestHandler,
 * InMemoryTaskStore, its JSON-RPC transport over Bun.serve), against a real controller.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type AgentCard, type Artifact, type Part, TaskState } from "@a2a-js/sdk";
import {
  AgentEvent,
  type AgentExecutor,
  type ExecutionEventBus,
  DefaultRequestHandler,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  type RequestContext,
  ServerCallContext,
} from "@a2a-js/sdk/server";
import { until } from "../postgres/cluster.ts";
import { startTestController, type TestController, tempDir } from "../support/controller.ts";
import { WorkerBench } from "./bench.ts";

const TOKEN = "remote-agent-secret";

let c: TestController;
let alice: string;
let dir: string;
let agent: Bun.Server<undefined>;
/** The same agent, saying it does not stream: it answers SendMessage when a task ends. */
let quiet: Bun.Server<undefined>;
let bench: WorkerBench;
/** What the remote agent was asked, and which of its tasks were cancelled. */
const received: { taskId: string; text: string; data: unknown; metadata: { mesh?: { task_id?: string } } | undefined }[] = [];
const cancelled: string[] = [];
const waiting = new Map<string, () => void>();

const text = (value: string): Part => ({ content: { $case: "text", value }, metadata: undefined, filename: "", mediaType: "" });
const data = (value: Record<string, unknown>): Part => ({ content: { $case: "data", value }, metadata: undefined, filename: "", mediaType: "" });

/** A remote agent whose behaviour the task's description picks. */
class ScriptedAgent implements AgentExecutor {
  async execute(rc: RequestContext, bus: ExecutionEventBus) {
    const { taskId, contextId } = rc;
    const parts = rc.userMessage.parts;
    const said = parts.flatMap((p) => (p.content?.$case === "text" ? [p.content.value] : [])).join("");
    const given = parts.find((p) => p.content?.$case === "data")?.content?.value;
    received.push({ taskId, text: said, data: given, metadata: rc.userMessage.metadata });
    const status = (state: TaskState, words?: string) => ({
      state,
      timestamp: new Date().toISOString(),
      message: words
        ? { messageId: crypto.randomUUID(), contextId, taskId, role: 2, parts: [text(words)], metadata: undefined, extensions: [], referenceTaskIds: [] }
        : undefined,
    });
    const update = (state: TaskState, words?: string) =>
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(state, words), metadata: undefined }));
    const artifact = (parts: Part[]): Artifact => ({
      artifactId: crypto.randomUUID(),
      name: "answer",
      description: "",
      parts,
      metadata: undefined,
      extensions: [],
    });
    if (rc.task) {
      // The sender's answer to the question below: the task goes on and ends with it.
      bus.publish(AgentEvent.task({ ...rc.task, status: status(TaskState.TASK_STATE_WORKING) }));
      bus.publish(
        AgentEvent.artifactUpdate({ taskId, contextId, artifact: artifact([data({ branch: said })]), append: false, lastChunk: true, metadata: undefined }),
      );
      update(TaskState.TASK_STATE_COMPLETED);
      bus.finished();
      return;
    }
    bus.publish(
      AgentEvent.task({ id: taskId, contextId, status: status(TaskState.TASK_STATE_SUBMITTED), artifacts: [], history: [rc.userMessage], metadata: undefined }),
    );
    update(TaskState.TASK_STATE_WORKING, "thinking");
    if (said === "answer") {
      bus.publish(
        AgentEvent.artifactUpdate({
          taskId,
          contextId,
          artifact: artifact([data({ answer: 42, asked: given ?? null })]),
          append: false,
          lastChunk: true,
          metadata: undefined,
        }),
      );
      update(TaskState.TASK_STATE_COMPLETED);
    } else if (said === "write") {
      bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: artifact([text("a haiku")]), append: false, lastChunk: true, metadata: undefined }));
      update(TaskState.TASK_STATE_COMPLETED);
    } else if (said === "flood") {
      // One event larger than a worker reads of an agent.
      bus.publish(
        AgentEvent.artifactUpdate({
          taskId,
          contextId,
          artifact: artifact([text("x".repeat(5 * 1024 * 1024))]),
          append: false,
          lastChunk: true,
          metadata: undefined,
        }),
      );
      update(TaskState.TASK_STATE_COMPLETED);
    } else if (said === "trickle") {
      // Each event well under what a worker reads, together more than a task's result may hold.
      const id = crypto.randomUUID();
      for (let i = 0; i < 4; i++) {
        bus.publish(
          AgentEvent.artifactUpdate({
            taskId,
            contextId,
            artifact: { ...artifact([text("y".repeat(512 * 1024))]), artifactId: id },
            append: i > 0,
            lastChunk: i === 3,
            metadata: undefined,
          }),
        );
      }
      update(TaskState.TASK_STATE_COMPLETED);
    } else if (said === "fail") update(TaskState.TASK_STATE_FAILED, "the model is down");
    else if (said === "question") update(TaskState.TASK_STATE_INPUT_REQUIRED, "Which branch holds the fix?");
    else if (said === "reject") update(TaskState.TASK_STATE_REJECTED, "not my kind of work");
    else if (said === "wait") {
      await new Promise<void>((resolve) => waiting.set(taskId, resolve));
      update(TaskState.TASK_STATE_CANCELED, "cancelled by the caller");
    }
    bus.finished();
  }

  async cancelTask(taskId: string) {
    cancelled.push(taskId);
    waiting.get(taskId)?.();
  }
}

function startAgent(streaming: boolean): Bun.Server<undefined> {
  let card: AgentCard;
  const handler = () => new JsonRpcTransportHandler(new DefaultRequestHandler(card, new InMemoryTaskStore(), new ScriptedAgent()));
  let transport: JsonRpcTransportHandler;
  const server = Bun.serve({
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/.well-known/agent-card.json") return Response.json(card);
      if (url.pathname !== "/rpc" || req.method !== "POST") return new Response("not found", { status: 404 });
      if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) return new Response("who are you?", { status: 401 });
      const context = new ServerCallContext({ requestedVersion: req.headers.get("A2A-Version") ?? undefined });
      const answer = await transport.handle(await req.json(), context);
      if (!(Symbol.asyncIterator in answer)) return Response.json(answer);
      const stream = answer;
      return new Response(
        new ReadableStream({
          async start(controller) {
            for await (const event of stream) controller.enqueue(`data: ${JSON.stringify(event)}\n\n`);
            controller.close();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    },
  });
  card = {
    name: "Scripted remote agent",
    description: "Answers, writes, fails, rejects or waits, as the task says.",
    supportedInterfaces: [{ url: `http://127.0.0.1:${server.port}/rpc`, protocolBinding: "JSONRPC", protocolVersion: "1.0", tenant: "" }],
    provider: undefined,
    version: "1.0.0",
    capabilities: { streaming, pushNotifications: false, extensions: [] },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["text/plain", "application/json"],
    defaultOutputModes: ["application/json", "text/plain"],
    skills: [],
    signatures: [],
  };
  transport = handler();
  return server;
}

beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["dev"]);
  dir = tempDir("mesh-a2a-worker-");
  agent = startAgent(true);
  quiet = startAgent(false);
  bench = new WorkerBench(c, alice, dir);
});
afterEach(() => {
  bench.killAll();
});
afterAll(async () => {
  await agent.stop(true);
  await quiet.stop(true);
  await c.stop();
});

/** Runs the worker for `role` with a remote agent's token. */
const worker = (role: string, args: string[]) => bench.worker(`a2a-${role}`, role, args, { MESH_A2A_TOKEN: TOKEN });

/** The remote agent's task for mesh task `id`, once the agent has it. */
async function remoteOf(id: string): Promise<string> {
  await until(async () => received.some((r) => r.metadata?.mesh?.task_id === id), `the remote agent got task ${id}`);
  return received.find((r) => r.metadata?.mesh?.task_id === id)!.taskId;
}

const agentUrl = () => `http://127.0.0.1:${agent.port}`;

describe("agent-mesh worker --a2a", () => {
  test("a task completes with the remote agent's artifact: one data artifact is the result, a text one is {output}", async () => {
    await worker("remote", ["--a2a", agentUrl()]);
    const answered = await bench.route("remote", { task_type: "ask", description: "answer", data: { question: "life" } });
    const written = await bench.route("remote", { task_type: "ask", description: "write" });
    await bench.settled(answered, "completed");
    await bench.settled(written, "completed");
    expect((await bench.read(answered)).result).toEqual({ answer: 42, asked: { question: "life" } });
    expect((await bench.read(written)).result).toEqual({ output: "a haiku" });
    const asked = received.find((r) => r.text === "answer");
    expect(asked?.metadata).toMatchObject({ mesh: { task_id: answered, task_type: "ask", attempt: 1 } });
  }, 30_000);

  test("an agent that sends more in one event than a worker reads fails its task, saying so", async () => {
    await worker("flooding-remote", ["--a2a", agentUrl()]);
    const id = await bench.route("flooding-remote", { task_type: "big", description: "flood" }, { max_attempts: 1 });
    await bench.settled(id, "dead_lettered");
    expect((await bench.read(id)).error).toContain("the agent sent more than");
  }, 30_000);

  test("an agent whose artifacts add up to more than a result may hold fails its task for good, saying so", async () => {
    await worker("trickling-remote", ["--a2a", agentUrl()]);
    const id = await bench.route("trickling-remote", { task_type: "big", description: "trickle" });
    await bench.settled(id, "failed");
    expect((await bench.read(id)).error).toContain("more than a task's result may hold");
  }, 30_000);

  test("a remote failure is retried, then dead-lettered; a rejection fails at once", async () => {
    await worker("flaky-remote", ["--a2a", agentUrl()]);
    const failing = await bench.route("flaky-remote", { task_type: "try", description: "fail" }, { max_attempts: 2 });
    const rejected = await bench.route("flaky-remote", { task_type: "try", description: "reject" }, { max_attempts: 2 });
    await bench.settled(failing, "dead_lettered");
    await bench.settled(rejected, "failed");
    const f = await bench.read(failing);
    expect(f.attempt).toBe(2);
    expect(f.error).toContain("the model is down");
    const r = await bench.read(rejected);
    expect(r.attempt).toBe(1);
    expect(r.error).toContain("not my kind of work");
  }, 30_000);

  test("cancelling the mesh task cancels the remote one", async () => {
    await worker("slow-remote", ["--a2a", agentUrl()]);
    const id = await bench.route("slow-remote", { task_type: "long", description: "wait" });
    const remote = await remoteOf(id);
    await until(async () => (await bench.read(id)).progress?.message === "thinking", "the remote agent's status message is the task's progress");
    const res = await c.api(alice, "POST", `/tasks/${id}/cancel`, {}, { "idempotency-key": crypto.randomUUID() });
    expect(res.status).toBeLessThan(300);
    await until(async () => cancelled.includes(remote), "the remote task was cancelled", 15_000);
    expect((await bench.read(id)).status).toBe("cancelled");
  }, 30_000);

  test("the remote agent's question goes to the task's sender, and the answer back to the remote task", async () => {
    await worker("curious-remote", ["--a2a", agentUrl()]);
    const id = await bench.route("curious-remote", { task_type: "fix", description: "question" });
    await bench.settled(id, "input_required");
    expect((await bench.read(id)).thread.at(-1)).toMatchObject({ kind: "question", text: "Which branch holds the fix?" });
    const res = await c.api(alice, "POST", `/tasks/${id}/reply`, { answer: "fix-retries" }, { "idempotency-key": crypto.randomUUID() });
    expect(res.status).toBeLessThan(300);
    await bench.settled(id, "completed");
    expect((await bench.read(id)).result).toEqual({ branch: "fix-retries" });
  }, 30_000);

  test("--timeout cancels the remote task and fails the mesh task for a retry", async () => {
    await worker("stuck-remote", ["--a2a", agentUrl(), "--timeout", "1s"]);
    const id = await bench.route("stuck-remote", { task_type: "long", description: "wait" }, { max_attempts: 1 });
    const remote = await remoteOf(id);
    await bench.settled(id, "dead_lettered");
    expect((await bench.read(id)).error).toContain("timed out after 1 s");
    await until(async () => cancelled.includes(remote), "the remote task was cancelled", 15_000);
  }, 30_000);

  test("another mesh's role is an A2A agent too: a task to outer goes through A2A to inner, whose worker's result comes back", async () => {
    await worker("inner", ["--", "sh", "-c", `cat > /dev/null; echo '{"done_by":"inner"}'`]);
    await worker("outer", ["--a2a", `${c.url.replace(/\/$/, "")}/a2a/inner`, "--a2a-token", await c.token("bridge", ["outer"])]);
    const id = await bench.route("outer", { task_type: "relay", description: "pass it on", data: { n: 1 } });
    await bench.settled(id, "completed");
    expect((await bench.read(id)).result).toMatchObject({ done_by: "inner" });
  }, 30_000);

  test("an agent that does not stream answers SendMessage: its artifact completes the task, its failure fails it", async () => {
    await worker("quiet-remote", ["--a2a", `http://127.0.0.1:${quiet.port}`]);
    const answered = await bench.route("quiet-remote", { task_type: "ask", description: "answer", data: { question: "quiet" } });
    const failing = await bench.route("quiet-remote", { task_type: "ask", description: "fail" }, { max_attempts: 1 });
    await bench.settled(answered, "completed");
    expect((await bench.read(answered)).result).toEqual({ answer: 42, asked: { question: "quiet" } });
    await bench.settled(failing, "dead_lettered");
    expect((await bench.read(failing)).error).toContain("the model is down");
  }, 30_000);

  test("an address with no A2A agent stops the worker at start with one line: nothing listening, or no agent card", async () => {
    const site = Bun.serve({ port: 0, fetch: () => new Response("nothing here", { status: 404 }) });
    const notAgent = `http://127.0.0.1:${site.port}`;
    const closed = Bun.serve({ port: 0, fetch: () => new Response("") });
    const nobody = `http://127.0.0.1:${closed.port}`;
    await closed.stop(true);
    for (const [url, why] of [
      [nobody, "cannot be reached"],
      [notAgent, "no A2A agent card found"],
    ] as const) {
      const w = await worker("nowhere", ["--a2a", url]);
      expect(await w.proc.exited).toBe(2);
      await until(async () => w.stderr().endsWith("\n"), "the worker said why");
      const lines = w.stderr().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`agent-mesh worker: --a2a ${url}: ${why}`);
    }
    await site.stop(true);
  }, 30_000);
});
