/**
 * Mesh tasks as A2A sees them, and A2A messages as mesh tasks. The mapping of states
 * is one table, total over the mesh's states, so a new state does not compile until
 * it says what A2A calls it.
 */
import type { JsonObject, RouteTaskRequest, Task, TaskStatus as MeshStatus, ThreadMessage } from "../../contract/schemas.ts";

/** A task, with its thread when the caller read it in full (so an input-required state can carry the question). */
type TaskRead = Task & { thread?: ThreadMessage[] };
import { type A2ATask, type Artifact, CODES, type Message, type OutMessage, RpcError, type StreamResponse, type TaskState, type TaskStatus } from "./wire.ts";

export const STATES: Record<MeshStatus, TaskState> = {
  pending: "TASK_STATE_SUBMITTED",
  claimed: "TASK_STATE_WORKING",
  input_required: "TASK_STATE_INPUT_REQUIRED",
  completed: "TASK_STATE_COMPLETED",
  failed: "TASK_STATE_FAILED",
  cancelled: "TASK_STATE_CANCELED",
  // Out of attempts, or past its deadline: failed, with the reason as the status message.
  dead_lettered: "TASK_STATE_FAILED",
  expired: "TASK_STATE_FAILED",
};

/** States after which nothing changes: a stream ends there. */
export const TERMINAL: ReadonlySet<TaskState> = new Set(["TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED"]);

/** Where a task created through A2A keeps what A2A said about it. */
type A2AOrigin = { contextId?: string; messageId?: string };

const originOf = (task: Task): A2AOrigin => {
  const a2a = task.context.a2a;
  return a2a && typeof a2a === "object" && !Array.isArray(a2a) ? (a2a as A2AOrigin) : {};
};

/** The context a task belongs to: the one its sender gave, or else the task's own id. */
export const contextOf = (task: Task): string => originOf(task).contextId ?? task.task_id;

/** The words that go with a state, from the agent: its question, or why it failed, ran out of attempts or time, or was cancelled. */
function statusOf(task: TaskRead): TaskStatus {
  const state = STATES[task.status];
  const words =
    task.status === "input_required"
      ? (task.thread?.findLast((m) => m.kind === "question")?.text ?? "The agent asked a question; answer with a message that names this task.")
      : task.status === "expired"
        ? (task.error ?? `Its deadline (${task.deadline}) passed before it was finished.`)
        : task.status === "failed" || task.status === "cancelled" || task.status === "dead_lettered"
          ? task.error
          : null;
  const message: OutMessage | undefined = words
    ? { messageId: `${task.task_id}-v${task.version}`, contextId: contextOf(task), taskId: task.task_id, role: "ROLE_AGENT", parts: [{ text: words }] }
    : undefined;
  return { state, timestamp: task.updated_at, ...(message && { message }) };
}

/** A completed task's result, as its one artifact. */
function resultOf(task: Task): Artifact | null {
  if (task.status !== "completed" || task.result === null) return null;
  return { artifactId: `${task.task_id}-result`, name: "result", parts: [{ data: task.result, mediaType: "application/json" }] };
}

export function toA2ATask(task: TaskRead): A2ATask {
  const artifact = resultOf(task);
  return {
    id: task.task_id,
    contextId: contextOf(task),
    status: statusOf(task),
    ...(artifact && { artifacts: [artifact] }),
    metadata: { mesh: { task_type: task.task_type, source: task.source, target: task.target, claimed_by: task.claimed_by, version: task.version } },
  };
}

/** What a stream sends when a task reaches a new state: its result first, if it has one, then the state. */
export function updatesOf(task: TaskRead): StreamResponse[] {
  const artifact = resultOf(task);
  const status = { taskId: task.task_id, contextId: contextOf(task), status: statusOf(task) };
  return [
    ...(artifact ? [{ artifactUpdate: { taskId: task.task_id, contextId: status.contextId, artifact, lastChunk: true as const } }] : []),
    { statusUpdate: status },
  ];
}

/** A message to a role as the mesh task it asks for: text parts are the description, data parts its data. */
export function taskFor(role: string, message: Message): RouteTaskRequest {
  const texts: string[] = [];
  const data: JsonObject = {};
  for (const [i, part] of message.parts.entries()) {
    if (part.text !== undefined) texts.push(part.text);
    else if (part.data !== undefined) {
      if (!part.data || typeof part.data !== "object" || Array.isArray(part.data)) {
        throw new RpcError(CODES.invalidParams, `message.parts[${i}].data must be a JSON object: it becomes the task's data.`, "INVALID_PART");
      }
      Object.assign(data, part.data);
    } else {
      throw new RpcError(
        CODES.contentTypeNotSupported,
        `message.parts[${i}] is a file (raw or url); a mesh task takes text and data parts only.`,
        "CONTENT_TYPE_NOT_SUPPORTED",
      );
    }
  }
  const origin: A2AOrigin = { messageId: message.messageId, ...(message.contextId && { contextId: message.contextId }) };
  return {
    target: role,
    task: { task_type: "a2a_message", ...(texts.length && { description: texts.join("\n\n") }), ...(Object.keys(data).length && { data }) },
    context: { a2a: origin },
  };
}
