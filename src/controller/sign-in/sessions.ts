/**
 * People's browser sessions. The cookie holds a random id the store never sees (it
 * keeps a hash); each session has its own CSRF token, which every change must send
 * back in X-CSRF-Token: a page on another site can make the browser send the cookie,
 * but it cannot read the token.
 */
import { timingSafeEqual } from "node:crypto";
import { sha256Hex } from "../../lib/digest.ts";
import { MeshError } from "../../contract/errors.ts";
import type { Verified } from "../auth.ts";
import { callerOf } from "../policy.ts";
import type { Store } from "../store/store.ts";

export const SESSION_COOKIE = "__Host-mesh-session";

export type SessionOptions = { ttlSeconds: number; adminRole: string; now?: () => Date };

/** Who a session is for: the same two facts a token gives. */
export type Identity = { subject: string; roles: Iterable<string> };

export type SignedIn = Verified & { csrfToken: string };

const randomToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

function sameToken(sent: string | null, expected: string): boolean {
  if (sent === null) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Secure, HttpOnly, SameSite=Lax (the sign-in redirect back from an identity provider must carry it). */
export function cookie(name: string, value: string, maxAgeSeconds: number): string {
  return new Bun.Cookie(name, value, { path: "/", secure: true, httpOnly: true, sameSite: "lax", maxAge: maxAgeSeconds }).serialize();
}

export const cookieValue = (req: Request, name: string) => new Bun.CookieMap(req.headers.get("cookie") ?? "").get(name);

/** The store's key for the session a request's cookie names, if it names one. */
function idHashOf(req: Request): string | null {
  const id = cookieValue(req, SESSION_COOKIE);
  return id ? sha256Hex(id) : null;
}

export class Sessions {
  readonly #store: Store;
  readonly #o: SessionOptions;

  constructor(store: Store, options: SessionOptions) {
    this.#store = store;
    this.#o = options;
  }

  #now() {
    return this.#o.now?.() ?? new Date();
  }

  /**
   * Signs a person in; the answer is the Set-Cookie header that carries the session.
   * A session the browser already had (`req`'s cookie) ends: one browser, one session.
   */
  async start(who: Identity, req: Request): Promise<string> {
    await this.#forget(req);
    const id = randomToken();
    const now = this.#now();
    await this.#store.saveSession({
      id_hash: sha256Hex(id),
      subject: who.subject,
      roles: [...new Set(who.roles)].sort(),
      csrf_token: randomToken(),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.#o.ttlSeconds * 1000).toISOString(),
    });
    return cookie(SESSION_COOKIE, id, this.#o.ttlSeconds);
  }

  /** The person a request's cookie signs in, or null when there is none (or it expired). */
  async find(req: Request): Promise<SignedIn | null> {
    const idHash = idHashOf(req);
    if (!idHash) return null;
    const session = await this.#store.findSession(idHash, this.#now().toISOString());
    if (!session) return null;
    return {
      caller: callerOf(session.subject, session.roles, this.#o.adminRole),
      expiresAt: Date.parse(session.expires_at),
      csrfToken: session.csrf_token,
    };
  }

  /** The caller behind a request's cookie; a change (`changes`) must also carry the session's CSRF token. */
  async verify(req: Request, changes: boolean): Promise<Verified | null> {
    const found = await this.find(req);
    if (!found) return null;
    if (changes && !sameToken(req.headers.get("x-csrf-token"), found.csrfToken)) {
      throw new MeshError("forbidden", "This change must carry the page's CSRF token in an X-CSRF-Token header; reload the page and try again.");
    }
    return found;
  }

  /** Signs out: the session is gone from the store, and the answer's cookie clears the browser's. */
  async end(req: Request): Promise<string> {
    await this.#forget(req);
    return cookie(SESSION_COOKIE, "", 0);
  }

  async #forget(req: Request) {
    const idHash = idHashOf(req);
    if (idHash) await this.#store.deleteSession(idHash);
  }
}
