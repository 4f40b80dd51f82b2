/**
 * A2A v0.3's JSON-RPC dialect (`message/send` …) as a translation to and from v1.0:
 * its params become v1.0 params for the same methods, their answers go back in v0.3's
 * shapes (a `kind` on every object, lower-case states, parts as `{kind, text|data|file}`).
 * The error codes are the same in both.
 */
import type { JsonObject } from "../../contract/schemas.ts";
import { TERMINAL } from "./translate.ts";
import type { A2AMethod, A2ATask, Artifact, OutPart, StoredPushConfig, StreamResponse, TaskStatus } from "./wire.ts";

/** v0.3's method names, each the v1.0 method it is. */
export const V0_3_METHODS: Readonly<Record<string, A2AMethod>> = {
  "message/send": "SendMessage",
  "message/stream": "SendStreamingMessage",
  "tasks/get": "GetTask",
  "tasks/cancel": "CancelTask",
  "tasks/resubscribe": "SubscribeToTask",
  "tasks/pushNotificationConfig/set": "CreateTaskPushNotificationConfig",
  "tasks/pushNotificationConfig/get": "GetTaskPushNotificationConfig",
  "tasks/pushNotificationConfig/list": "ListTaskPushNotificationConfigs",
  "tasks/pushNotificationConfig/delete": "DeleteTaskPushNotificationConfig",
};

const record = (value: unknown): Record<string, unknown> =>
  value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/** A v0.3 part as v1.0 writes it; what is not a part is passed on for v1.0's validation to refuse. */
function partIn(part: unknown): unknown {
  const p = record(part);
  if (p.kind === "text") return { text: p.text };
  if (p.kind === "data") return { data: p.data };
  if (p.kind === "file") return record(p.file).uri !== undefined ? { url: record(p.file).uri } : { raw: record(p.file).bytes };
  return part;
}

function messageIn(message: unknown): unknown {
  const m = record(message);
  const role = m.role === "user" ? "ROLE_USER" : m.role === "agent" ? "ROLE_AGENT" : m.role;
  return { ...m, role, parts: Array.isArray(m.parts) ? m.parts.map(partIn) : m.parts };
}

function pushIn(config: unknown): unknown {
  const c = record(config);
  const auth = c.authentication === undefined ? undefined : record(c.authentication);
  return {
    ...c,
    authentication: auth && { scheme: Array.isArray(auth.schemes) ? auth.schemes[0] : undefined, credentials: auth.credentials },
  };
}

/** v0.3 params as the v1.0 method takes them. */
export function paramsIn(method: A2AMethod, params: unknown): unknown {
  const p = record(params);
  switch (method) {
    case "SendMessage":
    case "SendStreamingMessage": {
      const configuration = record(p.configuration);
      return {
        message: messageIn(p.message),
        configuration: {
          // v0.3 answers at once unless asked to block.
          returnImmediately: configuration.blocking !== true,
          ...(configuration.pushNotificationConfig !== undefined && { taskPushNotificationConfig: pushIn(configuration.pushNotificationConfig) }),
        },
      };
    }
    case "CreateTaskPushNotificationConfig":
      return { ...record(pushIn(p.pushNotificationConfig)), taskId: p.taskId };
    case "GetTaskPushNotificationConfig":
    case "DeleteTaskPushNotificationConfig":
      return { taskId: p.id, id: p.pushNotificationConfigId };
    case "ListTaskPushNotificationConfigs":
      return { taskId: p.id };
    default:
      return params;
  }
}

const partOut = (part: OutPart) => ("text" in part ? { kind: "text", text: part.text } : { kind: "data", data: part.data });

/** TASK_STATE_INPUT_REQUIRED → input-required. */
const stateOut = (status: TaskStatus) => ({
  state: status.state.replace("TASK_STATE_", "").toLowerCase().replace("_", "-"),
  timestamp: status.timestamp,
  ...(status.message && { message: { kind: "message", ...status.message, role: "agent", parts: status.message.parts.map(partOut) } }),
});

const artifactOut = (artifact: Artifact) => ({ ...artifact, parts: artifact.parts.map(partOut) });

const taskOut = (task: A2ATask) => ({
  kind: "task",
  id: task.id,
  contextId: task.contextId,
  status: stateOut(task.status),
  ...(task.artifacts && { artifacts: task.artifacts.map(artifactOut) }),
  metadata: task.metadata,
});

/** One stream event as v0.3 sends it. */
export function eventOut(event: StreamResponse): JsonObject {
  if ("task" in event) return taskOut(event.task);
  if ("artifactUpdate" in event) {
    const { artifact, ...rest } = event.artifactUpdate;
    return { kind: "artifact-update", ...rest, artifact: artifactOut(artifact) };
  }
  const status = stateOut(event.statusUpdate.status);
  return {
    kind: "status-update",
    taskId: event.statusUpdate.taskId,
    contextId: event.statusUpdate.contextId,
    status,
    final: TERMINAL.has(event.statusUpdate.status.state),
  };
}

const pushOut = ({ taskId, authentication, ...config }: StoredPushConfig) => ({
  taskId,
  pushNotificationConfig: {
    ...config,
    ...(authentication && { authentication: { schemes: [authentication.scheme], credentials: authentication.credentials } }),
  },
});

/** A v1.0 method's answer as v0.3 answers it. */
export function resultOut(method: A2AMethod, result: unknown): unknown {
  switch (method) {
    case "SendMessage":
      return taskOut((result as { task: A2ATask }).task);
    case "GetTask":
    case "CancelTask":
      return taskOut(result as A2ATask);
    case "CreateTaskPushNotificationConfig":
    case "GetTaskPushNotificationConfig":
      return pushOut(result as StoredPushConfig);
    case "ListTaskPushNotificationConfigs":
      return (result as { configs: StoredPushConfig[] }).configs.map(pushOut);
    default:
      return null;
  }
}
