/**
 * The URL a request names. Bun builds `req.url` from the Host header; when Host is
 * missing (HTTP/1.0 health checkers send none) or is not a host name, `req.url` is the
 * bare path or an unparsable URL, and `new URL(req.url)` throws. Here that is a value.
 */
export type RequestUrl = { url: URL; hostKnown: boolean };

/** Stands in for the host when the request named none; `.invalid` never resolves (RFC 2606). */
const NO_HOST = "http://no-host.invalid";

export function requestUrl(req: Request): RequestUrl {
  const url = URL.parse(req.url);
  if (url) return { url, hostKnown: true };
  // Keep the path exactly: "//x" must stay a path, not become a host.
  const path = req.url.startsWith("/") ? req.url : req.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  return { url: URL.parse(NO_HOST + (path.startsWith("/") ? path : `/${path}`)) ?? new URL(NO_HOST), hostKnown: false };
}
