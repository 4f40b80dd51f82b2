/**
 * Who may talk to the MCP endpoint over HTTP. A web page the user visits can make the
 * browser send requests to a local server (DNS rebinding), so Host and Origin must
 * name this server; and a bearer token, when set, must match.
 */
import { timingSafeEqual } from "node:crypto";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

export const isLoopback = (host: string) => LOOPBACK_NAMES.includes(host) || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);

export type GuardOptions = { listenHost: string; extraHosts: string[]; token?: string };

/** JSON-RPC's shape for an error that belongs to no request. */
export const rpcError = (status: number, message: string, headers?: HeadersInit) =>
  Response.json({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }, { status, headers });

const hostnameOf = (value: string) => {
  try {
    return new URL(value).hostname.toLowerCase();
  } catch {
    return undefined;
  }
};

const sameSecret = (given: string, expected: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Returns a refusal for a request that may not reach the MCP endpoint, or null. */
export function createGuard(o: GuardOptions): (req: Request) => Response | null {
  const wildcard = o.listenHost === "0.0.0.0" || o.listenHost === "::";
  const listen = o.listenHost.includes(":") && !o.listenHost.startsWith("[") ? `[${o.listenHost}]` : o.listenHost;
  const allowed = new Set([...LOOPBACK_NAMES, ...(wildcard ? [] : [listen]), ...o.extraHosts].map((h) => h.toLowerCase()));

  return (req) => {
    const host = hostnameOf(`http://${req.headers.get("host") ?? ""}`);
    if (!host || !allowed.has(host)) {
      return rpcError(403, `Host ${req.headers.get("host") ?? "(none)"} is not this server; add it to MESH_MCP_ALLOWED_HOSTS if it should be.`);
    }
    // Browsers send Origin; other MCP clients usually do not.
    const origin = req.headers.get("origin");
    if (origin !== null) {
      const name = hostnameOf(origin);
      if (!name || !allowed.has(name)) return rpcError(403, `Origin ${origin} may not use this server; add its host to MESH_MCP_ALLOWED_HOSTS if it should.`);
    }
    if (o.token !== undefined) {
      const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "")?.[1];
      if (!given || !sameSecret(given, o.token)) {
        return rpcError(401, "Send the token from MESH_MCP_TOKEN as `Authorization: Bearer <token>`.", { "www-authenticate": 'Bearer realm="agent-mesh"' });
      }
    }
    return null;
  };
}
