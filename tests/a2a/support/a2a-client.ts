/**
 * A third-party A2A client: the official `@a2a-js/sdk` (v1.0, JSON-RPC), finding a
 * role's agent through its Agent Card and sending the caller's bearer token.
 */
import { AgentCard, Role, type Message, type Part, type Task } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, type Client } from "@a2a-js/sdk/client";

/** A fetch that sends `token` as the caller's bearer token. */
const withToken = (token: string): typeof fetch =>
  ((input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  }) as typeof fetch;

/**
 * The client for role `role` of the controller at `controllerUrl`, as the holder of `token`.
 * With `protocolVersion` "0.3" it is an older client: it sees only the card's v0.3 interface
 * and speaks v0.3's dialect (the SDK's own v0.3 transport).
 */
export async function a2aClient(controllerUrl: string, role: string, token: string, protocolVersion: "1.0" | "0.3" = "1.0"): Promise<Client> {
  const transport = new JsonRpcTransportFactory({ fetchImpl: withToken(token), ...(protocolVersion === "0.3" && { legacyCompat: { enabled: true } }) });
  const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [transport] }));
  const cardUrl = new URL(`a2a/${encodeURIComponent(role)}/.well-known/agent-card.json`, controllerUrl).href;
  if (protocolVersion === "1.0") return factory.createFromUrl(cardUrl, "");
  const card = (await (await fetch(cardUrl)).json()) as { supportedInterfaces: { protocolVersion: string }[] };
  const older = { ...card, supportedInterfaces: card.supportedInterfaces.filter((i) => i.protocolVersion === protocolVersion) };
  return factory.createFromAgentCard(AgentCard.fromJSON(older));
}

/** A user message with a text part and, if given, a data part. */
export function userMessage(text: string, data?: Record<string, unknown>, messageId: string = crypto.randomUUID()): Message {
  const part = (content: Part["content"]): Part => ({ content, metadata: undefined, filename: "", mediaType: "" });
  return {
    messageId,
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [part({ $case: "text", value: text }), ...(data ? [part({ $case: "data", value: data })] : [])],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

/** Sends `message` without waiting for the task to finish, and answers the task as first created. */
export async function submit(client: Client, message: Message): Promise<Task> {
  const configuration = { acceptedOutputModes: [], returnImmediately: true, historyLength: undefined, taskPushNotificationConfig: undefined };
  const answer = await client.sendMessage({ tenant: "", message, configuration, metadata: undefined });
  if (!("status" in answer)) throw new Error(`expected a task, got a message: ${JSON.stringify(answer)}`);
  return answer;
}
