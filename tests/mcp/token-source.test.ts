/** Token sources: OAuth client credentials against a real (test) identity provider. */
import { afterEach, describe, expect, test } from "bun:test";
import { clientCredentials, jwtClaims, TokenError, tokenSourceFrom } from "../../src/client/token-source.ts";
import { closedPort } from "./support/misbehaving.ts";
import { startTokenProvider, type ProviderOptions, type TokenProvider } from "./support/token-provider.ts";

const CREDENTIALS = { clientId: "build-bot", clientSecret: "s3cret:with/odd&chars" };
let provider: TokenProvider | undefined;
afterEach(() => provider?.stop());

async function start(o: Partial<ProviderOptions> = {}) {
  provider = await startTokenProvider({ ...CREDENTIALS, roles: ["builder"], ...o });
  return provider;
}

describe("client credentials", () => {
  test("finds the token endpoint by discovery and authenticates with HTTP Basic", async () => {
    const p = await start();
    const source = clientCredentials({ endpoint: { issuer: p.issuer }, ...CREDENTIALS });
    const token = await source.token();
    expect(jwtClaims(token)).toMatchObject({ sub: "service-account-build-bot", realm_access: { roles: ["builder"] } });
    expect(p.issued()).toBe(1);
    expect(source.origin).toBe(`client credentials from ${p.issuer}`);
  });

  test("caches the token, and concurrent callers share one request", async () => {
    const p = await start();
    const source = clientCredentials({ endpoint: { tokenUrl: p.tokenUrl }, ...CREDENTIALS });
    const tokens = await Promise.all([source.token(), source.token(), source.token()]);
    expect(new Set(tokens).size).toBe(1);
    expect(await source.token()).toBe(tokens[0]!);
    expect(p.issued()).toBe(1);
  });

  test("renews before expiry: a fifth of the lifetime early, at most a minute", async () => {
    const p = await start({ expiresIn: 300 });
    let now = Date.now();
    const source = clientCredentials({ endpoint: { tokenUrl: p.tokenUrl }, ...CREDENTIALS, now: () => now });
    await source.token();
    now += 239_000;
    await source.token();
    expect(p.issued()).toBe(1);
    now += 2_000; // 241 s: inside the last minute
    await source.token();
    expect(p.issued()).toBe(2);
  });

  test("without expires_in, the token's exp gives its lifetime", async () => {
    const p = await start({ expiresIn: 100, omitExpiresIn: true });
    let now = Date.now();
    const source = clientCredentials({ endpoint: { tokenUrl: p.tokenUrl }, ...CREDENTIALS, now: () => now });
    await source.token();
    now += 70_000;
    await source.token();
    expect(p.issued()).toBe(1);
    now += 15_000; // past 80 % of 100 s
    await source.token();
    expect(p.issued()).toBe(2);
  });

  test("renew() after a 401 forgets the token", async () => {
    const p = await start();
    const source = clientCredentials({ endpoint: { tokenUrl: p.tokenUrl }, ...CREDENTIALS });
    await source.token();
    expect(source.renew()).toBe(true);
    await source.token();
    expect(p.issued()).toBe(2);
  });

  test("wrong credentials: a clear error that retrying will not fix", async () => {
    const p = await start();
    const source = clientCredentials({ endpoint: { issuer: p.issuer }, clientId: "build-bot", clientSecret: "wrong" });
    const error = await source.token().catch((e) => e);
    expect(error).toBeInstanceOf(TokenError);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("401: invalid_client: Invalid client credentials");
  });

  test("a failing or unreachable provider: worth retrying", async () => {
    const p = await start({ failWith: 503 });
    const failing = await clientCredentials({ endpoint: { tokenUrl: p.tokenUrl }, ...CREDENTIALS })
      .token()
      .catch((e) => e);
    expect(failing).toMatchObject({ retryable: true });
    const gone = await clientCredentials({ endpoint: { issuer: closedPort() }, ...CREDENTIALS })
      .token()
      .catch((e) => e);
    expect(gone).toMatchObject({ retryable: true });
    expect(gone.message).toContain("could not be reached");
  });
});

describe("choosing a source from the settings", () => {
  test("a fixed token, client credentials, or nothing (refused at once, saying what to set)", async () => {
    expect(await tokenSourceFrom({ jwt: "a.b.c" }).token()).toBe("a.b.c");
    expect(tokenSourceFrom({ clientId: "x", clientSecret: "y", tokenUrl: "http://127.0.0.1:1/token" }).origin).toContain("client credentials");
    expect(() => tokenSourceFrom({})).toThrow("set MESH_JWT_TOKEN");
  });

  test.each([
    [{ jwt: "a.b.c", clientId: "x", clientSecret: "y" }, "keep one way"],
    [{ clientId: "x" }, "both MESH_CLIENT_ID and MESH_CLIENT_SECRET"],
    [{ clientId: "x", clientSecret: "y" }, "MESH_OIDC_ISSUER (discovery) or MESH_TOKEN_URL"],
  ])("refuses half a configuration: %o", (settings, message) => {
    expect(() => tokenSourceFrom(settings)).toThrow(message);
  });

  test("claims are read without trusting them, and nonsense is not a crash", () => {
    expect(jwtClaims("not-a-jwt")).toBeUndefined();
    expect(jwtClaims(`x.${Buffer.from("[1]").toString("base64url")}.y`)).toBeUndefined();
  });
});
