/**
 * A third-party A2A client: the official `@a2a-js/sdk` (v1.0, JSON-RPC), finding a
 * role's agent through its Agent Card and sending the caller's bearer token.
 */
import { Role, type Message, type Part, type Task } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, type Client } from "@a2a-js/sdk/client";

/** A fetch that sends `token` as the caller's bearer token. */
const withToken = (token: string): typeof fetch =>
  ((input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  }) as typeof fetch;

/** The client for role `role` of the controller at `controllerUrl`, as the holder of `token`. */
export async function a2aClient(controllerUrl: string, role: string, token: string): Promise<Client> {
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: withToken(token) })] }),
  );
  return factory.createFromUrl(new URL(`a2a/${encodeURIComponent(role)}/.well-known/agent-card.json`, controllerUrl).href, "");
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
