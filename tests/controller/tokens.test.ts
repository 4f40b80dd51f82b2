/** Token checks against a real OIDC issuer (discovery + JWKS over HTTP): every bad token is a 401. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { startTestController, type TestController } from "../support/controller.ts";
import { rawJwt, startTestIssuer, type TestIssuer } from "../support/issuer.ts";

let idp: TestIssuer;
let c: TestController;

beforeAll(async () => {
  idp = await startTestIssuer();
  c = await startTestController({ MESH_OIDC_ISSUER: idp.issuer, MESH_CLOCK_TOLERANCE: "5s" });
});
afterAll(async () => {
  await c.stop();
  await idp.stop();
});

const list = (token: string | null, headers?: Record<string, string>) => c.api(token, "GET", "/tasks", undefined, headers);

function refused(res: { status: number; body: any }, says?: string) {
  expect(res.status).toBe(401);
  expect(res.body.type).toBe("urn:agent-mesh:problem:unauthenticated");
  if (says) expect(res.body.detail).toContain(says);
}

test("a good token from the issuer is accepted, roles from realm_access.roles", async () => {
  const token = await idp.sign({ sub: "bob", roles: ["worker"] });
  const res = await list(token);
  expect(res.status).toBe(200);
  const routed = await c.api(token, "POST", "/tasks/route", { target: "worker", task: { task_type: "x" } }, { "idempotency-key": "t1" });
  expect(routed.status).toBe(202);
  const read = await c.api(token, "GET", `/tasks/${routed.body.task_id}`);
  expect(read.body.source).toBe("bob");
});

describe("refused with 401", () => {
  test("no token", async () => refused(await list(null), "Bearer"));
  test("not a bearer token", async () => refused(await list(null, { authorization: "Basic YWxpY2U6cHc=" })));
  test("garbage", async () => refused(await list("not.a.jwt")));
  test("expired (beyond the leeway)", async () => refused(await list(await idp.sign({ expiresIn: -60 })), "expired"));
  test("not yet valid (beyond the leeway)", async () => refused(await list(await idp.sign({ notBefore: Math.floor(Date.now() / 1000) + 120 })), "nbf"));
  test("wrong issuer", async () => refused(await list(await idp.sign({ iss: "https://evil.example/realms/test" })), "iss"));
  test("wrong audience", async () => refused(await list(await idp.sign({ aud: "someone-else" })), "aud"));
  test("unknown kid", async () => refused(await list(await idp.sign({ kid: "other-key" }))));
  test("alg none", async () => {
    const now = Math.floor(Date.now() / 1000);
    refused(
      await list(rawJwt({ alg: "none", typ: "JWT" }, { sub: "eve", iss: idp.issuer, aud: "agent-mesh", exp: now + 300, realm_access: { roles: ["admin"] } })),
    );
  });
  test("HS256 signed with the issuer's public key (key confusion)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const secret = new TextEncoder().encode(JSON.stringify(idp.publicJwk));
    const forged = await new SignJWT({ realm_access: { roles: ["admin"] } })
      .setProtectedHeader({ alg: "HS256", kid: "test-key-1" })
      .setIssuer(idp.issuer)
      .setAudience("agent-mesh")
      .setSubject("eve")
      .setExpirationTime(now + 300)
      .sign(secret);
    refused(await list(forged));
  });
  test("a tampered payload", async () => {
    const [h, , s] = (await idp.sign({ sub: "eve", roles: [] })).split(".");
    const now = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(
      JSON.stringify({ sub: "eve", iss: idp.issuer, aud: "agent-mesh", exp: now + 300, realm_access: { roles: ["admin"] } }),
    ).toString("base64url");
    refused(await list(`${h}.${payload}.${s}`), "signature");
  });
  test("a token without sub", async () => refused(await list(await idp.sign({ sub: null })), "sub"));
  test("a dev token is not accepted by a controller that trusts an OIDC issuer", async () => {
    refused(await list(await c.token("alice", ["admin"])));
  });
});

test("an identity provider whose JWKS is down: 503 (worth retrying), then 200 once it is back", async () => {
  const fresh = await startTestController({ MESH_OIDC_ISSUER: idp.issuer });
  try {
    const token = await idp.sign({ sub: "bob", roles: ["worker"] });
    idp.setJwksDown(true);
    const down = await fresh.api(token, "GET", "/tasks");
    expect(down.status).toBe(503);
    expect(down.body.detail).toContain("identity provider");
    expect(down.headers.get("retry-after")).toBe("1");
    idp.setJwksDown(false);
    expect((await fresh.api(token, "GET", "/tasks")).status).toBe(200);
  } finally {
    idp.setJwksDown(false);
    await fresh.stop();
  }
});

test("sub must be a string of 1 to 128 characters; roles the API could not name grant nothing", async () => {
  refused(await list(await idp.sign({ sub: null, extra: { sub: 12345 as unknown as string } })), "sub");
  refused(await list(await idp.sign({ sub: "x".repeat(300) })), "sub");
  const odd = await idp.sign({ sub: "carol", roles: ["Team Lead", "worker"] });
  expect((await c.api(odd, "GET", "/me")).body).toEqual({ subject: "carol", roles: ["worker"], is_admin: false });
});

test("tokens never appear in the logs or error bodies", async () => {
  const tokens = [await idp.sign({ expiresIn: -60 }), await idp.sign({ aud: "x" }), await idp.sign({ sub: "bob", roles: ["worker"] })];
  for (const token of tokens) {
    const res = await list(token);
    expect(JSON.stringify(res.body)).not.toContain(token.split(".")[2]!);
  }
  const logs = c.logs();
  expect(logs).toContain('"path":"/tasks"');
  for (const token of tokens) for (const part of token.split(".")) expect(logs).not.toContain(part);
});

test("a token accepted before is refused once it expires, though its check is remembered", async () => {
  const strict = await startTestController({ MESH_OIDC_ISSUER: idp.issuer, MESH_CLOCK_TOLERANCE: "0s" });
  try {
    const token = await idp.sign({ sub: "bob", roles: ["worker"], expiresIn: 1 });
    expect((await strict.api(token, "GET", "/tasks")).status).toBe(200);
    expect((await strict.api(token, "GET", "/tasks")).status).toBe(200);
    const exp = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).exp as number;
    await Bun.sleep(exp * 1000 - Date.now() + 50);
    refused(await strict.api(token, "GET", "/tasks"), "expired");
  } finally {
    await strict.stop();
  }
});
