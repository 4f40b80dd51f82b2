/** `agent-mesh setup claude|cursor` on existing mcpServers files, through the compiled binary. */
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY } from "../support/controller.ts";
import { setupRunner } from "./run.ts";

const { scratch, setup } = setupRunner();

const fixture = (name: string) => join(import.meta.dir, "fixtures", name);
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

// Each client's own file, as the client documents it (see src/setup/claude.ts and cursor.ts).
const clients = [
  { client: "claude", fixture: "claude-mcp.json", file: (_home: string, cwd: string) => join(cwd, ".mcp.json"), extra: { type: "stdio" } },
  { client: "cursor", fixture: "cursor-mcp.json", file: (home: string) => join(home, ".cursor/mcp.json"), extra: {} },
];

describe.each(clients)("setup $client", ({ client, fixture: name, file: fileIn, extra }) => {
  function withConfig() {
    const home = scratch();
    const cwd = scratch();
    const file = fileIn(home, cwd);
    mkdirSync(join(file, ".."), { recursive: true });
    copyFileSync(fixture(name), file);
    return { home, cwd, file };
  }

  test("--write adds agent-mesh beside the servers already there, which stay as they were", () => {
    const { home, cwd, file } = withConfig();
    const before = readJson(file);
    const run = setup([client, "--write", "--controller-url", "http://mesh:8088", "--token", "tok"], { home, cwd });
    expect(run.code).toBe(0);
    const after = readJson(file);
    for (const [name, server] of Object.entries(before.mcpServers)) expect(after.mcpServers[name]).toEqual(server);
    expect(after.mcpServers["agent-mesh"]).toEqual({
      ...extra,
      command: realpathSync(BINARY),
      args: ["mcp"],
      env: { CONTROLLER_URL: "http://mesh:8088", MESH_JWT_TOKEN: "tok" },
    });
    expect(readFileSync(`${file}.bak`, "utf8")).toBe(readFileSync(fixture(name), "utf8"));
  });

  test("says Added for an entry it added and Updated for one it changed", () => {
    const { home, cwd, file } = withConfig();
    expect(setup([client, "--write", "--controller-url", "http://mesh:8088", "--token", "a"], { home, cwd }).stderr).toContain(`Added agent-mesh to ${file}`);
    const again = setup([client, "--write", "--token", "b"], { home, cwd });
    expect(again.stderr).toContain(`Updated agent-mesh in ${file}`);
    expect(again.stderr).not.toContain("Added");
  });

  test("keeps other top-level settings, and a token already there when none is given", () => {
    const { home, cwd, file } = withConfig();
    writeFileSync(file, JSON.stringify({ ...readJson(file), theme: "dark" }));
    setup([client, "--write", "--token", "first"], { home, cwd });
    setup([client, "--write", "--controller-url", "http://mesh:8088"], { home, cwd });
    const after = readJson(file);
    expect(after.theme).toBe("dark");
    expect(after.mcpServers["agent-mesh"].env).toEqual({ CONTROLLER_URL: "http://mesh:8088", MESH_JWT_TOKEN: "first" });
  });

  test("a file that is not JSON, or not an object, is refused and left alone", () => {
    for (const text of ['{ "mcpServers": { "a": 1, } }', "[]"]) {
      const { home, cwd, file } = withConfig();
      writeFileSync(file, text);
      const run = setup([client, "--write"], { home, cwd });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`^agent-mesh setup: ${file}: not (valid JSON|a JSON object).*nothing was written\\n$`));
      expect(readFileSync(file, "utf8")).toBe(text);
      expect(existsSync(`${file}.bak`)).toBe(false);
    }
  });

  test("prints the entry as JSON with placeholders and says what to fill in", () => {
    const home = scratch();
    const cwd = scratch();
    const run = setup([client], { home, cwd });
    expect(run.code).toBe(0);
    const { env } = JSON.parse(run.stdout).mcpServers["agent-mesh"];
    expect(env.CONTROLLER_URL).toMatch(/^<controller URL/);
    expect(env.MESH_JWT_TOKEN).toMatch(/^<token from/);
    expect(run.stderr).toContain(`Add this to mcpServers in ${fileIn(home, cwd)}`);
    expect(run.stderr).toContain("Still to fill in:");
    expect(existsSync(fileIn(home, cwd))).toBe(false);
  });
});

test("Claude Code: a literal token in .mcp.json earns a hint to let Claude Code expand ${MESH_JWT_TOKEN} instead", () => {
  const cwd = scratch();
  expect(setup(["claude", "--token", "secret"], { cwd }).stderr).toContain("--token '${MESH_JWT_TOKEN}'");
  const run = setup(["claude", "--write", "--token", "${MESH_JWT_TOKEN}"], { cwd });
  expect(run.stderr).not.toContain("usually committed");
  expect(readJson(join(cwd, ".mcp.json")).mcpServers["agent-mesh"].env.MESH_JWT_TOKEN).toBe("${MESH_JWT_TOKEN}");
});

test("Claude Code: writing ~/.claude.json gives no advice meant for a project's .mcp.json", () => {
  const home = scratch();
  const file = join(home, ".claude.json");
  writeFileSync(file, JSON.stringify({ numStartups: 3, projects: {} }));
  const run = setup(["claude", "--write", "--config", file, "--controller-url", "http://mesh:8088", "--token", "secret"], { home, cwd: scratch() });
  expect(run.code).toBe(0);
  expect(readJson(file).mcpServers["agent-mesh"].env.MESH_JWT_TOKEN).toBe("secret");
  expect(run.stderr).not.toContain(".mcp.json");
  expect(run.stderr).not.toContain("project's servers");
  expect(run.stderr).toContain("every project");
});
