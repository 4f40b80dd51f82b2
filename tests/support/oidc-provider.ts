/**
 * A real OpenID Provider for sign-in tests (oidc-provider from npm): discovery, JWKS,
 * the authorization-code flow with PKCE and its own login form. Its JWT access tokens
 * carry the controller's audience and roles at realm_access.roles, as Keycloak's do.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

export type OidcProviderOptions = {
  /** Account name → roles; anyone may sign in with any name and password on its login form. */
  roles: Record<string, string[]>;
  /** Where the provider may send browsers back: each controller's /login/callback. */
  redirectUris: string[];
  audience?: string;
};

export type TestOidcProvider = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Starts answering; until then the address is reserved (the controller needs it before its own port is known). */
  serve: (o: OidcProviderOptions) => Promise<void>;
  stop: () => Promise<void>;
};

export async function startOidcProvider(): Promise<TestOidcProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = "agent-mesh-web";
  const clientSecret = crypto.randomUUID();
  return {
    issuer,
    clientId,
    clientSecret,
    serve: async (o) => void server.on("request", (await provider(issuer, clientId, clientSecret, o)).callback()),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function provider(issuer: string, clientId: string, clientSecret: string, o: OidcProviderOptions): Promise<Provider> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: o.redirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "test-provider", alg: "RS256", use: "sig" }] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => "urn:agent-mesh",
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: "openid", audience: o.audience ?? "agent-mesh", accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } }),
      },
    },
    // Grants consent at once, as a first-party client in Keycloak does.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope("openid");
      grant.addResourceScope("urn:agent-mesh", "openid");
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    extraTokenClaims: async (_ctx, token) => ({ realm_access: { roles: o.roles[(token as { accountId?: string }).accountId ?? ""] ?? [] } }),
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  });
}
