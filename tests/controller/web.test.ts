/**
 * The web page's server side over real HTTP: signing in with a one-time link, the
 * session cookie, CSRF on every change, signing out, and the page's own headers.
 * The page uses the same API as agents, so the service's rules hold for people too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundlePage } from "../../src/page/bundle.ts";
import { spawnController, startTestController, tempDir, type TestController } from "../support/controller.ts";
import { openSse } from "../support/sse.ts";
import { loginLink, loginTicket, postLink, signIn, type Browserless } from "../support/web.ts";

let c: TestController;
let agent: string;
beforeAll(async () => {
  c = await startTestController();
  agent = await c.token("agent-7", ["worker"]);
});
afterAll(() => c.stop());

const get = (path: string, cookie?: string, headers: Record<string, string> = {}) =>
  fetch(new URL(path, c.url), { headers: { ...(cookie && { cookie }), ...headers }, redirect: "manual" });

/** A change as the page makes it: cookie, JSON, and (unless left out) the CSRF token. */
const change = (path: string, who: Browserless, body: unknown, csrf: string | null = who.csrf) =>
  fetch(new URL(path, c.url), {
    method: "POST",
    headers: { cookie: who.cookie, "content-type": "application/json", ...(csrf !== null && { "x-csrf-token": csrf }) },
    body: JSON.stringify(body),
  });

async function pendingApproval(approverRole = "approver") {
  const sent = await c.api(agent, "POST", "/tasks/route", { target: "worker", task: { task_type: "deploy" } }, { "idempotency-key": crypto.randomUUID() });
  const asked = await c.api(agent, "POST", "/approvals", { task_id: sent.body.task_id, approver_role: approverRole, reason: "prod" });
  return { taskId: sent.body.task_id as string, approvalId: asked.body.approval_id as string };
}

describe("signing in", () => {
  test("the page without a session sends the browser to sign-in, keeping where it was going", async () => {
    const res = await get("/?approval=abc");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/login?next=${encodeURIComponent("/?approval=abc")}`);
    const help = await get("/login");
    expect(help.status).toBe(200);
    // The controller keeps its key in its own data folder, so the command names it (a plain `login` would make another key).
    expect(await help.text()).toContain(`login -- --data-dir ${c.dataDir} --sub YOUR-NAME --role ROLE`);
  });

  test("every sign-in page that says how to get a link names the one same command", async () => {
    const command = async (res: Response) => /<code>([^<]*)<\/code>/.exec(await res.text())?.[1];
    const help = await command(await get("/login"));
    expect(help).toContain(`login -- --data-dir ${c.dataDir} --sub YOUR-NAME --role ROLE --url ${new URL(c.url).origin}`);
    expect(await command(await postLink(c.url, { ticket: "not-a-ticket" }))).toBe(help);
    expect(await command(await get(`/login/link?ticket=${await loginTicket(c, "ada", [], -10)}`))).toBe(help);
  });

  test("a one-time link shows who it signs in; its button starts a session in a Secure, HttpOnly, SameSite cookie", async () => {
    const link = await loginLink(c, "ada", ["approver"]);
    const shown = await get(new URL(link).pathname + new URL(link).search);
    expect(shown.status).toBe(200);
    const form = await shown.text();
    expect(form).toContain("<strong>ada</strong>");
    expect(form).toContain('method="post" action="/login/link"');
    const posted = await postLink(c.url, { ticket: new URL(link).searchParams.get("ticket")!, next: "/?approval=x" });
    expect(posted.status).toBe(303);
    expect(posted.headers.get("location")).toBe("/?approval=x");
    const cookie = posted.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-mesh-session=[\w-]{43};/);
    expect(cookie).toContain("Secure");
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(cookie).toContain("Path=/");
    const me = await get("/me", cookie.split(";")[0]);
    expect(await me.json()).toEqual({ subject: "ada", roles: ["approver"], is_admin: false });
  });

  test("a link signs in once; a second use is refused and says how to get another", async () => {
    const ticket = await loginTicket(c, "ada", ["approver"]);
    const use = () => postLink(c.url, { ticket });
    const [first, second] = await Promise.all([use(), use()]);
    expect([first.status, second.status].sort()).toEqual([303, 400]);
    const refused = first.status === 400 ? first : second;
    expect(refused.headers.get("set-cookie")).toBeNull();
    expect(await refused.text()).toContain("used already");
  });

  test("an API token is no sign-in ticket, a ticket is no API token, and an expired or forged ticket signs nobody in", async () => {
    const useTicket = (ticket: string) => postLink(c.url, { ticket });
    expect((await useTicket(agent)).status).toBe(400);
    const ticket = await loginTicket(c, "ada", ["admin"]);
    expect((await c.api(ticket, "GET", "/me")).status).toBe(401);
    const [h, p] = ticket.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "root" })).toString("base64url")}.${ticket.split(".")[2]}`;
    expect(await (await useTicket(forged)).text()).toContain("not one this controller made");
    expect(await (await useTicket(await loginTicket(c, "ada", ["approver"], -10))).text()).toContain("expired");
  });

  test("a sign-in form posted from another site is refused", async () => {
    const res = await postLink(c.url, { ticket: await loginTicket(c, "mallory", ["approver"]) }, { "sec-fetch-site": "cross-site" });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  test("over plain HTTP from another host, sign-in says it needs HTTPS and leaves the link unused", async () => {
    const ticket = await loginTicket(c, "ada", ["approver"]);
    const fromLan = await postLink(c.url, { ticket }, { host: "mesh.lan:8088" });
    expect(fromLan.status).toBe(400);
    expect(await fromLan.text()).toContain("Sign-in needs HTTPS");
    expect(fromLan.headers.get("set-cookie")).toBeNull();
    // Behind a TLS proxy that says so, the same link works: it was not spent.
    const proxied = await postLink(c.url, { ticket }, { host: "mesh.example.com", "x-forwarded-proto": "https" });
    expect(proxied.status).toBe(303);
  });

  test("next never leads off this controller", async () => {
    // Browsers drop tabs and newlines from a URL and read "\\" as "/": each of these would be another host.
    // Dot segments resolve away, so "/.//evil.example/x" would become "//evil.example/x": another host too.
    for (const next of [
      "//evil.example/x",
      "https://evil.example/",
      "/\\evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "/.//evil.example/x",
      "/a/..//evil.example",
    ]) {
      const res = await postLink(c.url, { ticket: await loginTicket(c, "ada", []), next });
      expect(res.headers.get("location")).toBe("/");
    }
  });

  test("a person already signed in is sent on only within this controller", async () => {
    const ada = await signIn(c, "ada", []);
    // "//" is no URL at all once resolved (a host is missing): it must not fail the request.
    for (const next of ["/.//evil.example/x", "//"]) {
      const res = await get(`/login?next=${encodeURIComponent(next)}`, ada.cookie);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/");
    }
  });
});

describe("a signed-in person", () => {
  let ada: Browserless;
  let bo: Browserless;
  beforeAll(async () => {
    ada = await signIn(c, "ada", ["approver"]);
    bo = await signIn(c, "bo", ["viewer"]);
  });

  test("gets the page with their CSRF token, under a policy that allows only this controller's own script and styles", async () => {
    const res = await get("/", ada.cookie);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'; script-src 'self'");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(await res.text()).toContain(`content="${ada.csrf}"`);
    expect(ada.csrf).not.toBe(bo.csrf);
  });

  test("decides an approval through the API with the CSRF token; without it, or with another session's, nothing changes", async () => {
    const { approvalId } = await pendingApproval();
    const path = `/approvals/${approvalId}/decision`;
    expect((await change(path, ada, { decision: "approved" }, null)).status).toBe(403);
    expect((await change(path, ada, { decision: "approved" }, bo.csrf)).status).toBe(403);
    expect((await c.api(agent, "GET", `/approvals/${approvalId}`)).body.status).toBe("pending");
    const decided = await change(path, ada, { decision: "approved", comments: "ship it" });
    expect(decided.status).toBe(200);
    expect(await decided.json()).toMatchObject({ status: "approved", decided_by: "ada", comments: "ship it" });
  });

  test("without the approver role cannot decide, even replaying the page's own request with a valid CSRF token", async () => {
    const { approvalId } = await pendingApproval();
    const res = await change(`/approvals/${approvalId}/decision`, bo, { decision: "approved" });
    expect(res.status).toBe(403);
    expect((await res.json()).detail).toContain("Only holders of role approver");
    expect((await c.api(agent, "GET", `/approvals/${approvalId}`)).body.status).toBe("pending");
  });

  test("sees through the API what their roles let them see, and nothing else", async () => {
    const { approvalId, taskId } = await pendingApproval();
    expect((await get(`/tasks/${taskId}`, ada.cookie)).status).toBe(200);
    expect((await get(`/tasks/${taskId}`, bo.cookie)).status).toBe(403);
    const mine = await (await get("/approvals?for=me", ada.cookie)).json();
    expect(mine.items.map((a: any) => a.approval_id)).toContain(approvalId);
    expect((await (await get("/approvals?for=me", bo.cookie)).json()).items).toEqual([]);
  });

  test("hears live events through the session", async () => {
    const res = await get("/events", ada.cookie);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    await res.body!.cancel();
  });

  test("signs out with the CSRF token; the session is gone from the server, not just the browser", async () => {
    const carol = await signIn(c, "carol", ["approver"]);
    const out = (csrf: string | null) =>
      fetch(new URL("/logout", c.url), { method: "POST", headers: { cookie: carol.cookie, ...(csrf !== null && { "x-csrf-token": csrf }) } });
    expect((await out(null)).status).toBe(403);
    expect((await get("/me", carol.cookie)).status).toBe(200);
    const done = await out(carol.csrf);
    expect(done.status).toBe(204);
    expect(done.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await get("/me", carol.cookie)).status).toBe(401);
    expect((await get("/", carol.cookie)).status).toBe(303);
  });

  test("signing out ends the session's open event streams, in other tabs too", async () => {
    const dora = await signIn(c, "dora", ["approver"]);
    const tabs = await Promise.all([1, 2].map(() => openSse(new URL("/events", c.url).href, null, { cookie: dora.cookie })));
    expect(tabs.map((t) => t.status)).toEqual([200, 200]);
    await fetch(new URL("/logout", c.url), { method: "POST", headers: { cookie: dora.cookie, "x-csrf-token": dora.csrf } });
    const started = performance.now();
    // Each stream is checked at its next heartbeat (15 s) and then ends: next() is null before its 20 s are up.
    expect(await Promise.all(tabs.map((t) => t.next(20_000)))).toEqual([null, null]);
    expect(performance.now() - started).toBeLessThan(19_000);
    for (const t of tabs) t.close();
  }, 30_000);

  test("signing in again in the same browser ends the session it had", async () => {
    const first = await signIn(c, "erin", ["approver"]);
    const again = await postLink(c.url, { ticket: await loginTicket(c, "erin", ["approver"]) }, { cookie: first.cookie });
    expect(again.status).toBe(303);
    expect((await get("/me", first.cookie)).status).toBe(401);
    expect((await get("/me", again.headers.get("set-cookie")!.split(";")[0])).status).toBe(200);
  });

  test("after signing out, the page says so and offers to sign in again (it does not start a new sign-in by itself)", async () => {
    const res = await get("/signed-out");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("You are signed out");
    expect(text).toContain('href="/login"');
  });

  test("a bearer token wins over a cookie, so an agent's request never rides on a person's session", async () => {
    const me = await fetch(new URL("/me", c.url), { headers: { cookie: ada.cookie, authorization: `Bearer ${agent}` } });
    expect((await me.json()).subject).toBe("agent-7");
  });
});

describe("the page's assets", () => {
  test("are served from the executable, as JavaScript and CSS, and revalidated by ETag", async () => {
    for (const [path, type] of [
      ["/ui/app.js", "text/javascript"],
      ["/ui/app.css", "text/css"],
    ] as const) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      const etag = res.headers.get("etag")!;
      expect((await res.text()).length).toBeGreaterThan(100);
      expect((await get(path, undefined, { "if-none-match": etag })).status).toBe(304);
    }
  });

  test("go gzipped to a browser that takes it, and the whole page (html, js, css) weighs under 40 KB", async () => {
    const { cookie } = await signIn(c, "weigher", []);
    const sizes = await Promise.all(["/", "/ui/app.js", "/ui/app.css"].map(async (path) => (await (await get(path, cookie)).arrayBuffer()).byteLength));
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(40 * 1024);
    const zipped = await fetch(new URL("/ui/app.js", c.url), { headers: { "accept-encoding": "gzip" }, decompress: false } as RequestInit);
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    const unzipped = new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await zipped.arrayBuffer())));
    expect(unzipped).toBe(await (await get("/ui/app.js")).text());
    expect(Number(zipped.headers.get("content-length"))).toBeLessThan(sizes[1]! / 2);
  });

  test("the executable serves the script bundled at build time, the same bundle a run from source makes", async () => {
    const dataDir = tempDir();
    const binary = await spawnController(["--data-dir", dataDir]);
    try {
      const served = await (await fetch(new URL("/ui/app.js", binary.url))).text();
      expect(served).toBe(await bundlePage());
      expect(served).not.toMatch(/^\s*import\b/m);
    } finally {
      await binary.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("the bundle takes no package: a page module that reaches zod is refused, naming the package and the way it came", async () => {
    const dir = tempDir();
    const schemas = join(import.meta.dir, "../../src/contract/schemas.ts");
    writeFileSync(join(dir, "page.ts"), `import { Decision } from ${JSON.stringify(schemas)};\nconsole.log(Decision);\n`);
    try {
      const refused = await bundlePage(join(dir, "page.ts")).then(
        () => "",
        (e: unknown) => (e instanceof AggregateError ? e.errors.join("\n") : String(e)),
      );
      expect(refused).toContain('"zod"');
      expect(refused).toContain("schemas.ts");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the script is JavaScript a browser can parse: the TypeScript is gone", async () => {
    const script = await (await get("/ui/app.js")).text();
    expect(() => new Function(script.replace(/^\s*(import|export)\b.*$/gm, ""))).not.toThrow();
  });
});
