/**
 * HTML for the controller's own pages: interpolations are escaped unless they are
 * markup already, and every page goes out under a policy that allows nothing but
 * this controller's own script, styles and API.
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Markup that is safe to put in a page as it is. */
export class Markup {
  constructor(readonly text: string) {}
}

const render = (value: unknown): string =>
  value instanceof Markup ? value.text : Array.isArray(value) ? value.map(render).join("") : escapeHtml(String(value ?? ""));

export function html(strings: TemplateStringsArray, ...values: unknown[]): Markup {
  return new Markup(strings.reduce((out, part, i) => out + part + (i < values.length ? render(values[i]) : ""), ""));
}

/** Nothing from elsewhere, no inline script or style: injected markup can do nothing. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  // Pages carry a CSRF token or a sign-in ticket: never kept by caches.
  "cache-control": "no-store",
} as const;

export function htmlResponse(page: Markup | string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(page instanceof Markup ? page.text : page, { status, headers: { ...PAGE_HEADERS, ...headers } });
}

/** A small page for signing in and for what went wrong there, in the app's style. */
export function messagePage(title: string, body: Markup, status = 200, headers: Record<string, string> = {}): Response {
  return htmlResponse(
    html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Agent Mesh</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
</head>
<body>
<main class="message-page">
<h1>${title}</h1>
${body}
</main>
</body>
</html>`,
    status,
    headers,
  );
}
