/** Signing a person in to a test controller's web page, as `agent-mesh login` and a browser would. */
import { loadOrCreateDevKey } from "../../src/controller/dev-keys.ts";
import { mintSignInTicket, signInLink } from "../../src/controller/sign-in/sign-in-link.ts";
import type { TestController } from "./controller.ts";

/** The one-time link `agent-mesh login --sub … --role …` prints for this controller. */
export async function loginLink(c: Pick<TestController, "url" | "dataDir">, subject: string, roles: string[], ttlSeconds = 900): Promise<string> {
  const ticket = await mintSignInTicket(await loadOrCreateDevKey(c.dataDir), { subject, roles, ttlSeconds });
  return signInLink(c.url, ticket);
}

/** The ticket alone, as a test that forges, races or re-posts it needs it. */
export const loginTicket = async (c: Pick<TestController, "url" | "dataDir">, subject: string, roles: string[], ttlSeconds?: number) =>
  new URL(await loginLink(c, subject, roles, ttlSeconds)).searchParams.get("ticket")!;

/** Presses the link page's button: POST /login/link with its form fields, the redirect left unfollowed. */
export function postLink(controllerUrl: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL("/login/link", controllerUrl), { method: "POST", headers, body: new URLSearchParams(form), redirect: "manual" });
}

export type Browserless = { cookie: string; csrf: string };

/** Opens the link and presses its button with fetch; answers the session cookie and the page's CSRF token. */
export async function signIn(c: Pick<TestController, "url" | "dataDir">, subject: string, roles: string[]): Promise<Browserless> {
  const posted = await postLink(c.url, { ticket: await loginTicket(c, subject, roles), next: "/" });
  const cookie = posted.headers.get("set-cookie")!.split(";")[0]!;
  const page = await (await fetch(c.url, { headers: { cookie } })).text();
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page)![1]!;
  return { cookie, csrf };
}
