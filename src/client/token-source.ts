/**
 * Where the MCP side gets the bearer token it shows the controller: a fixed
 * MESH_JWT_TOKEN, or OAuth client credentials fetched from an identity provider,
 * cached, renewed before they expire and renewed once more when the controller
 * rejects them.
 */

import { networkFault } from "./network-fault.ts";
import { discoveryUrl, endpointFrom } from "../lib/oidc.ts";

export type TokenSource = {
  /** What the token comes from, for messages: "MESH_JWT_TOKEN", "client credentials from …". */
  readonly origin: string;
  /** A token good to use now. Throws TokenError when none can be had. */
  token(): Promise<string>;
  /** The controller said 401: forget the token. True when asking again may give a better one. */
  renew(): boolean;
  /** After a 401: what this side can tell about the token (not a JWT, expired, …), as a likely cause. */
  diagnose?(): string;
};

export class TokenError extends Error {
  override name = "TokenError";
  /** The identity provider was unreachable or failed (5xx): trying again may help. */
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export type ClientCredentials = {
  /** The token endpoint, or an issuer whose OIDC discovery names it. */
  endpoint: { tokenUrl: string } | { issuer: string };
  clientId: string;
  clientSecret: string;
  scope?: string;
  timeoutMs?: number;
  now?: () => number;
};

export type TokenSettings = {
  jwt?: string;
  oidcIssuer?: string;
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
};

export function staticToken(token: string, now: () => number = Date.now): TokenSource {
  return { origin: "MESH_JWT_TOKEN", token: async () => token, renew: () => false, diagnose: () => diagnoseJwt(token, now()) };
}

/** Why a fixed token may have been refused, judged from the token alone (its signature is the controller's business). */
export function diagnoseJwt(token: string, now: number): string {
  const claims = jwtClaims(token);
  if (!claims || token.split(".").length !== 3)
    return "MESH_JWT_TOKEN is not a JWT (three base64url parts separated by dots); it may have been cut or mangled when it was copied.";
  if (typeof claims.exp === "number" && claims.exp * 1000 <= now) return `MESH_JWT_TOKEN expired at ${new Date(claims.exp * 1000).toISOString()}.`;
  return "MESH_JWT_TOKEN was made for another controller: signed with another key, or for another issuer or audience.";
}

/** What to say when no way of getting a token is configured. */
export const NO_CREDENTIALS =
  "no credentials: set MESH_JWT_TOKEN (from `agent-mesh token --sub NAME --role ROLE`), or MESH_CLIENT_ID and MESH_CLIENT_SECRET with MESH_OIDC_ISSUER or MESH_TOKEN_URL";

/** Renew this long before expiry: a fifth of the lifetime, at most a minute. */
const renewalMargin = (lifetimeMs: number) => Math.min(60_000, lifetimeMs / 5);

export function clientCredentials(o: ClientCredentials): TokenSource {
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? 10_000;
  let tokenUrl: string | undefined = "tokenUrl" in o.endpoint ? o.endpoint.tokenUrl : undefined;
  let cached: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;

  /** Bounded by its own timeout rather than a caller's signal: concurrent callers share it. */
  async function request(url: string, init: RequestInit = {}): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new TokenError(`The identity provider at ${url} could not be reached: ${networkFault(error).detail}.`, true);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const said = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
      const reason = [said.error, said.error_description].filter((s) => typeof s === "string").join(": ") || text.slice(0, 200);
      throw new TokenError(`The identity provider at ${url} answered ${response.status}: ${reason}`, response.status >= 500 || response.status === 429);
    }
    if (!body || typeof body !== "object") throw new TokenError(`The identity provider at ${url} did not answer with JSON.`, false);
    return body;
  }

  async function discover(issuer: string): Promise<string> {
    const endpoint = endpointFrom(issuer, await request(discoveryUrl(issuer)), "token_endpoint");
    if ("problem" in endpoint) throw new TokenError(`${endpoint.problem}.`, false);
    return endpoint.url;
  }

  async function fetchToken(): Promise<string> {
    tokenUrl ??= await discover((o.endpoint as { issuer: string }).issuer);
    const form = new URLSearchParams({ grant_type: "client_credentials", ...(o.scope && { scope: o.scope }) });
    // client_secret_basic (RFC 6749 §2.3.1): the one method every server must support.
    const basic = Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString("base64");
    const issuedAt = now();
    const body = (await request(tokenUrl, {
      method: "POST",
      headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form,
    })) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== "string" || !body.access_token) throw new TokenError(`The identity provider at ${tokenUrl} sent no access_token.`, false);
    const lifetimeMs = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in * 1000 : lifetimeFromJwt(body.access_token, issuedAt);
    cached = { token: body.access_token, renewAt: issuedAt + lifetimeMs - renewalMargin(lifetimeMs) };
    return body.access_token;
  }

  return {
    origin: `client credentials from ${"tokenUrl" in o.endpoint ? o.endpoint.tokenUrl : o.endpoint.issuer}`,
    async token() {
      if (cached && now() < cached.renewAt) return cached.token;
      // Concurrent calls share one request to the identity provider.
      pending ??= fetchToken().finally(() => (pending = undefined));
      return pending;
    },
    renew() {
      cached = undefined;
      return true;
    },
  };
}

/** Without expires_in, the token's own `exp` says how long it lasts; failing that, a minute. */
function lifetimeFromJwt(token: string, issuedAt: number): number {
  const exp = jwtClaims(token)?.exp;
  return typeof exp === "number" ? Math.max(0, exp * 1000 - issuedAt) : 60_000;
}

/** The token source the settings describe; throws a message naming what is missing. */
export function tokenSourceFrom(s: TokenSettings): TokenSource {
  const wantsClientCredentials = s.clientId !== undefined || s.clientSecret !== undefined;
  if (s.jwt !== undefined) {
    if (wantsClientCredentials) throw new Error("MESH_JWT_TOKEN and MESH_CLIENT_ID/MESH_CLIENT_SECRET are both set; keep one way of getting a token");
    return staticToken(s.jwt);
  }
  // Refused at start, so that a host shows this server as failed rather than connected.
  if (!wantsClientCredentials) throw new Error(NO_CREDENTIALS);
  if (!s.clientId || !s.clientSecret) throw new Error("client credentials need both MESH_CLIENT_ID and MESH_CLIENT_SECRET");
  const endpoint = s.tokenUrl ? { tokenUrl: s.tokenUrl } : s.oidcIssuer ? { issuer: s.oidcIssuer } : undefined;
  if (!endpoint) throw new Error("client credentials need MESH_OIDC_ISSUER (discovery) or MESH_TOKEN_URL to know where to ask");
  return clientCredentials({ endpoint, clientId: s.clientId, clientSecret: s.clientSecret, scope: s.scope });
}

// ── what a token says about its holder ───────────────────────────────────────

/** A JWT's claims, read without checking the signature: the controller checks it; this only informs. */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    return claims && typeof claims === "object" && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
