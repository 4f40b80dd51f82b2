/** Picks the engine a database URL names; PostgreSQL's driver is loaded only when used. */
import { join } from "node:path";
import type { Store } from "./store.ts";

export type StoreSettings = { database?: string; dataDir: string; poolSize: number };

export async function openStore({ database, dataDir, poolSize }: StoreSettings): Promise<Store> {
  const url = database ?? `sqlite:${join(dataDir, "mesh.db")}`;
  if (url.startsWith("sqlite:")) {
    const { SqliteStore } = await import("./sqlite.ts");
    return new SqliteStore(url.slice("sqlite:".length));
  }
  const { PostgresStore } = await import("./postgres.ts");
  return PostgresStore.open(url, { poolSize });
}

/** Where a store keeps its data, for people: no passwords. */
export const describeDatabase = (url: string | undefined, dataDir: string) =>
  (url ?? `sqlite:${join(dataDir, "mesh.db")}`).replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
