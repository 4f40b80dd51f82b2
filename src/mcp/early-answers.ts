/**
 * The answers to `initialize` and `tools/list` that the build step took from the real
 * server (scripts/build.ts, captured by early-answers-capture.ts). Over stdio they go out
 * while the MCP SDK and the tools' zod schemas still load, so a host sees the server
 * ready sooner. Nothing here loads the SDK or zod: that is the point.
 */

/** What the real server answered, minus the protocol version, which follows the client's. */
export type EarlyAnswerSet = {
  /** The versions the SDK speaks (SUPPORTED_PROTOCOL_VERSIONS) and its newest (LATEST_PROTOCOL_VERSION). */
  protocolVersions: string[];
  latestProtocolVersion: string;
  initialize: Record<string, unknown>;
  toolsList: Record<string, unknown>;
};

/** JSON text of an EarlyAnswerSet. */
declare const MCP_EARLY_ANSWERS: string | undefined;

/** Set in the compiled binary; from source the real server answers everything. */
export const EARLY_ANSWERS: EarlyAnswerSet | undefined = typeof MCP_EARLY_ANSWERS === "string" ? JSON.parse(MCP_EARLY_ANSWERS) : undefined;

/** What to do with a message that came before the server loaded, when the server need not load for it. */
export type EarlyTake = {
  answer?: { id: string | number; result: Record<string, unknown> };
  /** The server still hears it once loaded (initialize tells it the client's capabilities); its own answer is dropped. */
  replay: boolean;
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const hasOnly = (o: Json, keys: string[]) => Object.keys(o).every((k) => keys.includes(k));
const isId = (v: unknown): v is string | number => typeof v === "string" || Number.isInteger(v);
const optional = (o: Json, key: string, is: (v: unknown) => boolean) => !(key in o) || is(o[key]);

/** Only a request the SDK would surely accept is answered early; anything else waits for the server to judge it. */
function isPlainInitialize(params: unknown): params is Json {
  return (
    isObject(params) &&
    typeof params.protocolVersion === "string" &&
    isObject(params.capabilities) &&
    isObject(params.clientInfo) &&
    typeof params.clientInfo.name === "string" &&
    typeof params.clientInfo.version === "string" &&
    optional(params, "_meta", isObject)
  );
}

const isPlainListing = (params: unknown) =>
  params === undefined ||
  (isObject(params) && hasOnly(params, ["cursor", "_meta"]) && optional(params, "cursor", (c) => typeof c === "string") && optional(params, "_meta", isObject));

/** How to take this line before the server loads: undefined if only the server can take it, so it must load now. */
export function takeEarly(answers: EarlyAnswerSet, line: string): EarlyTake | undefined {
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(message) || message.jsonrpc !== "2.0" || !hasOnly(message, ["jsonrpc", "id", "method", "params"])) return undefined;
  const { id, method, params } = message;
  // The handshake's last step asks no answer: the server hears it in turn once a later message loads it.
  if (!("id" in message) && method === "notifications/initialized" && optional(message, "params", isObject)) return { replay: true };
  if (!isId(id)) return undefined;
  if (method === "initialize" && isPlainInitialize(params)) {
    // As the SDK's Server does: the client's version if it is spoken here, else the newest.
    const asked = params.protocolVersion as string;
    const protocolVersion = answers.protocolVersions.includes(asked) ? asked : answers.latestProtocolVersion;
    return { answer: { id, result: { protocolVersion, ...answers.initialize } }, replay: true };
  }
  if (method === "tools/list" && isPlainListing(params)) return { answer: { id, result: answers.toolsList }, replay: false };
  return undefined;
}
