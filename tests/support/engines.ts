/**
 * A real controller on each storage engine: SQLite in a temp folder, PostgreSQL in a
 * throwaway database. For HTTP behaviour that depends on what the database keeps.
 */
import { createTestDatabase } from "../postgres/database.ts";
import { startTestController, type TestController } from "./controller.ts";

export type EngineController = { name: "sqlite" | "postgres"; start: (env?: Record<string, string>) => Promise<TestController> };

export const CONTROLLER_ENGINES: readonly EngineController[] = [
  { name: "sqlite", start: (env = {}) => startTestController(env) },
  {
    name: "postgres",
    async start(env = {}) {
      const db = await createTestDatabase();
      const c = await startTestController({ ...env, MESH_DATABASE_URL: db.url() });
      return {
        ...c,
        async stop() {
          await c.stop();
          await db.drop();
        },
      };
    },
  },
];
