/**
 * Text and numbers the mesh cannot keep as sent (U+0000, lone surrogates, numbers past a
 * double's range) get one answer on both engines, wherever they come in: a 4xx naming
 * the field, never a 500 and never a silent change. The controller client (the MCP
 * tools' way in) refuses them the same way.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ControllerClient } from "../../src/client/controller-client.ts";
import { staticToken } from "../../src/client/token-source.ts";
import type { TestController } from "../support/controller.ts";
import { CONTROLLER_ENGINES } from "../support/engines.ts";

for (const engine of CONTROLLER_ENGINES) {
  describe(`odd text: ${engine.name}`, () => {
    let c: TestController;
    let alice: string;
    let admin: string;
    let taskId: string;

    beforeAll(async () => {
      c = await engine.start();
      [alice, admin] = await Promise.all([c.token("alice", ["worker"]), c.token("root", ["admin"])]);
      taskId = (await route(`{"target":"worker","task":{"task_type":"t"}}`)).body.task_id;
    });
    afterAll(() => c?.stop());

    const route = (raw: string) => c.api(alice, "POST", "/tasks/route", raw, { "idempotency-key": crypto.randomUUID() });
    const sentByAlice = async () => (await c.api(alice, "GET", "/tasks?source=alice&limit=200")).body.items.length as number;

    test("a body with a lone surrogate, U+0000 or a number past 1.8e308 is a 422 naming the field, and nothing is stored", async () => {
      const before = await sentByAlice();
      const cases: [string, string][] = [
        [`"description":"half \\ud83d of a face"`, "task.description"],
        [`"data":{"note":"\\udc00"}`, "task.data.note"],
        [`"data":{"list":[1,"ok","\\ud800x"]}`, "task.data.list.2"],
        [`"data":{"\\ud800key":1}`, "task.data.\ud800key"],
        [`"data":{"deep":{"nul":"a\\u0000b"}}`, "task.data.deep.nul"],
        [`"data":{"n":1e400}`, "task.data.n"],
        [`"data":{"n":-1e400}`, "task.data.n"],
      ];
      for (const [task, field] of cases) {
        const res = await route(`{"target":"worker","task":{"task_type":"t",${task}}}`);
        expect({ task, status: res.status, fields: res.body.errors }).toEqual({ task, status: 422, fields: [{ field, message: expect.any(String) }] });
      }
      expect(await sentByAlice()).toBe(before);
      // Whole characters, escaped or not, are kept as they were sent.
      const kept = await route(`{"target":"worker","task":{"task_type":"t","description":"\\ud83d\\ude00 ✓","data":{"big":1.7e308}}}`);
      expect(kept.status).toBe(202);
      const task = (await c.api(alice, "GET", `/tasks/${kept.body.task_id}`)).body;
      expect(task).toMatchObject({ description: "😀 ✓", data: { big: 1.7e308 } });
    });

    test("the same in every other body: approvals, decisions, results", async () => {
      const approval = await c.api(alice, "POST", "/approvals", `{"task_id":"${taskId}","approver_role":"lead","reason":"\\ud800"}`);
      expect(approval.status).toBe(422);
      expect(approval.body.errors[0].field).toBe("reason");
      await c.api(alice, "POST", `/tasks/${taskId}/claim`, {});
      const done = await c.api(alice, "POST", `/tasks/${taskId}/complete`, `{"attempt":1,"result":{"score":1e999}}`);
      expect(done.status).toBe(422);
      expect(done.body.errors[0].field).toBe("result.score");
    });

    test("a path id or a query filter holding U+0000 is a 422 naming it; bytes that are not UTF-8 are a 400", async () => {
      for (const path of ["/tasks/a%00b", "/approvals/%00", "/tasks/%00/history"]) {
        const res = await c.api(alice, "GET", path);
        expect({ path, status: res.status, field: res.body.errors?.[0]?.field }).toEqual({ path, status: 422, field: "id" });
      }
      expect((await c.api(alice, "POST", "/tasks/%00/claim", {})).status).toBe(422);
      for (const [query, field] of [
        ["source=a%00", "source"],
        ["decided_by=%00", "decided_by"],
      ] as const) {
        const res = await c.api(alice, "GET", `/${field === "source" ? "tasks" : "approvals"}?${query}`);
        expect({ query, status: res.status, field: res.body.errors?.[0]?.field }).toEqual({ query, status: 422, field });
      }
      expect((await c.api(admin, "GET", "/audit?actor=%00")).status).toBe(422);
      // A lone surrogate cannot be percent-encoded in UTF-8: such bytes are refused, not read as U+FFFD.
      for (const path of ["/tasks?source=%ED%A0%80", "/tasks/%ED%A0%80", "/tasks?source=%FF"]) {
        expect({ path, status: (await c.api(alice, "GET", path)).status }).toEqual({ path, status: 400 });
      }
    });

    test("a token whose sub holds U+0000 or a lone surrogate is refused with a 401", async () => {
      for (const sub of ["a\0b", "\ud800", "ok\udfff"]) {
        const res = await c.api(await c.token(sub, ["worker"]), "GET", "/tasks");
        expect({ sub, status: res.status, detail: res.body.detail }).toEqual({ sub, status: 401, detail: expect.stringContaining("sub") });
      }
    });

    test("the controller client (the tools' way in) refuses the same input with the same field, sending nothing it would change", async () => {
      const client = new ControllerClient({ baseUrl: c.url, tokens: staticToken(alice), retries: 0, timeoutMs: 5000 });
      const before = await sentByAlice();
      const cases: [Record<string, unknown>, string][] = [
        [{ n: Number.POSITIVE_INFINITY }, "task.data.n"],
        [{ n: Number.NaN }, "task.data.n"],
        [{ note: "\udc00" }, "task.data.note"],
        [{ nul: "a\0" }, "task.data.nul"],
      ];
      for (const [data, field] of cases) {
        const r = await client.call("routeTask", { body: { target: "worker", task: { task_type: "t", data } } });
        expect(r.ok ? null : { kind: r.failure.kind, fields: r.failure.fields?.map((f) => f.field) }).toEqual({ kind: "invalid", fields: [field] });
      }
      expect(await sentByAlice()).toBe(before);
    });
  });
}
