/**
 * The privacy guard in a real controller, on both engines: each kind masked in `mask`
 * mode (stored, answered, audited as kinds and counts only) and refused in `reject`
 * mode with the field named and the value nowhere in the answer, the audit or the logs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createTestDatabase, type TestDatabase } from "../postgres/database.ts";
import { startTestController } from "../support/controller.ts";

const PEM_BODY =
  "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB";
/** Published example formats (the card networks' test numbers, ISO 13616's IBAN, providers' documented key shapes). */
const SAMPLES: Record<string, string> = {
  EMAIL: "jane.doe@example.com",
  PHONE: "+1 415 555 2671",
  CARD_NUMBER: "4111 1111 1111 1111",
  IBAN: "GB82 WEST 1234 5698 7654 32",
  US_SSN: "123-45-6789",
  ES_DNI: "12345678Z",
  JWT: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
  URL_PASSWORD: "sftp://deploy:s3cr3t-pass@files.internal",
  AWS_ACCESS_KEY_ID: "AKIAZ7VRSQ5TJRXKQY4A",
  GITHUB_TOKEN: "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
  SLACK_TOKEN: "xoxb-123456789012-1234567890123-abcdefghijABCDEFGHIJklmn",
  PRIVATE_KEY: `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----`,
};

type EngineEnv = { name: string; env: () => Promise<Record<string, string>> };
const databases: TestDatabase[] = [];
const ENGINES: EngineEnv[] = [
  { name: "sqlite", env: async () => ({}) },
  {
    name: "postgres",
    env: async () => {
      const db = await createTestDatabase();
      databases.push(db);
      return { MESH_DATABASE_URL: db.url() };
    },
  },
];
afterAll(() => Promise.all(databases.map((d) => d.drop())));

const leaks = (text: string) => Object.entries(SAMPLES).filter(([, value]) => text.includes(value) || text.includes(JSON.stringify(value).slice(1, -1)));

for (const engine of ENGINES) {
  describe(`privacy guard on ${engine.name}`, () => {
    test("mask: every kind is replaced by its placeholder where it is stored, named in the answer and counted in the audit", async () => {
      const c = await startTestController(await engine.env());
      try {
        const alice = await c.token("alice", ["dev"]);
        const bob = await c.token("bob", ["worker"]);
        const admin = await c.token("root", ["admin"]);
        const data = Object.fromEntries(Object.entries(SAMPLES).map(([kind, value]) => [kind.toLowerCase(), `see ${value} here`]));
        const sent = await c.api(
          alice,
          "POST",
          "/tasks/route",
          { target: "worker", task: { task_type: "t", description: `call ${SAMPLES.PHONE}`, data } },
          { "idempotency-key": "k1" },
        );
        expect(sent.status).toBe(202);
        expect(sent.body.masked).toEqual(
          expect.arrayContaining([
            { field: "task.description", kind: "PHONE", count: 1 },
            ...Object.keys(SAMPLES).map((kind) => ({ field: `task.data.${kind.toLowerCase()}`, kind, count: 1 })),
          ]),
        );
        const id = sent.body.task_id;
        const { attempt } = (await c.api(bob, "POST", `/tasks/${id}/claim`)).body;
        const done = await c.api(bob, "POST", `/tasks/${id}/complete`, { attempt, result: { contact: SAMPLES.EMAIL } });
        expect(done.body.masked).toEqual([{ field: "result.contact", kind: "EMAIL", count: 1 }]);
        const task = await c.api(alice, "GET", `/tasks/${id}`);
        expect(task.body.description).toBe("call [PHONE]");
        // What a finding covers is the secret itself: a URL keeps its host, only user:password@ goes.
        for (const kind of Object.keys(SAMPLES)) expect(task.body.data[kind.toLowerCase()]).toMatch(new RegExp(`^see \\[${kind}\\](files\\.internal)? here$`));
        expect(task.body.result).toEqual({ contact: "[EMAIL]" });
        const audit = await c.api(admin, "GET", `/audit?task_id=${id}`);
        const created = audit.body.items.find((e: { action: string }) => e.action === "task.created");
        expect(created.findings).toEqual({ ...Object.fromEntries(Object.keys(SAMPLES).map((k) => [k, 1])), PHONE: 2 });
        const metrics = await (await fetch(new URL("/metrics", c.url))).text();
        expect(metrics).toContain('mesh_privacy_findings_total{kind="CARD_NUMBER"} 1');
        expect(leaks(JSON.stringify(task.body) + JSON.stringify(audit.body) + c.logs() + metrics)).toEqual([]);
      } finally {
        await c.stop();
      }
    });

    test("mask: a holder's progress words are screened before the sender sees them, and counted in the audit", async () => {
      const c = await startTestController(await engine.env());
      try {
        const alice = await c.token("alice", ["dev"]);
        const bob = await c.token("bob", ["worker"]);
        const admin = await c.token("root", ["admin"]);
        const id = (await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "t" } }, { "idempotency-key": "p1" })).body.task_id;
        const { attempt } = (await c.api(bob, "POST", `/tasks/${id}/claim`)).body;
        const beat = await c.api(bob, "POST", `/tasks/${id}/heartbeat`, { attempt, progress: { message: `mailed ${SAMPLES.EMAIL}`, percent: 40 } });
        expect(beat.status).toBe(200);
        expect((await c.api(alice, "GET", `/tasks/${id}`)).body.progress).toEqual({ message: "mailed [EMAIL]", percent: 40 });
        const audit = await c.api(admin, "GET", `/audit?task_id=${id}`);
        expect(audit.body.items.find((e: { action: string }) => e.action === "task.progress").findings).toEqual({ EMAIL: 1 });
        expect(leaks(JSON.stringify(audit.body) + c.logs())).toEqual([]);
      } finally {
        await c.stop();
      }
    });

    test("reject: each kind is a 422 naming the field and the kind, echoing no value, storing nothing", async () => {
      const c = await startTestController({ ...(await engine.env()), MESH_PRIVACY_MODE: "reject" });
      try {
        const alice = await c.token("alice", ["dev"]);
        for (const [kind, value] of Object.entries(SAMPLES)) {
          const r = await c.api(
            alice,
            "POST",
            "/tasks/route",
            { target: "worker", task: { task_type: "t", data: { note: `x ${value} y` } } },
            { "idempotency-key": kind },
          );
          expect(r.status).toBe(422);
          expect(r.body.errors).toEqual([{ field: "task.data.note", message: `holds a ${kind} value` }]);
          expect(leaks(JSON.stringify(r.body))).toEqual([]);
        }
        const listed = await c.api(alice, "GET", "/tasks?for=me&source=alice");
        expect(listed.body.items).toEqual([]);
        expect(leaks(c.logs())).toEqual([]);
      } finally {
        await c.stop();
      }
    });
  });
}

test("MESH_RETENTION: a running controller empties a finished task's payloads on its own, and leaves an open one", async () => {
  const c = await startTestController({ MESH_RETENTION: "1s" });
  try {
    const alice = await c.token("alice", ["dev"]);
    const bob = await c.token("bob", ["worker"]);
    const send = async (key: string) =>
      (
        await c.api(
          alice,
          "POST",
          "/tasks/route",
          { target: "worker", task: { task_type: "t", description: "plan", data: { plan: 1 } } },
          { "idempotency-key": key },
        )
      ).body.task_id;
    const [done, open] = [await send("a"), await send("b")];
    const { attempt } = (await c.api(bob, "POST", `/tasks/${done}/claim`)).body;
    await c.api(bob, "POST", `/tasks/${done}/complete`, { attempt, result: { answer: 42 } });
    let task = (await c.api(alice, "GET", `/tasks/${done}`)).body;
    while (task.result?.answer === 42) {
      await Bun.sleep(100);
      task = (await c.api(alice, "GET", `/tasks/${done}`)).body;
    }
    expect(task).toMatchObject({ status: "completed", description: null, data: {}, context: {}, result: {} });
    expect(task.history.map((h: { action: string }) => h.action)).toEqual(["task.created", "task.claimed", "task.completed"]);
    expect((await c.api(alice, "GET", `/tasks/${open}`)).body).toMatchObject({ status: "pending", description: "plan", data: { plan: 1 } });
    expect(c.logs()).toContain("retention removed payloads");
  } finally {
    await c.stop();
  }
});
