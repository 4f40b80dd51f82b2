/**
 * Paging ends: next_cursor is null exactly when there is nothing more, in every list and
 * either order, so a client that pages until null stops. Oldest-first task pages also
 * say where newer tasks will appear (resume_cursor), for an inbox that waits for them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestController } from "../support/controller.ts";
import { CONTROLLER_ENGINES } from "../support/engines.ts";

for (const engine of CONTROLLER_ENGINES) {
  describe(`paging: ${engine.name}`, () => {
    let c: TestController;
    let alice: string;
    let wendy: string;
    let lead: string;
    let admin: string;

    beforeAll(async () => {
      c = await engine.start();
      [alice, wendy, lead, admin] = await Promise.all([
        c.token("alice", []),
        c.token("wendy", ["pager", "inbox"]),
        c.token("lena", ["lead"]),
        c.token("root", ["admin"]),
      ]);
    });
    afterAll(() => c?.stop());

    const send = async (target = "pager") =>
      (await c.api(alice, "POST", "/tasks/route", { target, task: { task_type: "t" } }, { "idempotency-key": crypto.randomUUID() })).body.task_id as string;

    /** Pages `path` with `limit` until next_cursor is null (at most 20 pages); every page's size. */
    async function pageSizes(token: string, path: string, limit: number) {
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: any } = await c.api(token, "GET", `${path}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        sizes.push(res.body.items.length);
        cursor = res.body.next_cursor;
      } while (cursor && sizes.length < 20);
      return sizes;
    }

    test("paging tasks stops at the last page, in either order, also when it is exactly full", async () => {
      for (let i = 0; i < 4; i++) await send();
      for (const order of ["asc", "desc"]) {
        expect(await pageSizes(wendy, `/tasks?target=pager&order=${order}`, 2)).toEqual([2, 2]);
        expect(await pageSizes(wendy, `/tasks?target=pager&order=${order}`, 3)).toEqual([3, 1]);
      }
      // Nothing at all: one empty page, and done.
      expect(await pageSizes(wendy, "/tasks?target=nobody-here&order=asc", 2)).toEqual([0]);
    });

    test("paging approvals and the audit trail stops at an exactly full last page", async () => {
      const id = await send("approvals-pager");
      for (let i = 0; i < 4; i++) {
        const { approval_id } = (await c.api(alice, "POST", "/approvals", { task_id: id, approver_role: "lead", reason: "r" })).body;
        await c.api(lead, "POST", `/approvals/${approval_id}/decision`, { decision: "approved" });
      }
      expect(await pageSizes(alice, `/approvals?task_id=${id}&status=approved`, 2)).toEqual([2, 2]);
      expect(await pageSizes(admin, `/audit?task_id=${id}&action=approval.requested`, 2)).toEqual([2, 2]);
    });

    test("resume_cursor says where newer tasks appear, past the end, and a long-poll there gets only them", async () => {
      const target = "inbox";
      await send(target);
      const first = (await c.api(wendy, "GET", `/tasks?target=${target}`)).body;
      expect(first.items).toHaveLength(1);
      expect(first.next_cursor).toBeNull();
      // Past the end the position holds, so a client keeps it across empty pages.
      const empty = (await c.api(wendy, "GET", `/tasks?target=${target}&cursor=${first.resume_cursor}`)).body;
      expect(empty).toEqual({ items: [], next_cursor: null, resume_cursor: first.resume_cursor });
      const waiting = c.api(wendy, "GET", `/tasks?target=${target}&cursor=${first.resume_cursor}&wait=20`);
      const newer = await send(target);
      const woke = (await waiting).body;
      expect(woke.items.map((t: any) => t.task_id)).toEqual([newer]);
      expect(woke.next_cursor).toBeNull();
      expect(woke.resume_cursor).not.toBe(first.resume_cursor);
      // Newest first has no "newer" position to give.
      expect((await c.api(wendy, "GET", `/tasks?target=${target}&order=desc`)).body).not.toHaveProperty("resume_cursor");
    });

    test("/openapi.json says what next_cursor and resume_cursor mean", async () => {
      const page = (await c.api(null, "GET", "/openapi.json")).body.paths["/tasks"].get.responses["200"].content["application/json"].schema;
      const properties = page.properties ?? page.$ref;
      expect(JSON.stringify(properties)).toContain("null when there is none");
      expect(JSON.stringify(properties)).toContain("resume_cursor");
    });
  });
}
