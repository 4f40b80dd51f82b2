/**
 * Bearer-token verification: a JWT checked with `jose` against a JWKS, from OIDC
 * discovery (Keycloak or any issuer) or the controller's own dev key.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { MeshError } from "../contract/errors.ts";
import { discoveryUrl, endpointFrom } from "../lib/oidc.ts";
import { Role, Subject } from "../contract/schemas.ts";
import { callerOf, type Caller } from "./policy.ts";
import { DEV_ISSUER, type DevKey } from "./dev-keys.ts";

/** Verified tokens remembered at most; past it the oldest is checked again when next seen. */
const REMEMBERED_TOKENS = 10_000;

export type AuthSettings = {
  audience: string;
  algorithms: string[];
  rolesClaim: string;
  adminRole: string;
  clockToleranceSeconds: number;
};

export type TrustSource = { kind: "oidc"; issuer: string } | { kind: "dev"; key: DevKey };

/** A verified caller, and until when (epoch ms) its credential holds. */
export type Verified = { caller: Caller; expiresAt: number };

/** Checks an Authorization header; `audiences`, when given, replace MESH_JWT_AUDIENCE as the `aud` a token may carry (any one of them). */
export type Authenticator = (authorization: string | null, audiences?: readonly string[]) => Promise<Verified>;

/** Reads `realm_access.roles` (or any dotted path) from the token's claims. */
export function rolesAt(payload: JWTPayload, path: string): string[] {
  const value = path
    .split(".")
    .reduce<unknown>((node, part) => (node && typeof node === "object" ? (node as Record<string, unknown>)[part] : undefined), payload);
  return Array.isArray(value) ? value.filter((r): r is string => typeof r === "string") : [];
}

/** Finds the issuer's JWKS through OIDC discovery, once, and again after a failure. */
function discoveredKeys(issuer: string): JWTVerifyGetKey {
  let keys: Promise<JWTVerifyGetKey> | null = null;
  const discover = async (): Promise<JWTVerifyGetKey> => {
    const url = discoveryUrl(issuer);
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    const jwks = endpointFrom(issuer, await response.json(), "jwks_uri");
    if ("problem" in jwks) throw new Error(jwks.problem);
    return createRemoteJWKSet(new URL(jwks.url));
  };
  return async (header, token) => {
    keys ??= discover();
    try {
      return await (await keys)(header, token);
    } catch (error) {
      // jose reports a JWKS it could not fetch as a timeout, an invalid set, or a generic
      // error: that is the identity provider being away (503, worth retrying), not a bad token.
      const away =
        !(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.code === "ERR_JOSE_GENERIC";
      if (!away) throw error;
      keys = null;
      throw new MeshError("unavailable", `The identity provider ${issuer} could not be reached: ${(error as Error).message}`);
    }
  };
}

function explain(error: unknown): MeshError {
  if (error instanceof MeshError) return error;
  if (error instanceof errors.JWTExpired) return new MeshError("unauthenticated", "The token has expired; get a new one.");
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new MeshError("unauthenticated", `The token's "${error.claim}" claim is not accepted here (${error.reason}).`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new MeshError("unauthenticated", "The token's signature does not verify.");
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new MeshError("unauthenticated", "The token is signed with an algorithm this controller does not accept.");
  if (error instanceof errors.JWKSNoMatchingKey) return new MeshError("unauthenticated", "The token was signed by a key this controller does not know.");
  if (error instanceof errors.JOSEError) return new MeshError("unauthenticated", "The token is not a valid JWT.");
  return new MeshError("unauthenticated", "The token could not be verified.");
}

export function createAuthenticator(trust: TrustSource, settings: AuthSettings): Authenticator {
  const issuer = trust.kind === "oidc" ? trust.issuer : DEV_ISSUER;
  const keys = trust.kind === "oidc" ? discoveredKeys(trust.issuer) : createLocalJWKSet({ keys: [trust.key.publicJwk] });
  const algorithms = trust.kind === "oidc" ? settings.algorithms : ["ES256"];

  // Tokens already verified, kept whole (the signature binds the rest) until they expire: an agent's token is checked once, not on every request.
  // Kept per audience list too: a token accepted for one resource is not thereby accepted for another.
  const remembered = new Map<string, Verified>();

  return async (authorization, audiences) => {
    const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(authorization ?? "");
    if (!match) throw new MeshError("unauthenticated", "Send a token as `Authorization: Bearer <JWT>`; `agent-mesh token --help` says how to get one.");
    const token = match[1]!;
    const key = audiences ? `${audiences.join(" ")} ${token}` : token;
    const known = remembered.get(key);
    if (known && Date.now() < known.expiresAt) return known;
    remembered.delete(key);
    const verified = await verify(token, audiences);
    if (remembered.size >= REMEMBERED_TOKENS) remembered.delete(remembered.keys().next().value!);
    remembered.set(key, verified);
    return verified;
  };

  async function verify(token: string, audiences: readonly string[] | undefined): Promise<Verified> {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer,
        audience: audiences ? [...audiences] : settings.audience,
        algorithms,
        clockTolerance: settings.clockToleranceSeconds,
        requiredClaims: ["sub", "exp"],
      });
      const subject = Subject.safeParse(payload.sub);
      if (!subject.success) throw new MeshError("unauthenticated", "The token's sub must be Unicode text of 1 to 128 characters, without U+0000.");
      // A role the API could not name (spaces, odd characters) grants nothing.
      const roles = rolesAt(payload, settings.rolesClaim).filter((r) => Role.safeParse(r).success);
      return {
        caller: callerOf(subject.data, roles, settings.adminRole),
        // Accepted up to the leeway past `exp`, so it holds that long too.
        expiresAt: (payload.exp! + settings.clockToleranceSeconds) * 1000,
      };
    } catch (error) {
      throw explain(error);
    }
  }
}
