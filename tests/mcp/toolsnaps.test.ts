/**
 * What a model sees of each tool (name, description, annotations, input and output
 * schemas), kept as one JSON file per tool in __toolsnaps__/ so that any change to it
 * shows up in review. A change on purpose: run with UPDATE_TOOLSNAPS=1 and commit the files.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { startAgent, type Agent } from "./support/agent.ts";
import { tempDir, tokenFor } from "../support/controller.ts";

const SNAPS = join(import.meta.dir, "__toolsnaps__");
const updating = process.env.UPDATE_TOOLSNAPS === "1";

let agent: Agent;
let dataDir: string;
let tools: Tool[];

beforeAll(async () => {
  dataDir = tempDir();
  // Listing tools needs no controller, only a configured identity.
  agent = await startAgent({ CONTROLLER_URL: "http://127.0.0.1:9", MESH_JWT_TOKEN: await tokenFor(dataDir, "snapshots", ["any"]) });
  tools = (await agent.client.listTools()).tools;
});

afterAll(async () => {
  await agent?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const text = (tool: Tool) => `${JSON.stringify(tool, null, 2)}\n`;

test("every tool is what its snapshot says a model sees", () => {
  if (updating) {
    rmSync(SNAPS, { recursive: true, force: true });
    mkdirSync(SNAPS);
    for (const tool of tools) writeFileSync(join(SNAPS, `${tool.name}.json`), text(tool));
  }
  expect(existsSync(SNAPS)).toBe(true);
  const snapped = readdirSync(SNAPS)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length));
  expect(tools.map((t) => t.name).sort()).toEqual(snapped.sort());
  for (const tool of tools) {
    // Compared as text, so a reordered or reworded field is a difference too.
    expect({ tool: tool.name, schema: text(tool) }).toEqual({ tool: tool.name, schema: readFileSync(join(SNAPS, `${tool.name}.json`), "utf8") });
  }
});
