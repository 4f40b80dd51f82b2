/** Where a browser goes next: a path on this controller only, never another site. */

const BASE = "http://controller.invalid";

/**
 * `next` as a path on this controller, or "/". Browsers drop tabs and newlines from a
 * URL and read "\" as "/", so "/\t/evil.example" would be another host: anything with
 * control characters or backslashes is refused before the URL is parsed.
 */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || /[\u0000-\u001f\u007f\\]/.test(next)) return "/";
  const url = new URL(next, BASE);
  return url.origin === BASE ? `${url.pathname}${url.search}${url.hash}` : "/";
}

/** 303 See Other, never cached, with any cookies to set on the way. */
export function seeOther(location: string, cookies: string[] = []): Response {
  const headers = new Headers({ location, "cache-control": "no-store" });
  for (const cookie of cookies) headers.append("set-cookie", cookie);
  return new Response(null, { status: 303, headers });
}

const LOOPBACK = /^(localhost|.+\.localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * Whether a browser will keep the Secure session cookie for this address: over HTTPS
 * (directly, behind a proxy that says so, or as MESH_PUBLIC_URL says) or on loopback.
 */
export function keepsSecureCookies(req: Request, url: URL, publicUrl: string | undefined): boolean {
  const scheme = publicUrl ? new URL(publicUrl).protocol : req.headers.get("x-forwarded-proto") === "https" ? "https:" : url.protocol;
  return scheme === "https:" || LOOPBACK.test(url.hostname);
}
