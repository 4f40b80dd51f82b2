/**
 * The executor that serves a role with a remote A2A agent: each task goes to it as a
 * message (the description a text part, the data a data part, the mesh's view in the
 * metadata), its states come back as progress and an outcome, its artifacts as the result.
 */
import { type JsonObject, LIMITS, type Task } from "../contract/schemas.ts";
import { SettingsError } from "../lib/settings.ts";
import { A2AClient, A2AError, type OutMessage, type RemoteArtifact, type RemoteStatus, type StreamEvent } from "./a2a-client.ts";
import type { Execution, Outcome, TaskExecutor, TaskHooks } from "./executor.ts";

/** The remote agent's states that end its work for the worker: completed, or a failure (what it says, and whether another attempt may do better). */
const ENDINGS = new Map<string, { says: string; retry: boolean } | "completed">([
  ["TASK_STATE_COMPLETED", "completed"],
  ["TASK_STATE_FAILED", { says: "failed the task", retry: true }],
  // The agent will not do it: asking again will not change that.
  ["TASK_STATE_REJECTED", { says: "rejected the task", retry: false }],
  ["TASK_STATE_CANCELED", { says: "cancelled the task", retry: false }],
  // Reached only when the task's sender gave no answer.
  ["TASK_STATE_INPUT_REQUIRED", { says: "asked for input and the task's sender gave none", retry: false }],
  ["TASK_STATE_AUTH_REQUIRED", { says: "asked for authorization, which a worker cannot give it", retry: false }],
]);

export class A2AExecutor implements TaskExecutor {
  private constructor(
    private readonly client: A2AClient,
    private readonly url: string,
    private readonly timeoutSeconds: number,
  ) {}

  get name() {
    return `a2a ${this.client.name} (${this.url})`;
  }

  /** Finds the agent at `url`; refuses, in one line, when there is no A2A agent there. */
  static async connect(url: string, token: string | undefined, timeoutSeconds: number): Promise<A2AExecutor> {
    try {
      return new A2AExecutor(await A2AClient.discover(url, token), url, timeoutSeconds);
    } catch (error) {
      if (error instanceof A2AError) throw new SettingsError(`--a2a ${url}: ${error.message}`);
      throw error;
    }
  }

  start(task: Task, hooks: TaskHooks): Execution {
    return new RemoteRun(this.client, task, this.timeoutSeconds, hooks);
  }
}

/** One task on the remote agent, from the message that starts it to its end. */
class RemoteRun implements Execution {
  readonly outcome: Promise<Outcome>;
  readonly #client: A2AClient;
  readonly #abort = new AbortController();
  #remoteId: string | undefined;
  #contextId: string | undefined;
  #remoteState = "not started";
  #stopReason: string | undefined;

  constructor(client: A2AClient, task: Task, timeoutSeconds: number, hooks: TaskHooks) {
    this.#client = client;
    const timer = setTimeout(() => this.stop(`timed out after ${timeoutSeconds} s`), timeoutSeconds * 1000);
    this.outcome = this.#follow(task, hooks).finally(() => clearTimeout(timer));
  }

  fields = () => ({ remote_task: this.#remoteId, remote_state: this.#remoteState });

  stop(reason: string) {
    if (this.#stopReason) return;
    this.#stopReason = reason;
    this.#cancelRemote();
    this.#abort.abort();
  }

  #cancelRemote() {
    // Best effort: the remote task may have ended already, and the mesh's outcome does not wait for it.
    if (this.#remoteId) this.#client.cancelTask(this.#remoteId).catch(() => {});
  }

  async #follow(task: Task, hooks: TaskHooks): Promise<Outcome> {
    const artifacts = new Map<string, RemoteArtifact>();
    /** Each artifact's size as JSON, and their sum: more than a task's result may hold ends the run. */
    const sizes = new Map<string, number>();
    let artifactBytes = 0;
    const keep = (id: string, artifact: RemoteArtifact) => {
      const bytes = Buffer.byteLength(JSON.stringify(artifact));
      artifactBytes += bytes - (sizes.get(id) ?? 0);
      sizes.set(id, bytes);
      artifacts.set(id, artifact);
      if (artifactBytes > LIMITS.bodyBytes) throw new ResultTooLarge(artifactBytes);
    };
    let status: RemoteStatus | undefined;
    const take = (e: StreamEvent) => {
      if ("message" in e) {
        status = { state: "TASK_STATE_COMPLETED", message: e.message };
        return;
      }
      if ("task" in e) {
        this.#remoteId ??= e.task.id;
        this.#contextId ??= e.task.contextId;
        for (const a of e.task.artifacts ?? []) keep(a.artifactId ?? String(artifacts.size), a);
        status = e.task.status;
      } else if ("statusUpdate" in e) status = e.statusUpdate.status;
      else {
        const { artifact, append } = e.artifactUpdate;
        const id = artifact.artifactId ?? String(artifacts.size);
        const before = append ? artifacts.get(id) : undefined;
        keep(id, before ? { ...artifact, parts: [...before.parts, ...artifact.parts] } : artifact);
        return;
      }
      this.#remoteState = status.state;
      const words = textOf(status.message?.parts ?? []);
      if (words && !ENDINGS.has(status.state)) hooks.progress({ message: words.slice(0, LIMITS.textLength) });
    };
    let message = messageOf(task);
    try {
      for (;;) {
        for await (const e of this.#client.send(message, this.#abort.signal)) {
          const known = this.#remoteId;
          take(e);
          // A stop that came before the remote task had an id reaches it now.
          if (!known && this.#remoteId && this.#stopReason) this.#cancelRemote();
          if (status && ENDINGS.has(status.state)) break;
        }
        if (this.#stopReason) return this.#stopped();
        // The stream may end before the task does (a dropped connection): its state says how it stands.
        if (!(status && ENDINGS.has(status.state)) && this.#remoteId) {
          const t = await this.#client.getTask(this.#remoteId, this.#abort.signal);
          for (const a of t.artifacts ?? []) keep(a.artifactId ?? String(artifacts.size), a);
          status = t.status;
          this.#remoteState = status.state;
        }
        if (status?.state !== "TASK_STATE_INPUT_REQUIRED" || !this.#remoteId) break;
        // The remote agent's question goes to the task's sender; the answer goes back to it as the next message of its task.
        const answer = await hooks.ask(textOf(status.message?.parts ?? []) || "The remote agent needs more input to go on.", this.#abort.signal);
        if (this.#stopReason) return this.#stopped();
        if (answer === null) break;
        message = { messageId: crypto.randomUUID(), role: "ROLE_USER", taskId: this.#remoteId, contextId: this.#contextId, parts: [{ text: answer }] };
        status = undefined;
      }
    } catch (error) {
      if (this.#stopReason) return this.#stopped();
      if (error instanceof ResultTooLarge) {
        this.#cancelRemote();
        return { kind: "fail", error: error.message, retry: false };
      }
      return { kind: "fail", error: `The remote agent could not be asked: ${(error as Error).message}`.slice(0, LIMITS.textLength), retry: true };
    }
    const ending = status && ENDINGS.get(status.state);
    if (!status || !ending)
      return { kind: "fail", error: `The remote agent's stream ended while its task was ${status?.state ?? "not yet started"}`, retry: true };
    if (ending === "completed") return { kind: "complete", result: resultOf([...artifacts.values()], status.message?.parts ?? []) };
    // An interrupted remote task would wait for input no one will give: it is cancelled.
    if (status.state === "TASK_STATE_INPUT_REQUIRED" || status.state === "TASK_STATE_AUTH_REQUIRED") this.#cancelRemote();
    const why = textOf(status.message?.parts ?? []) || "it gave no reason";
    return { kind: "fail", error: `The remote agent ${ending.says}: ${why}`.slice(0, LIMITS.textLength), retry: ending.retry };
  }

  #stopped(): Outcome {
    return { kind: "fail", error: `The worker stopped the remote agent's task: ${this.#stopReason}`, retry: true };
  }
}

/** The remote agent's artifacts outgrew what a task's result may hold: the same agent would do so again. */
class ResultTooLarge extends Error {
  constructor(bytes: number) {
    super(`The remote agent's artifacts came to more than ${LIMITS.bodyBytes} bytes (${bytes} so far), more than a task's result may hold`);
  }
}

/** The task as the remote agent reads it: what to do as text, its data as data, the mesh's view of it in the metadata. */
function messageOf(task: Task): OutMessage {
  const parts: OutMessage["parts"] = [];
  if (task.description) parts.push({ text: task.description });
  if (Object.keys(task.data).length > 0 || parts.length === 0) parts.push({ data: task.data });
  return {
    messageId: `${task.task_id}-${task.attempt}`,
    role: "ROLE_USER",
    parts,
    metadata: { mesh: { task_id: task.task_id, task_type: task.task_type, attempt: task.attempt, source: task.source, context: task.context } },
  };
}

const textOf = (parts: { text?: string }[]) =>
  parts
    .flatMap((p) => (p.text === undefined ? [] : [p.text]))
    .join("\n")
    .trim();

/** A completed task's result: its one JSON object artifact as it is, else its text as {"output": …} (with any other data beside it). */
function resultOf(artifacts: RemoteArtifact[], statusParts: RemoteArtifact["parts"]): JsonObject {
  const parts = artifacts.length > 0 ? artifacts.flatMap((a) => a.parts) : statusParts;
  const data = parts.flatMap((p) => (p.data === undefined ? [] : [p.data]));
  const text = textOf(parts);
  const only = data[0];
  if (data.length === 1 && !text && typeof only === "object" && only !== null && !Array.isArray(only)) return only as JsonObject;
  return { ...(text && { output: text }), ...(data.length > 0 && { data: data as JsonObject[keyof JsonObject] }) };
}
