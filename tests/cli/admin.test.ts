/** `agent-mesh admin …` through the compiled binary: backup while writes go on, restore, check, erase. */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PostgresStore } from "../../src/controller/store/postgres.ts";
import { createTestDatabase } from "../postgres/database.ts";
import { BINARY, startTestController, tempDir, type TestController } from "../support/controller.ts";

let c: TestController;
const dirs: string[] = [];
const fresh = () => {
  const dir = tempDir("mesh-admin-");
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  c = await startTestController({ MESH_DATA_DIR: fresh() });
});
afterAll(async () => {
  await c.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function mesh(env: Record<string, string>, ...args: string[]) {
  const proc = Bun.spawn([BINARY, "admin", ...args], {
    env: { PATH: process.env.PATH ?? "", CONTROLLER_URL: c.url, MESH_RETRY_COUNT: "0", ...env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

const idsIn = (dataDir: string) => {
  const db = new Database(join(dataDir, "mesh.db"), { readonly: true });
  try {
    return new Set(
      db
        .query<{ task_id: string }, []>("SELECT task_id FROM tasks")
        .all()
        .map((r) => r.task_id),
    );
  } finally {
    db.close();
  }
};

describe("backup and restore (SQLite)", () => {
  let backup: string;

  test("a backup taken during a write burst restores to a store that passes check and holds every write answered before it began", async () => {
    const alice = await c.token("alice", ["dev"]);
    const answered: string[] = [];
    let writing = true;
    const writer = async (w: number) => {
      for (let i = 0; writing; i++) {
        const r = await c.api(alice, "POST", "/tasks/route", { target: "worker", task: { task_type: "t", data: { i } } }, { "idempotency-key": `${w}-${i}` });
        expect(r.status).toBe(202);
        answered.push(r.body.task_id);
      }
    };
    const burst = Promise.all([1, 2, 3, 4].map(writer));
    while (answered.length < 40) await Bun.sleep(5);
    const answeredBefore = [...answered];
    backup = join(fresh(), "mesh-backup.db");
    const taken = await mesh({}, "backup", "--out", backup, "--data-dir", c.dataDir);
    writing = false;
    await burst;
    expect(taken.stderr).toBe("");
    expect(taken.code).toBe(0);
    expect(answered.length).toBeGreaterThan(answeredBefore.length);

    const restored = fresh();
    const r = await mesh({}, "restore", backup, "--data-dir", restored);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const check = await mesh({}, "check", "--data-dir", restored);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain("integrity ok");
    const ids = idsIn(restored);
    expect(answeredBefore.filter((id) => !ids.has(id))).toEqual([]);
  });

  test("restore refuses a folder that has a database, and a backup with a newer schema than it knows", async () => {
    const into = await mesh({}, "restore", backup, "--data-dir", c.dataDir);
    expect(into.code).toBe(1);
    expect(into.stderr).toContain("exists already");
    // The file after a flag written with its value is still the file.
    const joined = await mesh({}, "restore", `--data-dir=${c.dataDir}`, backup);
    expect(joined.code).toBe(1);
    expect(joined.stderr).toContain("exists already");

    const newer = join(fresh(), "newer.db");
    copyFileSync(backup, newer);
    const db = new Database(newer);
    db.run("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'later')");
    db.close();
    const restored = fresh();
    const r = await mesh({}, "restore", newer, "--data-dir", restored);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("newer than this build knows");
    expect((await mesh({}, "check", "--data-dir", restored)).code).toBe(1);
  });
});

test("check reads a PostgreSQL store's schema version and refuses a newer one", async () => {
  const pg = await createTestDatabase();
  try {
    await (await PostgresStore.open(pg.url(), { poolSize: 1 })).close();
    const ok = await mesh({}, "check", "--db", pg.url());
    expect(ok.stdout).toContain("postgres store, schema version");
    expect(ok.code).toBe(0);
    await pg.sql`INSERT INTO schema_migrations (version) VALUES (999)`;
    const newer = await mesh({}, "check", "--db", pg.url());
    expect(newer.code).toBe(1);
    expect(newer.stdout).toContain("newer than this build knows");
  } finally {
    await pg.drop();
  }
});

test("erase: admins only; it answers how many records and who erased them", async () => {
  const erin = await c.token("erin", ["dev"]);
  await c.api(erin, "POST", "/tasks/route", { target: "worker", task: { task_type: "t", description: "erin's own words" } }, { "idempotency-key": "e1" });
  const refused = await mesh({ MESH_JWT_TOKEN: erin }, "erase", "--subject", "erin");
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("Only admins may erase");
  const done = await mesh({ MESH_JWT_TOKEN: await c.token("root", ["admin"]) }, "erase", "--subject", "erin");
  expect(done.stderr).toBe("");
  expect(done.stdout).toMatch(/^Erased the payloads of erin: 2 records, recorded as done by root at /);
  const mine = await c.api(erin, "GET", "/tasks?source=erin");
  expect(mine.body.items.map((t: { description: string | null }) => t.description)).toEqual([null]);
});
