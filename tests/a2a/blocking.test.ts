/**
 * A blocking SendMessage waits for the task to finish, but not past what its caller's
 * token allows: once the token runs out it answers the task as it is. The controller is
 * the compiled binary in its own process, so a controller that spun instead of waiting
 * could not stop this test's clock.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { spawnController, type SpawnedController, tempDir, tokenFor } from "../support/controller.ts";

const dataDir = tempDir();
let controller: SpawnedController;
beforeAll(async () => (controller = await spawnController(["--data-dir", dataDir], { env: { MESH_CLOCK_TOLERANCE: "0s" } })));
afterAll(async () => {
  await controller.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("a blocking send whose token runs out answers the task as it is, then", async () => {
  const token = await tokenFor(dataDir, "alice", ["dev"], 2);
  const answer = await fetch(`${controller.url}/a2a/reviewer`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "a2a-version": "1.0" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "SendMessage",
      params: { message: { messageId: "m-1", role: "ROLE_USER", parts: [{ text: "Nobody will take this" }] } },
    }),
    // Without the token's end it would wait the whole minute a send may block; give up well before that.
    signal: AbortSignal.timeout(30_000),
  });
  expect(((await answer.json()) as any).result.task.status.state).toBe("TASK_STATE_SUBMITTED");
}, 40_000);
