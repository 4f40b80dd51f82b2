/**
 * A test identity provider: serves OIDC discovery and a JWKS over real HTTP and signs
 * real tokens, including the broken ones an attacker would try.
 */
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";

export type TokenOptions = {
  /** null leaves `sub` out. */
  sub?: string | null;
  roles?: string[];
  aud?: string;
  iss?: string;
  expiresIn?: number;
  notBefore?: number;
  kid?: string;
  extra?: JWTPayload;
};

export type TestIssuer = {
  issuer: string;
  sign: (o?: TokenOptions) => Promise<string>;
  /** The public key as PEM/JWK, for key-confusion attacks. */
  publicJwk: Record<string, unknown>;
  /** While down, the JWKS endpoint answers 503, as an identity provider in trouble would. */
  setJwksDown: (down: boolean) => void;
  stop: () => Promise<void>;
};

export async function startTestIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = "test-key-1";
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  let issuer = "";
  let jwksDown = false;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req): Response {
      const { pathname } = new URL(req.url);
      if (pathname === "/realms/test/.well-known/openid-configuration") {
        return Response.json({ issuer, jwks_uri: `${issuer}/protocol/openid-connect/certs`, token_endpoint: `${issuer}/token` });
      }
      if (pathname === "/realms/test/protocol/openid-connect/certs") {
        return jwksDown ? new Response("down for maintenance", { status: 503 }) : Response.json({ keys: [publicJwk] });
      }
      return new Response("not found", { status: 404 });
    },
  });
  issuer = `http://127.0.0.1:${server.port}/realms/test`;
  return {
    issuer,
    publicJwk,
    setJwksDown: (down) => (jwksDown = down),
    sign: (o = {}) => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ realm_access: { roles: o.roles ?? [] }, ...o.extra })
        .setProtectedHeader({ alg: "RS256", kid: o.kid ?? kid, typ: "JWT" })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? "agent-mesh");
      if (o.sub !== null) jwt.setSubject(o.sub ?? "alice");
      return jwt
        .setIssuedAt(now)
        .setNotBefore(o.notBefore ?? now - 1)
        .setExpirationTime(now + (o.expiresIn ?? 300))
        .sign(privateKey);
    },
    stop: () => server.stop(true),
  };
}

/** Builds a JWT by hand (header and payload as given), for tokens no library would make. */
export function rawJwt(header: object, payload: object, signature = ""): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part(header)}.${part(payload)}.${signature}`;
}
