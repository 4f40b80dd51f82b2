/**
 * Web sign-in through an OIDC issuer, over HTTP without a browser: what a person sees
 * when it is not set up, when the issuer is away, and when the way back is not theirs.
 * (The whole code flow, with a real browser and a real provider, is in tests/web.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";
import { startOidcProvider, type TestOidcProvider } from "../support/oidc-provider.ts";

const get = (c: TestController, path: string, headers: Record<string, string> = {}) => fetch(new URL(path, c.url), { headers, redirect: "manual" });

describe("with an issuer but no web client", () => {
  let c: TestController;
  beforeAll(async () => {
    c = await startTestController({ MESH_OIDC_ISSUER: "http://127.0.0.1:9/realms/none" });
  });
  afterAll(() => c.stop());

  test("sign-in says which settings to add and which redirect URI to register", async () => {
    const res = await get(c, "/login");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(text).toContain("MESH_OIDC_CLIENT_ID");
    expect(text).toContain(`${new URL(c.url).origin}/login/callback`);
  });

  test("one-time links are not used here", async () => {
    expect((await get(c, "/login/link?ticket=x")).status).toBe(404);
  });
});

describe("with a web client at an issuer", () => {
  let idp: TestOidcProvider;
  let c: TestController;
  beforeAll(async () => {
    idp = await startOidcProvider();
    c = await startTestController({ MESH_OIDC_ISSUER: idp.issuer, MESH_OIDC_CLIENT_ID: idp.clientId, MESH_OIDC_CLIENT_SECRET: idp.clientSecret });
    await idp.serve({ roles: { ada: ["approver"] }, redirectUris: [new URL("/login/callback", c.url).href] });
  });
  afterAll(async () => {
    await c.stop();
    await idp.stop();
  });

  test("sign-in sends the browser to the issuer with PKCE, state and nonce, and keeps them in a short-lived cookie", async () => {
    const res = await get(c, "/login?next=%2F%3Fapproval%3D42");
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get("location")!);
    expect(to.origin).toBe(idp.issuer);
    expect(to.searchParams.get("client_id")).toBe(idp.clientId);
    expect(to.searchParams.get("redirect_uri")).toBe(new URL("/login/callback", c.url).href);
    expect(to.searchParams.get("code_challenge_method")).toBe("S256");
    expect(to.searchParams.get("state")).toBeTruthy();
    expect(to.searchParams.get("nonce")).toBeTruthy();
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-mesh-sign-in=/);
    expect(cookie).toContain("Max-Age=600");
    expect(cookie).toContain("HttpOnly");
  });

  test("where the browser goes after sign-in stays on this controller, whatever next says", async () => {
    for (const next of ["/.//evil.example/x", "//evil.example/x", "https://evil.example/"]) {
      const res = await get(c, `/login?next=${encodeURIComponent(next)}`);
      // The flow cookie carries where the callback sends the browser once the issuer answers.
      const flow = JSON.parse(Buffer.from(/^__Host-mesh-sign-in=([^;]+)/.exec(res.headers.get("set-cookie")!)![1]!, "base64url").toString());
      expect(flow.next).toBe("/");
    }
  });

  test("a way back that this browser did not start is refused", async () => {
    const res = await get(c, "/login/callback?code=stolen&state=whatever");
    expect(res.status).toBe(400);
    expect(res.headers.get("set-cookie")).not.toContain("__Host-mesh-session");
    expect(await res.text()).toContain("not started here");
  });

  test("a way back with another flow's state is refused, and the issuer's refusal is shown", async () => {
    const started = await get(c, "/login");
    const cookie = started.headers.get("set-cookie")!.split(";")[0]!;
    const state = new URL(started.headers.get("location")!).searchParams.get("state")!;
    const wrongState = await get(c, "/login/callback?code=x&state=other", { cookie });
    expect(wrongState.status).toBe(400);
    const denied = await get(c, `/login/callback?error=access_denied&error_description=nope&state=${state}&iss=${encodeURIComponent(idp.issuer)}`, { cookie });
    expect(denied.status).toBe(400);
    expect(await denied.text()).toContain("access_denied");
  });
});

test("with the issuer away, sign-in says so and to try again", async () => {
  const c = await startTestController({ MESH_OIDC_ISSUER: "http://127.0.0.1:9/realms/away", MESH_OIDC_CLIENT_ID: "web" });
  try {
    const res = await get(c, "/login");
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("could not be reached");
  } finally {
    await c.stop();
  }
});
