/**
 * A2A v1.0 as its JSON-RPC binding carries it (ProtoJSON: camelCase fields, enum names
 * in SCREAMING_SNAKE_CASE), written from the specification (a2a.proto): zod schemas
 * for what a caller sends, types for what the controller answers. Unknown fields are
 * ignored, as the specification asks.
 */
import { z } from "zod";
import { Part } from "../../contract/a2a.ts";
import { JsonObject, LIMITS } from "../../contract/schemas.ts";

export { A2A_VERSION, Part } from "../../contract/a2a.ts";

/** The JSON-RPC methods of A2A v1.0 this controller answers. */
export const METHODS = [
  "SendMessage",
  "SendStreamingMessage",
  "GetTask",
  "CancelTask",
  "SubscribeToTask",
  "CreateTaskPushNotificationConfig",
  "GetTaskPushNotificationConfig",
  "ListTaskPushNotificationConfigs",
  "DeleteTaskPushNotificationConfig",
] as const;
export type A2AMethod = (typeof METHODS)[number];

export const RpcRequest = z.object({
  jsonrpc: z.literal("2.0"),
  id: z.union([z.string(), z.number(), z.null()]).optional(),
  method: z.string(),
  params: z.unknown().optional(),
});
export type RpcRequest = z.infer<typeof RpcRequest>;

const id = z.string().min(1).max(LIMITS.idLength);

export const Message = z.object({
  messageId: id,
  contextId: id.optional(),
  taskId: id.optional(),
  role: z.enum(["ROLE_USER", "ROLE_AGENT"]),
  parts: z.array(Part).min(1, "a message needs at least one part"),
  metadata: JsonObject.optional(),
  referenceTaskIds: z.array(z.string()).optional(),
});
export type Message = z.infer<typeof Message>;

export const PushConfig = z.object({
  id: z.string().max(LIMITS.idLength).optional(),
  taskId: z.string().max(LIMITS.idLength).optional(),
  url: z.string().min(1).max(2048),
  token: z.string().max(1024).optional(),
  authentication: z.object({ scheme: z.string().min(1).max(64), credentials: z.string().max(4096).optional() }).optional(),
});
export type PushConfig = z.infer<typeof PushConfig>;

export const SendMessageRequest = z.object({
  message: Message,
  configuration: z
    .object({
      taskPushNotificationConfig: PushConfig.optional(),
      returnImmediately: z.boolean().optional(),
      historyLength: z.number().int().min(0).optional(),
      acceptedOutputModes: z.array(z.string()).optional(),
    })
    .optional(),
  metadata: JsonObject.optional(),
});
export type SendMessageRequest = z.infer<typeof SendMessageRequest>;

export const TaskIdRequest = z.object({ id, historyLength: z.number().int().min(0).optional(), metadata: JsonObject.optional() });

export const PushConfigRef = z.object({ taskId: id, id });
export const PushConfigList = z.object({ taskId: id });

// ── what the controller answers ─────────────────────────────────────────────

export type TaskState =
  | "TASK_STATE_SUBMITTED"
  | "TASK_STATE_WORKING"
  | "TASK_STATE_COMPLETED"
  | "TASK_STATE_FAILED"
  | "TASK_STATE_CANCELED"
  | "TASK_STATE_INPUT_REQUIRED";

export type OutPart = { text: string } | { data: unknown; mediaType: string };
export type OutMessage = { messageId: string; contextId: string; taskId: string; role: "ROLE_AGENT"; parts: OutPart[] };
export type TaskStatus = { state: TaskState; timestamp: string; message?: OutMessage };
export type Artifact = { artifactId: string; name: string; parts: OutPart[] };
export type A2ATask = { id: string; contextId: string; status: TaskStatus; artifacts?: Artifact[]; metadata: JsonObject };

/** One event of a stream, or one push notification's body. */
export type StreamResponse =
  | { task: A2ATask }
  | { statusUpdate: { taskId: string; contextId: string; status: TaskStatus } }
  | { artifactUpdate: { taskId: string; contextId: string; artifact: Artifact; lastChunk: true } };

export type StoredPushConfig = { id: string; taskId: string; url: string; authentication?: PushConfig["authentication"] };

/** The A2A error codes (specification §5.4) and JSON-RPC's own. */
export const CODES = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** Not A2A's: a caller without a valid token, or one the mesh's rules refuse. */
  unauthorized: -32000,
  taskNotFound: -32001,
  taskNotCancelable: -32002,
  pushNotSupported: -32003,
  unsupportedOperation: -32004,
  contentTypeNotSupported: -32005,
  versionNotSupported: -32009,
} as const;

/** A failure to answer as a JSON-RPC error. */
export class RpcError extends Error {
  override name = "RpcError";
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}
