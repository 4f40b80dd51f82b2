/** `agent-mesh setup` on the command line: help, and mistakes answered in one line. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { BINARY } from "../support/controller.ts";
import { setupRunner } from "./run.ts";

const { scratch, setup } = setupRunner();

test("agent-mesh --help lists setup; setup --help names each client, its file and every option", () => {
  expect(Bun.spawnSync([BINARY, "--help"]).stdout.toString()).toMatch(/\n {2}setup {7}Add agent-mesh to Goose, Claude Code or Cursor/);
  const home = scratch();
  const cwd = scratch();
  const help = setup(["--help"], { home, cwd });
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage: agent-mesh setup goose|claude|cursor");
  expect(help.stdout).toContain(`goose   ${join(home, ".config/goose/config.yaml")}`);
  expect(help.stdout).toContain(`claude  ${join(cwd, ".mcp.json")}`);
  expect(help.stdout).toContain(`cursor  ${join(home, ".cursor/mcp.json")}`);
  for (const option of ["--write", "--config", "--controller-url", "CONTROLLER_URL", "--token", "MESH_JWT_TOKEN", "--name"])
    expect(help.stdout).toContain(option);
  expect(setup(["goose", "--help"], { home, cwd }).stdout).toBe(help.stdout);
});

test("a missing or unknown client, a bad flag or value: exit 2 and one line saying what to do", () => {
  const cases: [string[], RegExp][] = [
    [[], /name a client: agent-mesh setup goose\|claude\|cursor/],
    [["vscode"], /unknown client "vscode"/],
    [["goose", "--colour"], /Unknown option '--colour'/],
    [["goose", "--controller-url", "localhost:8088"], /--controller-url \/ CONTROLLER_URL: must be an http:\/\/ or https:\/\/ URL/],
    [["cursor", "--name", "Agent Mesh"], /--name: must be lower-case letters, digits, - or _/],
    [["cursor", "--write", "--config", "/tmp"], /--config \/tmp: is a folder; name the config file itself/],
  ];
  for (const [args, message] of cases) {
    const run = setup(args);
    expect(run.code, args.join(" ")).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(message);
  }
});
