/**
 * Each preset's command line against the agent CLI's own --help: every flag it passes
 * must be one the installed CLI lists. The CLIs are not dependencies of this project: the
 * test installs the npm ones (pinned below) into a cache folder outside the checkout the
 * first time, or uses those on AGENT_CLIS_PATH or PATH. Goose is not on npm: its check runs
 * where `goose` is installed, and is skipped, saying so, elsewhere.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PRESETS, type PresetName } from "../../src/worker/presets.ts";

/** The agent CLIs from npm, at the versions whose --help the presets were checked against. */
const NPM_CLIS = ["@anthropic-ai/claude-code@2.1.197", "@openai/codex@0.171.0", "@google/gemini-cli@0.61.0"];

/** Installs the npm CLIs once per machine (about 750 MB, kept between runs); the folder of their commands. */
function installedClis(): string {
  const folder = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "agent-mesh-tests", "agent-clis");
  const bin = join(folder, "node_modules", ".bin");
  if (existsSync(join(bin, "claude")) && existsSync(join(bin, "codex")) && existsSync(join(bin, "gemini"))) return bin;
  mkdirSync(folder, { recursive: true });
  const npm = Bun.spawnSync(["npm", "install", "--prefix", folder, "--no-audit", "--no-fund", "--no-save", ...NPM_CLIS], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 600_000,
  });
  if (npm.exitCode !== 0) throw new Error(`could not install the agent CLIs from npm (${NPM_CLIS.join(", ")}):\n${npm.stderr.toString().slice(-2000)}`);
  return bin;
}

const searchPath = [process.env.AGENT_CLIS_PATH ?? installedClis(), process.env.PATH].filter(Boolean).join(":");
const server = { command: "/usr/local/bin/agent-mesh", args: ["mcp"], envNames: ["CONTROLLER_URL", "MESH_JWT_TOKEN"] };

/** The help that lists the flags the preset uses: the subcommand's, where it has one. */
const HELP_OF: Record<PresetName, string[]> = {
  claude: ["--help"],
  codex: ["exec", "--help"],
  gemini: ["--help"],
  goose: ["run", "--help"],
};

/** The flags a command line passes (`--name` or `-x`), without values. */
const flagsOf = (argv: string[]) => argv.filter((a) => /^--?[A-Za-z]/.test(a)).map((a) => a.split("=")[0]!);

describe("each preset's command line uses only flags its CLI lists", () => {
  for (const name of Object.keys(PRESETS) as PresetName[]) {
    const argv = PRESETS[name].command(server, []);
    const binary = Bun.which(argv[0]!, { PATH: searchPath });
    test.skipIf(binary === null)(
      `${name}: ${argv[0]} ${HELP_OF[name].join(" ")}`,
      async () => {
        const help = Bun.spawnSync([binary!, ...HELP_OF[name]], { env: { ...process.env, NO_COLOR: "1" }, timeout: 60_000 });
        const text = help.stdout.toString() + help.stderr.toString();
        const missing = flagsOf(argv.slice(1)).filter((flag) => !new RegExp(`(^|[\\s,])${flag}([\\s,=<\\[]|$)`, "m").test(text));
        expect(missing).toEqual([]);
        // The subcommand (codex exec, goose run) is the one whose help was read.
        if (HELP_OF[name].length > 1) expect(argv[1]).toBe(HELP_OF[name][0]!);
      },
      90_000,
    );
    if (binary === null) console.warn(`skipped the ${name} preset's check: ${argv[0]} is not installed here (it is not on npm; put it on PATH)`);
  }
});
