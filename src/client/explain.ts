/**
 * Turns a failed call into words a model (or a person) can act on: what happened,
 * the likely cause and what to do next, with the trace id to find it later.
 */
import type { Failure, FailureKind } from "./controller-client.ts";

/**
 * Who reads the advice, and how they change what the client was started with: an
 * agent's MCP server must be restarted, a person's command just run again.
 */
export type Audience = {
  /** How a changed setting takes effect. */
  apply: string;
  /** How to try the same thing again, when nothing needs to change here. */
  again: string;
  lookUp: string;
  ids: string;
  /** How to repeat a call that may have been done already without doing it twice, if this audience can. */
  repeat?: (idempotencyKey: string) => string;
};
export const FOR_AGENTS: Audience = {
  apply: "restart this MCP server",
  again: "call again (this server reconnects by itself; it needs no restart)",
  lookUp: "Call fetch_status",
  ids: "send_task, check_inbox or list_approvals",
  repeat: (key) =>
    `it may have been done already, so call again with the same arguments and idempotency_key="${key}": the controller then answers with what the first call did instead of doing it twice.`,
};
/** Agents calling a tool with no idempotency_key: it moves something on once, so a repeat finds it done (409) and is safe. */
export const FOR_AGENTS_SETTLING: Audience = {
  ...FOR_AGENTS,
  repeat: () => "it may have been done already; calling again is safe: if it was, the controller answers that it is already done and nothing happens twice.",
};
export const FOR_PEOPLE: Audience = {
  apply: "run the command again",
  again: "run the command again",
  lookUp: "Run `agent-mesh tasks show TASK_ID`",
  ids: "`agent-mesh tasks list` or `agent-mesh approvals list`",
};

/** A call this server refused before asking the controller anything. */
export type Refusal = { message: string; next: string; field?: string };

type Advice = { what: string; cause?: string; next: string };

const fieldsOf = (f: Failure) => (f.fields?.length ? f.fields.map((e) => `${e.field}: ${e.message}`).join("; ") : f.detail);

function advise(f: Failure, tokenOrigin: string, to: Audience): Advice {
  const advice: Record<FailureKind, () => Advice> = {
    unreachable: () => ({ what: `Could not reach the controller at ${f.controllerUrl}: ${f.detail}.`, ...unreachable(f, to) }),
    timeout: () => ({
      what: `The controller at ${f.controllerUrl} did not answer in time (${f.detail}).`,
      cause: "It is overloaded, or its database is slow.",
      next: "Try again in a little while; MESH_TIMEOUT_SECS allows a longer wait per attempt.",
    }),
    cancelled: () => ({ what: "The call was cancelled before it finished.", next: "Call again if it is still wanted." }),
    credentials: () =>
      f.gaveUp
        ? { what: `Could not get a token: ${f.detail}`, cause: "The identity provider is down or out of reach.", next: `Try again shortly: ${to.again}.` }
        : {
            what: `Could not get a token: ${f.detail}`,
            cause: "The identity provider does not accept MESH_CLIENT_ID and MESH_CLIENT_SECRET, or MESH_OIDC_ISSUER / MESH_TOKEN_URL names the wrong place.",
            next: `Correct those settings with whoever runs the identity provider, then ${to.apply}.`,
          },
    unauthenticated: () => ({
      what: `The controller rejected the token: ${f.detail}`,
      cause: f.tokenDiagnosis ?? `The token from ${tokenOrigin} is not accepted by this controller (issuer or audience differ).`,
      next:
        tokenOrigin === "MESH_JWT_TOKEN"
          ? `Mint a new one with \`agent-mesh token --sub NAME --role ROLE\`, set MESH_JWT_TOKEN to it and ${to.apply}.`
          : "Check that the controller's MESH_OIDC_ISSUER and MESH_JWT_AUDIENCE match the identity provider this server uses.",
    }),
    forbidden: () => ({
      what: `Not allowed: ${f.detail}`,
      next: "Leave it to whoever the line above names; if it should be you, ask an administrator for that role.",
    }),
    not_found: () => ({ what: `Not found: ${f.detail}`, next: `Check the id: copy it from ${to.ids}.` }),
    no_route: () => ({
      what: `The controller has no ${f.request}.`,
      cause: `CONTROLLER_URL (${f.controllerUrl}) has a path after the host, or points at something that is not an Agent Mesh controller.`,
      next: `Set CONTROLLER_URL to the controller's base URL, e.g. http://localhost:8088, and ${to.apply}.`,
    }),
    conflict: () => ({
      what: `Conflict: ${f.detail}`,
      cause: "The task or approval is no longer in the state this needs: someone got there first, or it was already done.",
      next: `${to.lookUp} to see where it stands now.`,
    }),
    invalid: () => ({ what: `The controller refused the request: ${fieldsOf(f)}`, next: "Correct the named field and call again." }),
    bad_request: () => ({ what: `The controller refused the request: ${fieldsOf(f)}`, next: "Correct the request and call again." }),
    payload_too_large: () => ({ what: `Too large: ${f.detail}`, next: "Send less: put big content somewhere shared and pass a link or path instead." }),
    idempotency_mismatch: () => ({
      what: `The controller saw this call's idempotency key with a different request: ${f.detail}`,
      next: "Call again: a new call uses a new key.",
    }),
    rate_limited: () => ({
      what: `Too many requests: ${f.detail}`,
      next: f.retryAfterSeconds
        ? `Wait ${f.retryAfterSeconds} s before trying again.`
        : "Wait a little and try again; finish waits (wait_seconds) you no longer need.",
    }),
    method_not_allowed: () => ({
      what: `The controller does not accept ${f.request}: ${f.detail}`,
      cause: "This client and the controller are different versions.",
      next: "Run matching versions of agent-mesh on both sides.",
    }),
    not_controller: () => ({
      what: `What answers at ${f.controllerUrl} is not an Agent Mesh controller: ${f.request} got ${f.detail}.`,
      cause: "CONTROLLER_URL points at another web server, or at a path below the controller's address.",
      next: `Set CONTROLLER_URL to the controller's base URL (its /status names agent-mesh), e.g. http://localhost:8088, and ${to.apply}.`,
    }),
    unsendable: () => ({ what: f.detail, next: "Correct the arguments and call again." }),
    bad_response: () => ({
      what: f.detail,
      cause: "This client and the controller are different versions.",
      next: "Run matching versions of agent-mesh on both sides.",
    }),
    internal: () => ({
      what: `The controller failed: ${f.detail}`,
      next: "Try again shortly; if it keeps failing, give the trace id to whoever runs the controller.",
    }),
    unavailable: () => ({
      what: `The controller is unavailable: ${f.detail}`,
      cause: "It is starting, stopping or cannot reach its database.",
      next: "Try again shortly; if it keeps failing, give the trace id to whoever runs the controller.",
    }),
  };
  return advice[f.kind]();
}

/** A connection that failed: the cause and next step that fit how it failed. */
function unreachable(f: Failure, to: Audience): Omit<Advice, "what"> {
  switch (f.network) {
    case "no_such_host":
      return {
        cause: "The host name in CONTROLLER_URL is misspelt, or name resolution is down.",
        next: `Set CONTROLLER_URL to the controller's address and ${to.apply}.`,
      };
    case "tls":
      return {
        cause: "CONTROLLER_URL says https:// but the controller speaks plain http, or its certificate is not trusted.",
        next: `Correct CONTROLLER_URL's scheme (or the certificate) and ${to.apply}.`,
      };
    case "closed":
      return {
        cause: "The controller stopped or restarted during the call, or a proxy on the way closed the connection.",
        next: `Once it is back, ${to.again}.`,
      };
    default:
      return {
        cause: "No controller is running at that address: it is stopped, or CONTROLLER_URL names the wrong host or port.",
        next: `Start one with \`agent-mesh controller\` (or ask whoever runs it), then ${to.again}.`,
      };
  }
}

export function explainFailure(f: Failure, tokenOrigin: string, to: Audience = FOR_AGENTS): string {
  const { what, cause, next } = advise(f, tokenOrigin, to);
  // An attempt that may have reached the controller must be repeated with its key, or it may happen twice.
  const mayHaveHappened = f.gaveUp || f.kind === "timeout" || f.kind === "bad_response" || (f.status ?? 0) >= 500;
  const repeat = f.idempotencyKey && mayHaveHappened && to.repeat ? `To repeat it: ${to.repeat(f.idempotencyKey)}` : undefined;
  return [
    what,
    cause && `Likely cause: ${cause}`,
    `What to do: ${next}`,
    repeat,
    f.gaveUp &&
      `Gave up after ${f.attempts} attempt${f.attempts === 1 ? "" : "s"}${f.budgetSeconds ? `, when this call's ${f.budgetSeconds} s time budget${f.waitSeconds ? ` (on top of the ${f.waitSeconds} s it asked to wait)` : ""} ran out` : ""}.`,
    // When an attempt may have reached the controller, the key is how a person checks what it did.
    f.idempotencyKey && (f.gaveUp || f.kind === "bad_response" || f.kind === "timeout") && `Idempotency key: ${f.idempotencyKey}`,
    `Request: ${f.request} on ${f.controllerUrl}${f.status ? ` (HTTP ${f.status})` : ""}`,
    `Trace id: ${f.traceId}`,
  ]
    .filter(Boolean)
    .join("\n");
}

export function explainRefusal(r: Refusal, traceId: string): string {
  return [`Not sent: ${r.field ? `${r.field}: ` : ""}${r.message}`, `What to do: ${r.next}`, `Trace id: ${traceId}`].join("\n");
}
