/**
 * Two real controller processes (the compiled binary) sharing one throwaway PostgreSQL
 * database through a TCP proxy the test can cut, with one dev signing key, so a token
 * works on either controller.
 */
import { rmSync } from "node:fs";
import { apiClient, spawnController, tempDir, tokenFor, type SpawnedController, type TestController } from "../support/controller.ts";
import { createTestDatabase, serverPort, type TestDatabase } from "./database.ts";
import { startPgProxy, type PgProxy } from "../support/pg-proxy.ts";

export type Api = TestController["api"];

export type Cluster = {
  db: TestDatabase;
  proxy: PgProxy;
  /** Where the shared dev signing key is. */
  dataDir: string;
  controllers: SpawnedController[];
  /** One API client per controller. */
  apis: Api[];
  token: (sub: string, roles?: string[]) => Promise<string>;
  stop: () => Promise<void>;
};

export async function startCluster(size: number, env: Record<string, string> = {}): Promise<Cluster> {
  const db = await createTestDatabase();
  const proxy = await startPgProxy(serverPort());
  const dataDir = tempDir();
  const token = (sub: string, roles: string[] = []) => tokenFor(dataDir, sub, roles);
  await token("setup"); // makes the signing key before the controllers race to
  const args = ["--db", db.url(proxy.port), "--data-dir", dataDir];
  const controllers = await Promise.all(Array.from({ length: size }, () => spawnController(args, { env })));
  return {
    db,
    proxy,
    dataDir,
    controllers,
    apis: controllers.map((c) => apiClient(c.url)),
    token,
    async stop() {
      await Promise.all(controllers.map((c) => c.stop()));
      await proxy.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves once `check` holds, asking again every few milliseconds; for states nothing announces. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await Bun.sleep(20);
  }
}
