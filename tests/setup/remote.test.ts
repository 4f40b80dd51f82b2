/**
 * `agent-mesh setup claude|cursor|goose --remote URL`: the client's own keys for an HTTP
 * server (Claude Code: type "http", url, headers; Cursor: url, headers; Goose: type
 * streamable_http, uri, headers, per block/goose crates/goose/src/agents/extension.rs),
 * written by the compiled binary; and the entry written is one the official SDK client
 * can connect with to a real controller's /mcp.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { startTestController, type TestController } from "../support/controller.ts";
import { setupRunner } from "./run.ts";

const { scratch, setup } = setupRunner();
const fixture = (name: string) => join(import.meta.dir, "fixtures", name);

let controller: TestController;
beforeAll(async () => (controller = await startTestController()));
afterAll(() => controller.stop());

/** Each client's file in a fresh HOME and folder, already holding the fixture, and how to read an entry from it. */
const clients = {
  claude: { fixture: "claude-mcp.json", file: (_home: string, cwd: string) => join(cwd, ".mcp.json"), read: (t: string) => JSON.parse(t).mcpServers },
  cursor: { fixture: "cursor-mcp.json", file: (home: string) => join(home, ".cursor/mcp.json"), read: (t: string) => JSON.parse(t).mcpServers },
  goose: { fixture: "goose-config.yaml", file: (home: string) => join(home, ".config/goose/config.yaml"), read: (t: string) => parse(t).extensions },
};

function withConfig(client: keyof typeof clients) {
  const home = scratch();
  const cwd = scratch();
  const file = clients[client].file(home, cwd);
  mkdirSync(join(file, ".."), { recursive: true });
  copyFileSync(fixture(clients[client].fixture), file);
  const entries = () => clients[client].read(readFileSync(file, "utf8"));
  return { home, cwd, file, entries };
}

/** Connects as the written entry says (its URL and headers) and reads the caller's inbox. */
async function inboxThrough(url: string, headers: Record<string, string>) {
  const client = new Client({ name: "setup-remote-test", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  const result = (await client.callTool({ name: "check_inbox", arguments: {} })) as CallToolResult;
  await client.close();
  return result;
}

describe("writes each client's remote form, which connects", () => {
  test("Claude Code: type http, url and an Authorization header; the stdio fields go", async () => {
    const { home, cwd, entries } = withConfig("claude");
    expect(setup(["claude", "--write", "--controller-url", "http://mesh:8088", "--token", "old"], { home, cwd }).code).toBe(0);
    const token = await controller.token("claude-agent", ["dev"]);
    const run = setup(["claude", "--write", "--remote", controller.url, "--token", token], { home, cwd });
    expect(run.code).toBe(0);
    const entry = entries()["agent-mesh"];
    expect(entry).toEqual({ type: "http", url: new URL("/mcp", controller.url).href, headers: { Authorization: `Bearer ${token}` } });
    expect(run.stderr).not.toContain("not on your PATH");
    expect((await inboxThrough(entry.url, entry.headers)).isError).toBeFalsy();
  });

  test("Cursor: url and headers", async () => {
    const { home, cwd, entries } = withConfig("cursor");
    const token = await controller.token("cursor-agent", ["dev"]);
    expect(setup(["cursor", "--write", "--remote", new URL("/mcp", controller.url).href, "--token", token], { home, cwd }).code).toBe(0);
    const entry = entries()["agent-mesh"];
    expect(entry).toEqual({ url: new URL("/mcp", controller.url).href, headers: { Authorization: `Bearer ${token}` } });
    expect((await inboxThrough(entry.url, entry.headers)).isError).toBeFalsy();
  });

  test("Goose: type streamable_http with uri and headers; switching back to stdio drops them", async () => {
    const { home, cwd, entries } = withConfig("goose");
    const token = await controller.token("goose-agent", ["dev"]);
    expect(setup(["goose", "--write", "--remote", controller.url, "--token", token], { home, cwd }).code).toBe(0);
    const entry = entries()["agent-mesh"];
    expect(entry).toEqual({
      enabled: true,
      type: "streamable_http",
      name: "agent-mesh",
      description: expect.any(String),
      uri: new URL("/mcp", controller.url).href,
      headers: { Authorization: `Bearer ${token}` },
      env_keys: [],
      timeout: 300,
    });
    expect((await inboxThrough(entry.uri, entry.headers)).isError).toBeFalsy();

    expect(setup(["goose", "--write", "--controller-url", controller.url, "--token", token], { home, cwd }).code).toBe(0);
    const started = entries()["agent-mesh"];
    expect(started.type).toBe("stdio");
    expect(Object.keys(started)).not.toContain("uri");
    expect(Object.keys(started)).not.toContain("headers");
  });
});

test("without --token: no header, and a note that the client signs in by OAuth (or needs a token with the dev key)", () => {
  const { home, cwd, entries } = withConfig("cursor");
  const run = setup(["cursor", "--write", "--remote", "https://mesh.example.com"], { home, cwd });
  expect(run.code).toBe(0);
  expect(entries()["agent-mesh"]).toEqual({ url: "https://mesh.example.com/mcp" });
  expect(run.stderr).toContain("signs in by OAuth");
  expect(run.stderr).toContain("--token");
});

test("--remote with --controller-url is refused in one line", () => {
  const run = setup(["claude", "--remote", "https://mesh.example.com", "--controller-url", "https://mesh.example.com"]);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain("--controller-url is for a started agent-mesh");
});
