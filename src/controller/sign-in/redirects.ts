/** Where a browser goes next: a path on this controller only, never another site. */

/** Any fixed origin serves: only the path, query and fragment of what resolves to it are kept. */
const ORIGIN = "http://controller.invalid";

const parse = (text: string) => {
  try {
    return new URL(text, ORIGIN);
  } catch {
    return null;
  }
};

/**
 * `next` as a path on this controller, or "/". It is read with the URL parser browsers
 * use (which drops tabs and newlines and reads "\" as "/"), and kept only if it stays on
 * this origin. The path it emits is read again: resolving dot segments can leave one
 * that starts with "//" ("/.//evil.example"), which a browser takes for another host.
 */
export function safeNext(next: string | null | undefined): string {
  const url = next ? parse(next) : null;
  if (url?.origin !== ORIGIN) return "/";
  const target = `${url.pathname}${url.search}${url.hash}`;
  return parse(target)?.href === url.href ? target : "/";
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
