/**
 * Signing in to the page through a real OpenID Provider (oidc-provider, started here)
 * with the authorization-code flow and PKCE, in a real browser; then deciding as that
 * person, with the roles the provider's access token gave them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { BROWSER_SETUP_MS, launchBrowser } from "../support/browser.ts";
import { startTestController, type TestController } from "../support/controller.ts";
import { startOidcProvider, type TestOidcProvider } from "../support/oidc-provider.ts";

let browser: Browser;
let idp: TestOidcProvider;
let c: TestController;
/** Expects tokens for another audience than the provider issues: the API would refuse them. */
let strict: TestController;
beforeAll(async () => {
  browser = await launchBrowser();
  idp = await startOidcProvider();
  const env = { MESH_OIDC_ISSUER: idp.issuer, MESH_OIDC_CLIENT_ID: idp.clientId, MESH_OIDC_CLIENT_SECRET: idp.clientSecret };
  c = await startTestController(env);
  strict = await startTestController({ ...env, MESH_JWT_AUDIENCE: "another-mesh" });
  const redirectUris = [c, strict].map((controller) => new URL("/login/callback", controller.url).href);
  await idp.serve({ roles: { ada: ["release-approver"], dev: ["deployer"] }, redirectUris });
}, BROWSER_SETUP_MS);
afterAll(async () => {
  await browser?.close();
  await c?.stop();
  await strict?.stop();
  await idp?.stop();
});

/** Opens `path` and signs in on the provider's own login form, which takes any password. */
async function throughProvider(path: string, account: string, controller = c): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(new URL(path, controller.url).href);
  expect(new URL(page.url()).origin).toBe(idp.issuer);
  await page.locator('input[name="login"]').fill(account);
  await page.locator('input[name="password"]').fill("any");
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((url) => url.origin === new URL(controller.url).origin);
  return page;
}

async function signInThroughProvider(path: string, account: string): Promise<Page> {
  const page = await throughProvider(path, account);
  await page.waitForURL((url) => url.pathname === "/");
  return page;
}

test("the code flow signs a person in with the roles the provider gives, and back to where they were going", async () => {
  const page = await signInThroughProvider("/?view=decided", "ada");
  expect(new URL(page.url()).searchParams.get("view")).toBe("decided");
  const me = await page.evaluate(async () => (await fetch("/me")).json());
  expect(me).toEqual({ subject: "ada", roles: ["release-approver"], is_admin: false });
  const cookies = await page.context().cookies();
  expect(cookies.find((k) => k.name === "__Host-mesh-session")).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax" });
  expect(cookies.find((k) => k.name === "__Host-mesh-sign-in")).toBeUndefined();
});

test("signed in through the provider, one person asks and another approves on the page", async () => {
  const dev = await signInThroughProvider("/", "dev");
  // The page's own way to make a change: same-origin fetch with the CSRF token from the page.
  const approvalId = await dev.evaluate(async () => {
    const headers = {
      "content-type": "application/json",
      "x-csrf-token": document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content,
      "idempotency-key": crypto.randomUUID(),
    };
    const post = async (path: string, body: unknown) => (await fetch(path, { method: "POST", headers, body: JSON.stringify(body) })).json();
    const task = await post("/tasks/route", { target: "deployer", task: { task_type: "deploy", description: "Release 3.0" } });
    headers["idempotency-key"] = crypto.randomUUID();
    return (await post("/approvals", { task_id: task.task_id, approver_role: "release-approver", reason: "Signed in through the provider" }))
      .approval_id as string;
  });

  const ada = await signInThroughProvider(`/?approval=${approvalId}`, "ada");
  await ada.getByText("Signed in through the provider").filter({ visible: true }).first().waitFor();
  await ada.getByLabel("Comment").fill("Fine by me");
  await ada.getByRole("button", { name: "Approve" }).click();
  await ada
    .getByRole("status")
    .getByText(/approved/i)
    .waitFor();
  const approval = await dev.evaluate(async (id) => (await fetch(`/approvals/${id}`)).json(), approvalId);
  expect(approval).toMatchObject({ status: "approved", decided_by: "ada", comments: "Fine by me" });
});

test("signing out ends the session and does not sign the person straight back in through the provider", async () => {
  const page = await signInThroughProvider("/", "ada");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL((url) => url.pathname === "/signed-out");
  await page.getByText("You are signed out").waitFor();
  expect(await page.evaluate(async () => (await fetch("/me")).status)).toBe(401);
});

test("an access token the API would refuse signs nobody in, and the page says which setting to look at", async () => {
  const page = await throughProvider("/", "ada", strict);
  await page.getByText("Sign-in did not finish").waitFor();
  const text = await page.textContent("body");
  expect(text).toContain("is not one this controller accepts");
  expect(text).toContain("MESH_JWT_AUDIENCE");
  expect(await page.evaluate(async () => (await fetch("/me")).status)).toBe(401);
});
