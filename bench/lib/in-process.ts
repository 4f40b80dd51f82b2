/**
 * The controller's mesh service and store in this process, with the settings the
 * binary would use: the same unit of work as POST /tasks/route without HTTP, token
 * checks, validation or logging. The throughput table shows it to say where time goes.
 */
import { MeshService } from "../../src/controller/service.ts";
import { controllerSettings, serviceOptionsOf } from "../../src/controller/settings.ts";
import { openStore } from "../../src/controller/store/open.ts";
import { loadSettings } from "../../src/lib/settings.ts";
import type { BenchDatabase } from "./databases.ts";

export type InProcessService = { route: (caller: number) => Promise<unknown>; close: () => Promise<void> };

export async function openInProcessService(db: BenchDatabase, dataDir: string): Promise<InProcessService> {
  const settings = loadSettings(controllerSettings, [], { MESH_DATA_DIR: dataDir, MESH_DATABASE_URL: db.url });
  const store = await openStore(settings);
  const service = new MeshService(store, serviceOptionsOf(settings));
  return {
    route: (caller) =>
      service.routeTask(
        {
          caller: { subject: `bench-${caller % 8}`, roles: new Set(), isAdmin: false },
          traceId: crypto.randomUUID().replaceAll("-", ""),
          idempotencyKey: crypto.randomUUID(),
        },
        { target: "bench-worker", task: { task_type: "review", description: "bench task", data: { pr: 7 } } },
      ),
    close: () => store.close(),
  };
}
