/**
 * What an operator does to a store beside the controller: check it, back it up while
 * the controller runs, and restore a backup into an empty data folder. SQLite is done
 * here; PostgreSQL has pg_dump and pg_restore, and is checked here after a restore.
 */
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { SQL } from "bun";
import { POSTGRES_SCHEMA_VERSION } from "./postgres.ts";
import { SQLITE_SCHEMA_VERSION } from "./sqlite.ts";

export type StoreCheck = {
  engine: "sqlite" | "postgres";
  schema_version: number;
  /** The newest schema this build knows. */
  known_version: number;
  /** `ok`, or what SQLite's integrity check found; PostgreSQL checks its own pages. */
  integrity: string;
  counts: Record<"tasks" | "approvals" | "audit" | "erasures", number>;
  /** Why this store is not fit to use with this build; empty when it is. */
  problems: string[];
};

const COUNTED = ["tasks", "approvals", "audit", "erasures"] as const;

/** Why a database at `version` is not fit for this build, if it is not. */
function versionProblems(version: number, known: number): string[] {
  if (version === 0) return ["it has no schema: it is not an Agent Mesh store"];
  if (version > known) return [`its schema is version ${version}, newer than this build knows (${known}): use the agent-mesh that wrote it, or a newer one`];
  return [];
}

/** Checks a store without changing it: schema version, integrity, counts. */
export async function checkStore(url: string): Promise<StoreCheck> {
  return url.startsWith("sqlite:") ? checkSqlite(url.slice("sqlite:".length)) : checkPostgres(url);
}

function checkSqlite(path: string): StoreCheck {
  if (!existsSync(path)) throw new Error(`there is no database at ${path}`);
  const db = new Database(path, { readonly: true, strict: true });
  try {
    const tables = new Set(
      db
        .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .all()
        .map((r) => r.name),
    );
    const version = tables.has("schema_migrations") ? (db.query<{ v: number | null }, []>("SELECT max(version) AS v FROM schema_migrations").get()?.v ?? 0) : 0;
    const integrity = db
      .query<{ integrity_check: string }, []>("PRAGMA integrity_check")
      .all()
      .map((r) => r.integrity_check)
      .join("; ");
    const counts = Object.fromEntries(
      COUNTED.map((t) => [t, tables.has(t) ? db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${t}`).get()!.n : 0]),
    ) as StoreCheck["counts"];
    const problems = [...versionProblems(version, SQLITE_SCHEMA_VERSION), ...(integrity === "ok" ? [] : [`the integrity check failed: ${integrity}`])];
    return { engine: "sqlite", schema_version: version, known_version: SQLITE_SCHEMA_VERSION, integrity, counts, problems };
  } finally {
    db.close();
  }
}

async function checkPostgres(url: string): Promise<StoreCheck> {
  const sql = new SQL(url, { max: 1 });
  try {
    const [{ found }] = await sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`;
    const version = found ? Number((await sql`SELECT coalesce(max(version), 0) AS v FROM schema_migrations`)[0].v) : 0;
    const counts = {} as StoreCheck["counts"];
    for (const t of COUNTED) {
      const [{ exists }] = await sql`SELECT to_regclass(${t}) IS NOT NULL AS exists`;
      counts[t] = exists ? Number((await sql.unsafe(`SELECT count(*) AS n FROM ${t}`))[0].n) : 0;
    }
    return {
      engine: "postgres",
      schema_version: version,
      known_version: POSTGRES_SCHEMA_VERSION,
      integrity: "ok",
      counts,
      problems: versionProblems(version, POSTGRES_SCHEMA_VERSION),
    };
  } finally {
    await sql.close();
  }
}

/**
 * A consistent copy of a running SQLite store: VACUUM INTO reads one snapshot, so the
 * copy holds every change committed before it began and none half-made.
 */
export function backupSqlite(path: string, out: string): void {
  if (existsSync(out)) throw new Error(`${out} exists already; name a new file, so no backup is overwritten`);
  if (!existsSync(path)) throw new Error(`there is no database at ${path}`);
  mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
  const db = new Database(path, { readonly: true, strict: true });
  try {
    db.query("VACUUM INTO ?").run(out);
  } finally {
    db.close();
  }
}

/** Puts a backup in place of a store that does not exist yet, once it checks out. */
export function restoreSqlite(backup: string, path: string): StoreCheck {
  if (existsSync(path)) throw new Error(`${path} exists already; restore into an empty data folder (or move that database away first)`);
  const check = checkSqlite(backup);
  if (check.problems.length) throw new Error(`${backup} cannot be restored: ${check.problems.join("; ")}`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  copyFileSync(backup, path);
  return check;
}
