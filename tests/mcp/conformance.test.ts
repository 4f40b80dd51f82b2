/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, run with bun)
 * against `agent-mesh mcp --http` and the controller's own /mcp, on loopback only.
 * The suite's server scenarios send no credentials, so /mcp is reached through a
 * loopback proxy that adds a bearer token and passes everything else (Host and Origin
 * included) as it is.
 *
 * Run: the scenarios for what this server offers — lifecycle, ping, logging, tool
 * listing, concurrent SSE streams and DNS-rebinding protection.
 * Not run, because they test features this server does not have rather than how well
 * it does MCP: tools-call-* (each calls a fixture tool such as `test_image_content` that
 * only the SDKs' "everything" test server defines), completion-complete, resources-*,
 * prompts-* (capabilities this server does not declare), tools-call-sampling (the mesh
 * never asks the client to sample), tools-call-elicitation and elicitation-* (fixture
 * tools too; the mesh's one form, in ask_person_to_decide, is tested in decisions.test.ts),
 * json-schema-2020-12 (a fixture tool), and server-sse-polling (a fixture tool, and stream
 * resumption, which needs an event store this server does not keep).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startTestController, tempDir, type TestController } from "../support/controller.ts";
import { startHttpAgent, type HttpAgent } from "./support/http-agent.ts";

const CLI = join(import.meta.dir, "../../node_modules/@modelcontextprotocol/conformance/dist/index.js");
const SCENARIOS = ["server-initialize", "ping", "logging-set-level", "tools-list", "server-sse-multiple-streams", "dns-rebinding-protection"];

let agent: HttpAgent;
let results: string;
beforeAll(async () => {
  results = tempDir("mcp-conformance-");
  // No controller is needed: none of these scenarios calls a mesh tool.
  agent = await startHttpAgent([], { MESH_JWT_TOKEN: "a.b.c" });
});
afterAll(async () => {
  await agent.stop();
  rmSync(results, { recursive: true, force: true });
});

async function conformance(url: string, scenario: string) {
  // The scenario must address the server as localhost for the DNS-rebinding checks.
  const out = join(results, `${scenario}-${new URL(url).port}`);
  const run = Bun.spawn([process.execPath, CLI, "server", "--url", url.replace("127.0.0.1", "localhost"), "--scenario", scenario, "--output-dir", out], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", NO_COLOR: "1" },
  });
  const [code, stdout, stderr] = await Promise.all([run.exited, new Response(run.stdout).text(), new Response(run.stderr).text()]);
  const [dir] = readdirSync(out);
  const checks = JSON.parse(readFileSync(join(out, dir!, "checks.json"), "utf8")) as { id: string; status: string; errorMessage?: string }[];
  const failed = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
  expect({ scenario, code, failed, output: code === 0 ? "" : stdout + stderr }).toEqual({ scenario, code: 0, failed: [], output: "" });
  expect(checks.filter((c) => c.status === "SUCCESS").length).toBeGreaterThan(0);
}

test.each(SCENARIOS)("conformance: %s", (scenario) => conformance(agent.url, scenario));

describe("the controller's /mcp", () => {
  let controller: TestController;
  let proxy: Bun.Server<undefined>;
  beforeAll(async () => {
    controller = await startTestController();
    const token = await controller.token("conformance", ["dev"]);
    const target = new URL(controller.url);
    proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch(req) {
        const url = new URL(req.url);
        const headers = new Headers(req.headers);
        headers.set("authorization", `Bearer ${token}`);
        return fetch(new URL(url.pathname + url.search, target), { method: req.method, headers, body: req.body, redirect: "manual" });
      },
    });
  });
  afterAll(async () => {
    await proxy.stop(true);
    await controller.stop();
  });

  test.each(SCENARIOS)("conformance at /mcp: %s", (scenario) => conformance(`http://127.0.0.1:${proxy.port}/mcp`, scenario));
});
