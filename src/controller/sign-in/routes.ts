/**
 * The pages people use in a browser: the approvals page, its assets, signing in and
 * out. The page itself works through the same API as every other client, so the
 * service's rules hold for it unchanged.
 */
import type { Method } from "../../contract/paths.ts";
import type { DevKey } from "../dev-keys.ts";
import type { Store } from "../store/store.ts";
import { html, messagePage } from "./html.ts";
import { keepsSecureCookies, safeNext, seeOther } from "./redirects.ts";
import { ASSET_PATHS, serveAsset, servePage } from "./page.ts";
import { linkSignIn, loginCommand } from "./sign-in-link.ts";
import { oidcSignIn, type OidcSignInOptions } from "./sign-in-oidc.ts";
import type { Sessions } from "./sessions.ts";

/** How people sign in: a one-time link (dev key), an OIDC issuer, or an issuer with no web client set up. */
export type SignInMode =
  | { kind: "link"; key: DevKey }
  | ({ kind: "oidc" } & Omit<OidcSignInOptions, "sessions" | "publicUrl">)
  | { kind: "unconfigured"; issuer: string };

export type WebHandler = (req: Request, url: URL) => Promise<Response>;
export type WebRoute = { method: Method; path: string; handle: WebHandler };

function linkHelp(key: DevKey, url: URL): Response {
  return messagePage(
    "Sign in to Agent Mesh",
    html`<p>This controller signs people in with one-time links. Ask whoever runs it for one; on the controller's host they run:</p>
<pre><code>${loginCommand(key, url)}</code></pre>
<p>ROLE is the role agents ask for approval (repeat --role for more). Open the link it prints, in this browser.</p>`,
  );
}

/** Said instead of signing in where the browser would drop the session cookie, so no ticket is spent in vain. */
function needsHttps(url: URL): Response {
  return messagePage(
    "Sign-in needs HTTPS",
    html`<p>Browsers keep the sign-in cookie only over HTTPS or on this machine (localhost), and this page came over plain HTTP from ${url.host}.</p>
<p>Put a TLS proxy in front of the controller and set MESH_PUBLIC_URL to its https:// address, or open the page on the controller's own host.</p>`,
    400,
  );
}

export function webRoutes(mode: SignInMode, sessions: Sessions, store: Store, publicUrl: string | undefined): WebRoute[] {
  const link = mode.kind === "link" ? linkSignIn(mode.key, store, sessions) : null;
  const oidc = mode.kind === "oidc" ? oidcSignIn({ ...mode, publicUrl, sessions }) : null;
  const notHere = () =>
    messagePage(
      "Not used here",
      mode.kind === "link"
        ? html`<p>This controller signs people in with one-time links. <a href="/login">How to get one</a>.</p>`
        : html`<p>This controller signs people in through ${mode.issuer}. <a href="/login">Sign in</a>.</p>`,
      404,
    );

  const routes: Record<`${Method} /${string}`, WebHandler> = {
    "GET /": async (req, url) => {
      const signedIn = await sessions.find(req);
      return signedIn ? servePage(signedIn.csrfToken) : seeOther(`/login?next=${encodeURIComponent(url.pathname + url.search)}`);
    },
    "GET /login": async (req, url) => {
      if (oidc) return oidc.start(req, url);
      if (mode.kind === "unconfigured") {
        return messagePage(
          "Sign-in is not set up",
          html`<p>People sign in through ${mode.issuer}, but this controller has no client there yet. Register a client whose redirect URI is
<code>${new URL("/login/callback", url.origin).href}</code>, then set MESH_OIDC_CLIENT_ID (and MESH_OIDC_CLIENT_SECRET for a confidential client) and restart the controller.</p>`,
          503,
        );
      }
      if (await sessions.find(req)) return seeOther(safeNext(url.searchParams.get("next")));
      return mode.kind === "link" ? linkHelp(mode.key, url) : notHere();
    },
    "GET /login/callback": async (req, url) => (oidc ? oidc.callback(req, url) : notHere()),
    "GET /login/link": async (req, url) => (link ? link.show(req, url) : notHere()),
    "POST /login/link": async (req, url) => {
      if (!link) return notHere();
      // A form posted from another site would sign this browser in as someone else.
      const site = req.headers.get("sec-fetch-site");
      if (site !== null && site !== "same-origin" && site !== "none") {
        return messagePage("This link does not sign you in", html`<p>Sign-in links work only when opened directly, not from another site's form.</p>`, 403);
      }
      return link.use(req, url);
    },
    "POST /logout": async (req) => {
      // Signing out is a change, so it needs the CSRF token like any other (a forged sign-out is a nuisance).
      await sessions.verify(req, true);
      return new Response(null, { status: 204, headers: { "set-cookie": await sessions.end(req) } });
    },
    // Not /login: with an identity provider that would sign the person straight back in.
    "GET /signed-out": async () =>
      messagePage(
        "You are signed out",
        html`<p>This browser no longer has a session here.${mode.kind === "oidc" ? html` Your sign-in at ${mode.issuer} may still be open; sign out there too on a shared computer.` : ""}</p>
<p><a href="/login">Sign in again</a></p>`,
      ),
  };
  // Where the browser would drop the cookie, signing in says so instead of failing quietly.
  const signingIn = new Set(["GET /login", "GET /login/callback", "GET /login/link", "POST /login/link"]);
  return [
    ...Object.entries(routes).map(([key, handle]): WebRoute => {
      const [method, path] = key.split(" ") as [Method, string];
      return {
        method,
        path,
        handle: signingIn.has(key) ? async (req, url) => (keepsSecureCookies(req, url, publicUrl) ? handle(req, url) : needsHttps(url)) : handle,
      };
    }),
    ...ASSET_PATHS.map((path): WebRoute => ({ method: "GET", path, handle: (req) => serveAsset(req, path) })),
  ];
}
