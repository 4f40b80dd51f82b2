/** The controller's API, as the page calls it: the session cookie, and the CSRF token on changes. */
import { enc } from "./dom.ts";

/** A failed call: `status` 0 means the controller could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly traceId: string | null = null,
  ) {
    super(message);
  }
}

export const asApiError = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, e instanceof Error ? e.message : String(e)));
export const csrfToken = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
/** Set once the page is on its way elsewhere: nothing reconnects or redirects again. */
export let leaving = false;

/** Leaves the page for `href` (sign-in, signed out), once. */
export function leave(href: string) {
  if (leaving) return;
  leaving = true;
  location.assign(href);
}

/** The session has ended: sign in again, then come back here. */
const toSignIn = () => leave(`/login?next=${enc(location.pathname + location.search)}`);

/** GET, or POST when `post` is given (with the CSRF token and, for changes, an Idempotency-Key). */
export async function api<T>(path: string, post?: { body: unknown; key: string }): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (post) Object.assign(headers, { "Content-Type": "application/json", "X-CSRF-Token": csrfToken, "Idempotency-Key": post.key });
  let res: Response;
  try {
    res = await fetch(path, { method: post ? "POST" : "GET", headers, body: post && JSON.stringify(post.body), credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiError(0, "Could not reach the controller.");
  }
  if (res.status === 401) {
    toSignIn();
    throw new ApiError(401, "Your sign-in has ended; taking you to sign in again.");
  }
  if (!res.ok) throw await problemOf(res);
  return (await res.json()) as T;
}

/** An RFC 9457 problem as an ApiError: its `detail` says what to do. */
export async function problemOf(res: Response): Promise<ApiError> {
  try {
    const p = (await res.json()) as { detail?: unknown; trace_id?: unknown; errors?: { field: string; message: string }[] };
    const fields = Array.isArray(p.errors) ? p.errors.map((f) => `${f.field}: ${f.message}`).join("; ") : "";
    const detail = typeof p.detail === "string" && p.detail ? p.detail : `The controller answered ${res.status}.`;
    return new ApiError(res.status, fields && !detail.includes(fields) ? `${detail} (${fields})` : detail, typeof p.trace_id === "string" ? p.trace_id : null);
  } catch {
    return new ApiError(res.status, `The controller answered ${res.status} ${res.statusText}.`);
  }
}
