/**
 * What a person does on an air-gapped machine, run by airgap.test.ts inside a network
 * namespace that has only loopback: start the controller, mint a token, call the API,
 * and have an MCP host start `agent-mesh mcp` and send a task through it. Prints what
 * happened as one JSON line.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { rmSync } from "node:fs";
import { apiClient, BINARY, spawnController, tempDir } from "../support/controller.ts";

const dataDir = tempDir("mesh-airgap-");
const controller = await spawnController(["--data-dir", dataDir]);
try {
  const token = Bun.spawnSync([BINARY, "token", "--data-dir", dataDir, "--sub", "alice", "--role", "worker"]).stdout.toString().trim();
  const api = apiClient(controller.url);
  const routed = await api(
    token,
    "POST",
    "/tasks/route",
    { target: "worker", task: { task_type: "review", description: "offline" } },
    { "idempotency-key": "airgap-1" },
  );

  const mcpHelp = Bun.spawnSync([BINARY, "mcp", "--help"]);
  const transport = new StdioClientTransport({
    command: BINARY,
    args: ["mcp"],
    env: { PATH: process.env.PATH ?? "", HOME: dataDir, CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: token },
    stderr: "ignore",
  });
  const client = new Client({ name: "airgap-test", version: "0" }, { capabilities: {} });
  await client.connect(transport);
  const sent = await client.callTool({ name: "send_task", arguments: { target: "worker", task: { task_type: "notify", description: "sent over MCP" } } });
  await client.close();
  const viaMcp = (sent.structuredContent as { task_id?: string } | undefined)?.task_id;
  const fetched = await api(token, "GET", `/tasks/${viaMcp}`);

  console.log(
    JSON.stringify({
      routed: routed.status,
      mcpHelp: { code: mcpHelp.exitCode, stdout: mcpHelp.stdout.toString() },
      sentOverMcp: {
        isError: sent.isError ?? false,
        taskId: viaMcp,
        fetched: fetched.status,
        description: fetched.body?.task?.description ?? fetched.body?.description,
      },
    }),
  );
} finally {
  await controller.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
