/** Signing a person in to a test controller's web page, as `agent-mesh login` and a browser would. */
import { loadOrCreateDevKey } from "../../src/controller/dev-keys.ts";
import { mintSignInTicket, signInLink } from "../../src/controller/web/sign-in-link.ts";
import type { TestController } from "./controller.ts";

/** The one-time link `agent-mesh login --sub … --role …` prints for this controller. */
export async function loginLink(c: Pick<TestController, "url" | "dataDir">, subject: string, roles: string[], ttlSeconds = 900): Promise<string> {
  const ticket = await mintSignInTicket(await loadOrCreateDevKey(c.dataDir), { subject, roles, ttlSeconds });
  return signInLink(c.url, ticket);
}

export type Browserless = { cookie: string; csrf: string };

/** Opens the link and presses its button with fetch; answers the session cookie and the page's CSRF token. */
export async function signIn(c: Pick<TestController, "url" | "dataDir">, subject: string, roles: string[]): Promise<Browserless> {
  const link = new URL(await loginLink(c, subject, roles));
  const posted = await fetch(new URL("/login/link", c.url), {
    method: "POST",
    body: new URLSearchParams({ ticket: link.searchParams.get("ticket")!, next: "/" }),
    redirect: "manual",
  });
  const cookie = posted.headers.get("set-cookie")!.split(";")[0]!;
  const page = await (await fetch(c.url, { headers: { cookie } })).text();
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page)![1]!;
  return { cookie, csrf };
}
