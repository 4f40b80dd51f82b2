/**
 * Throwaway PostgreSQL databases for tests and benchmarks: each run gets its own
 * `<prefix>_<random>` on the server at 127.0.0.1:5432 (or MESH_TEST_POSTGRES_URL, or the
 * admin URL given), dropped afterwards.
 */
import { SQL } from "bun";

const ADMIN_URL = process.env.MESH_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export type TestDatabase = {
  name: string;
  /** The URL of this database, optionally through another port (a proxy in front of the server). */
  url: (port?: number) => string;
  /** A client of this database that bypasses the code under test. */
  sql: SQL;
  drop: () => Promise<void>;
};

export async function createTestDatabase({ adminUrl = ADMIN_URL, prefix = "mesh_test" } = {}): Promise<TestDatabase> {
  const name = `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = new SQL(adminUrl, { max: 1 });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  const url = (port?: number) => {
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    if (port !== undefined) u.port = String(port);
    return u.href;
  };
  const sql = new SQL(url(), { max: 4 });
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.close();
      const admin = new SQL(adminUrl, { max: 1 });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.close();
      }
    },
  };
}

/** The port of the PostgreSQL server the test databases live on. */
export const serverPort = () => Number(new URL(ADMIN_URL).port || 5432);

/** Resolves once some session of this database waits for a lock another holds. */
export async function someoneWaitsForALock(db: TestDatabase, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await db.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${db.name} AND wait_event_type = 'Lock'`;
    if (row.n > 0) return;
    if (Date.now() > deadline) throw new Error("no session started waiting for a lock");
    await Bun.sleep(5);
  }
}
