/**
 * Signing in without an identity provider: `agent-mesh login` (run where the dev key
 * is) signs a short-lived, one-time ticket and prints a link that carries it. Opening
 * the link shows who it signs in; the button posts the ticket back, so a link
 * preview or a prefetching mail scanner cannot use the ticket up.
 */
import { createLocalJWKSet, errors, importJWK, jwtVerify, SignJWT } from "jose";
import { Role, Subject } from "../../contract/schemas.ts";
import { DEV_ISSUER, devKeyCommand, type DevKey } from "../dev-keys.ts";
import { readText } from "../http.ts";
import type { Store } from "../store/store.ts";
import { html, messagePage } from "./html.ts";
import { safeNext, seeOther } from "./redirects.ts";
import type { Identity, Sessions } from "./sessions.ts";

/** A ticket is not a token: the API refuses it (other audience), and this refuses tokens (other type). */
const TICKET_AUDIENCE = "agent-mesh:sign-in";
const TICKET_TYPE = "agent-mesh-sign-in+jwt";
const ALG = "ES256";
/** A sign-in form holds a ticket (under 1 KiB) and where to go next. */
const SIGN_IN_FORM_BYTES = 16 * 1024;

export type TicketOptions = { subject: string; roles: string[]; ttlSeconds: number };

export async function mintSignInTicket(key: DevKey, o: TicketOptions): Promise<string> {
  return new SignJWT({ roles: o.roles })
    .setProtectedHeader({ alg: ALG, kid: key.privateJwk.kid!, typ: TICKET_TYPE })
    .setIssuer(DEV_ISSUER)
    .setAudience(TICKET_AUDIENCE)
    .setSubject(o.subject)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${o.ttlSeconds}s`)
    .sign(await importJWK(key.privateJwk, ALG));
}

/** The link `agent-mesh login` prints. */
export function signInLink(controllerUrl: string, ticket: string): string {
  const url = new URL("/login/link", controllerUrl);
  url.searchParams.set("ticket", ticket);
  return url.href;
}

const rolesPhrase = (roles: string[]) =>
  roles.length === 0 ? "with no roles" : html`with the role${roles.length === 1 ? "" : "s"} <strong>${roles.join(", ")}</strong>`;

type Ticket = Identity & { id: string; expiresAt: Date };
type Checked = { ok: true; ticket: Ticket } | { ok: false; why: string };

/** The command that prints a link for this controller: every page that says how to get one names it so. */
export const loginCommand = (key: DevKey, url: URL) => devKeyCommand("login", key.dataDir, `--sub YOUR-NAME --role ROLE --url ${url.origin}`);

export function linkSignIn(key: DevKey, store: Store, sessions: Sessions) {
  const keys = createLocalJWKSet({ keys: [key.publicJwk] });

  async function check(ticket: string | null): Promise<Checked> {
    if (!ticket) return { ok: false, why: "The link has no sign-in ticket." };
    try {
      const { payload } = await jwtVerify(ticket, keys, {
        issuer: DEV_ISSUER,
        audience: TICKET_AUDIENCE,
        typ: TICKET_TYPE,
        algorithms: [ALG],
        requiredClaims: ["sub", "exp", "jti"],
      });
      const subject = Subject.safeParse(payload.sub);
      const roles = Role.array().safeParse(payload.roles);
      if (!subject.success || !roles.success || typeof payload.jti !== "string") return { ok: false, why: "The ticket names no valid person or roles." };
      return { ok: true, ticket: { subject: subject.data, roles: roles.data, id: payload.jti, expiresAt: new Date(payload.exp! * 1000) } };
    } catch (error) {
      return { ok: false, why: error instanceof errors.JWTExpired ? "The link has expired." : "The link is not one this controller made." };
    }
  }

  const refused = (why: string, url: URL) =>
    messagePage(
      "This link does not sign you in",
      html`<p>${why}</p><p>Ask whoever runs the controller for a new link; on its host they run:</p>
<pre><code>${loginCommand(key, url)}</code></pre>`,
      400,
    );

  return {
    /** GET: says who the link signs in, with a button to do it. */
    async show(_req: Request, url: URL): Promise<Response> {
      const ticket = url.searchParams.get("ticket");
      const checked = await check(ticket);
      if (!checked.ok) return refused(checked.why, url);
      const { subject, roles } = checked.ticket;
      return messagePage(
        "Sign in to Agent Mesh",
        html`<p>This link signs you in as <strong>${subject}</strong>, ${rolesPhrase([...roles])}.</p>
<form method="post" action="/login/link">
<input type="hidden" name="ticket" value="${ticket}">
<input type="hidden" name="next" value="${safeNext(url.searchParams.get("next"))}">
<button type="submit" autofocus>Sign in as ${subject}</button>
</form>`,
      );
    },

    /** POST: uses the ticket up and starts the session. */
    async use(req: Request, url: URL): Promise<Response> {
      // Anyone may post here, so the form is read only up to what a ticket and a next need.
      const form = await readText(req, SIGN_IN_FORM_BYTES)
        .then((text) => new URLSearchParams(text))
        .catch(() => null);
      const field = (name: string) => form?.get(name) ?? null;
      const checked = await check(field("ticket"));
      if (!checked.ok) return refused(checked.why, url);
      const { ticket } = checked;
      if (!(await store.useTicket(ticket.id, ticket.expiresAt.toISOString()))) return refused("This link has been used already; each link signs in once.", url);
      return seeOther(safeNext(field("next")), [await sessions.start(ticket, req)]);
    },
  };
}
