/**
 * The approvals page and its two assets, built into the executable: no CDN, no
 * fonts or scripts from elsewhere, so it works on a host with no way out.
 */
import indexHtml from "../../page/index.html" with { type: "text" };
import appCss from "../../page/app.css" with { type: "text" };
import { bundlePage } from "../../page/bundle.ts";
import { escapeHtml, htmlResponse } from "./html.ts";

// Bun hands these over as text (the import attribute); TypeScript types the files themselves.
const PAGE = indexHtml as unknown as string;

/** The page's script, bundled by scripts/build.ts into the executable; undefined when run from source. */
declare const PAGE_SCRIPT: string | undefined;

/** An asset as text and gzipped (a third of the bytes), both made once. */
type Asset = { body: string; gzipped: Blob; etag: string; type: string };

function asset(body: string, type: string): Asset {
  return {
    body,
    gzipped: new Blob([Bun.gzipSync(body, { level: 9 })]),
    type,
    etag: `"${new Bun.CryptoHasher("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

let assets: Promise<Record<string, Asset>> | null = null;

/** Made on first use; run from source, the page's modules are bundled then (once, a few tens of ms). */
async function loadAssets(): Promise<Record<string, Asset>> {
  const script = typeof PAGE_SCRIPT === "string" ? PAGE_SCRIPT : await bundlePage();
  return {
    "/ui/app.js": asset(script, "text/javascript; charset=utf-8"),
    "/ui/app.css": asset(appCss, "text/css; charset=utf-8"),
  };
}

export const ASSET_PATHS = ["/ui/app.js", "/ui/app.css"] as const;

/** A script or style sheet; browsers revalidate it (ETag) so a new release shows at once. */
export async function serveAsset(req: Request, path: (typeof ASSET_PATHS)[number]): Promise<Response> {
  const found = (await (assets ??= loadAssets()))[path]!;
  const headers = { etag: found.etag, "cache-control": "no-cache", "content-type": found.type, "x-content-type-options": "nosniff", vary: "accept-encoding" };
  if (req.headers.get("if-none-match") === found.etag) return new Response(null, { status: 304, headers });
  if (/\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")) return new Response(found.gzipped, { headers: { ...headers, "content-encoding": "gzip" } });
  return new Response(found.body, { headers });
}

/** The page for one signed-in person: their CSRF token is the only thing in it that is theirs. */
export function servePage(csrfToken: string): Response {
  return htmlResponse(PAGE.replaceAll("{{csrf_token}}", escapeHtml(csrfToken)));
}
