/**
 * Remote MCP: the controller serves the mesh tools over Streamable HTTP at /mcp, so an
 * agent needs no binary of its own. Every request is authenticated as its caller (the
 * API's bearer JWT), each session is bound to the caller who opened it, and each tool
 * call runs in this process against the service as that caller (in-process-client.ts).
 *
 * Authorization follows the MCP specification for HTTP servers: OAuth 2.0 Protected
 * Resource Metadata (RFC 9728) names the OIDC issuer, a 401 carries a WWW-Authenticate
 * challenge that points to it, and a token must be meant for this resource (its `aud`
 * is MESH_JWT_AUDIENCE or the /mcp URL itself, as RFC 8707 resource indicators make it).
 * Host and Origin are checked as `agent-mesh mcp --http` checks them (DNS rebinding).
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { MeshError } from "../contract/errors.ts";
import type { Logger } from "../lib/log.ts";
import { createGuard } from "../mcp/http-guard.ts";
import { createMcpServer } from "../mcp/server.ts";
import { McpSessions } from "../mcp/sessions.ts";
import type { Authenticator, Verified } from "./auth.ts";
import { json, problem, publicBase, type Route, type Seen } from "./http.ts";
import { inProcessClient } from "./in-process-client.ts";
import { apiHandlers } from "./routes.ts";
import type { MeshService } from "./service.ts";
import type { ControllerSettings } from "./settings.ts";

export const MCP_PATH = "/mcp";
/** RFC 9728's well-known place; the 401's challenge names it. */
export const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource";

export type RemoteMcpOptions = {
  service: MeshService;
  authenticate: Authenticator;
  settings: Pick<ControllerSettings, "host" | "publicUrl" | "oidcIssuer" | "audience" | "mcpMaxSessions" | "mcpAllowedHosts">;
  /** Ends long-polls when the controller stops. */
  shutdown: AbortSignal;
  log: Logger;
};

/** The caller a request authenticated as, carried to its tool calls by the SDK's authInfo. */
type CallerInfo = AuthInfo & { extra: { verified: Verified; baseUrl: string } };

/** A challenge's quoted value: RFC 6750 allows neither `"` nor `\` in it. */
const quoted = (text: string) => `"${text.replace(/["\\]/g, "'")}"`;

export function remoteMcpRoutes(o: RemoteMcpOptions): Route[] {
  const { settings } = o;
  const handlers = apiHandlers(o.service);
  const baseOf = (url: URL) => publicBase(settings.publicUrl, url);
  const guard = createGuard({
    listenHost: settings.host,
    extraHosts: [...(settings.publicUrl ? [new URL(settings.publicUrl).hostname] : []), ...settings.mcpAllowedHosts],
  });
  const sessions = new McpSessions({
    maxSessions: settings.mcpMaxSessions,
    log: o.log,
    newServer: () =>
      createMcpServer({
        log: o.log,
        clientFor(authInfo) {
          // Every request reaching a session was authenticated first (below), so each tool call has its caller.
          const { verified, baseUrl } = (authInfo as CallerInfo).extra;
          return inProcessClient({ handlers, verified, baseUrl, shutdown: o.shutdown, log: o.log });
        },
      }),
  });
  o.shutdown.addEventListener("abort", () => void sessions.stop(), { once: true });

  /** RFC 9728: what this resource is and who issues its tokens (none to name with the dev key: `agent-mesh token` mints them). */
  const metadata = async (_req: Request, url: URL) =>
    json({
      resource: `${baseOf(url)}${MCP_PATH}`,
      ...(settings.oidcIssuer && { authorization_servers: [settings.oidcIssuer] }),
      bearer_methods_supported: ["header"],
      resource_name: "Agent Mesh",
    });

  /** RFC 6750's challenge: where to learn how to get a token, and, when one was sent, why it failed. */
  function unauthorized(error: MeshError, url: URL, sentToken: boolean, traceId: string): Response {
    const response = problem("unauthenticated", error.message, traceId);
    const why = sentToken ? `error="invalid_token", error_description=${quoted(error.message)}, ` : "";
    response.headers.set("www-authenticate", `Bearer ${why}resource_metadata=${quoted(`${baseOf(url)}${RESOURCE_METADATA_PATH}`)}`);
    return response;
  }

  async function mcp(req: Request, url: URL, _params: Record<string, string>, traceId: string, seen: Seen): Promise<Response> {
    const refusal = guard(req);
    if (refusal) return refusal;
    const authorization = req.headers.get("authorization");
    const resource = `${baseOf(url)}${MCP_PATH}`;
    let verified: Verified;
    try {
      verified = await o.authenticate(authorization, [settings.audience, resource]);
    } catch (error) {
      if (error instanceof MeshError && error.kind === "unauthenticated") return unauthorized(error, url, authorization !== null, traceId);
      throw error;
    }
    seen.identified(verified.caller.subject);
    const authInfo: CallerInfo = {
      token: authorization!.replace(/^Bearer\s+/i, "").trim(),
      clientId: verified.caller.subject,
      scopes: [],
      expiresAt: Math.floor(verified.expiresAt / 1000),
      resource: new URL(resource),
      extra: { verified, baseUrl: baseOf(url) },
    };
    return sessions.handle(req, { id: verified.caller.subject, authInfo });
  }

  return [
    { method: "GET", path: RESOURCE_METADATA_PATH, handle: metadata },
    // Where RFC 9728 puts the metadata of a resource with a path, which MCP clients try first.
    { method: "GET", path: `${RESOURCE_METADATA_PATH}${MCP_PATH}`, handle: metadata },
    ...(["POST", "GET", "DELETE"] as const).map((method) => ({ method, path: MCP_PATH, handle: mcp })),
  ];
}
