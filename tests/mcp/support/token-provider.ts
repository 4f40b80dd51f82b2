/**
 * A test identity provider for service accounts: OIDC discovery, a JWKS and a token
 * endpoint for the client-credentials grant, over real HTTP, with real signed tokens.
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export type ProviderOptions = {
  clientId: string;
  clientSecret: string;
  roles?: string[];
  expiresIn?: number;
  /** Leave expires_in out of the answer (the token's exp still says it). */
  omitExpiresIn?: boolean;
  /** The audience of each token issued, in turn; the last one repeats. Default agent-mesh. */
  audiences?: string[];
  /** Answer the token endpoint with this status instead. */
  failWith?: number;
};

export type TokenProvider = {
  issuer: string;
  tokenUrl: string;
  /** Tokens issued so far. */
  issued: () => number;
  /** Token-endpoint requests and the Authorization header each carried. */
  requests: string[];
  options: ProviderOptions;
  stop: () => Promise<void>;
};

export async function startTokenProvider(options: ProviderOptions): Promise<TokenProvider> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const requests: string[] = [];
  let issued = 0;
  let issuer = "";
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req): Promise<Response> {
      const { pathname } = new URL(req.url);
      if (pathname === "/realms/mesh/.well-known/openid-configuration")
        return Response.json({ issuer, jwks_uri: `${issuer}/certs`, token_endpoint: `${issuer}/token` });
      if (pathname === "/realms/mesh/certs") return Response.json({ keys: [jwk] });
      if (pathname !== "/realms/mesh/token" || req.method !== "POST") return new Response("not found", { status: 404 });
      const authorization = req.headers.get("authorization") ?? "";
      requests.push(authorization);
      if (options.failWith) return Response.json({ error: "temporarily_unavailable" }, { status: options.failWith });
      const form = new URLSearchParams(await req.text());
      const expected = `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString("base64")}`;
      if (authorization !== expected) return Response.json({ error: "invalid_client", error_description: "Invalid client credentials" }, { status: 401 });
      if (form.get("grant_type") !== "client_credentials") return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
      const audiences = options.audiences ?? ["agent-mesh"];
      const audience = audiences[Math.min(issued, audiences.length - 1)]!;
      issued++;
      const expiresIn = options.expiresIn ?? 300;
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ realm_access: { roles: options.roles ?? [] } })
        .setProtectedHeader({ alg: "RS256", kid: "k1", typ: "JWT" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(`service-account-${options.clientId}`)
        .setIssuedAt(now)
        .setExpirationTime(now + expiresIn)
        .sign(privateKey);
      return Response.json({ access_token: token, token_type: "Bearer", ...(!options.omitExpiresIn && { expires_in: expiresIn }) });
    },
  });
  issuer = `http://127.0.0.1:${server.port}/realms/mesh`;
  return { issuer, tokenUrl: `${issuer}/token`, issued: () => issued, requests, options, stop: () => server.stop(true) };
}
