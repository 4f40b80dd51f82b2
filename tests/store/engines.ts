/**
 * The engines the store contract runs against, each with a fresh database per use:
 * SQLite in a temp folder, PostgreSQL in its own throwaway database.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PostgresStore } from "../../src/controller/store/postgres.ts";
import { SqliteStore } from "../../src/controller/store/sqlite.ts";
import type { Store } from "../../src/controller/store/store.ts";
import { tempDir } from "../support/controller.ts";
import { createTestDatabase, someoneWaitsForALock } from "../postgres/database.ts";

/** A new task's clocks as the service sets them: not claimed yet, the default budget of attempts, no deadline. */
export const NO_CLOCKS = { attempt: 0, max_attempts: 3, lease_expires_at: null, retry_at: null, deadline: null, progress: null } as const;

export type EngineDatabase = {
  /** A store on this database; call it twice for two controllers sharing it. */
  open: () => Promise<Store>;
  /** Runs SQL beside the store, as an operator with a database shell would. */
  query: (text: string) => Promise<Record<string, unknown>[]>;
  /** Resolves once a unit of work is held up behind another's lock. */
  writerWaits: () => Promise<void>;
  drop: () => Promise<void>;
  /** SQLite only: the database's files as they are on disk (the write-ahead log included). */
  path?: { files: () => string[] };
};

export type Engine = {
  name: "sqlite" | "postgres";
  /** Whether several controllers may share one database. */
  shared: boolean;
  create: () => Promise<EngineDatabase>;
};

const sqlite: Engine = {
  name: "sqlite",
  shared: false,
  async create() {
    const dir = tempDir("mesh-store-");
    const path = join(dir, "mesh.db");
    return {
      open: async () => new SqliteStore(path),
      query: async (text) => {
        const db = new Database(path, { strict: true });
        try {
          return db.query<Record<string, unknown>, []>(text).all();
        } finally {
          db.close();
        }
      },
      path: { files: () => [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f)) },
      // Units of work queue inside the store: the second waits from the moment it is asked for.
      writerWaits: async () => {},
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const postgres: Engine = {
  name: "postgres",
  shared: true,
  async create() {
    const db = await createTestDatabase();
    return {
      open: () => PostgresStore.open(db.url(), { poolSize: 4 }),
      query: async (text) => db.sql.unsafe(text),
      writerWaits: () => someoneWaitsForALock(db),
      drop: db.drop,
    };
  },
};

export const ENGINES: readonly Engine[] = [sqlite, postgres];

/** A store on a fresh database of `engine` for the tests of one describe block: opened before them, dropped after. */
export function storeOn(engine: Engine): { readonly store: Store } {
  let db: EngineDatabase | undefined;
  const opened = {} as { store: Store };
  beforeAll(async () => {
    db = await engine.create();
    opened.store = await db.open();
  });
  afterAll(async () => {
    await opened.store?.close();
    await db?.drop();
  });
  return opened;
}
