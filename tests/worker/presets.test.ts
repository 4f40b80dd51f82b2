/**
 * Each preset's command line against the agent CLI's own --help: every flag it passes
 * must be one the installed CLI lists. The CLIs are not dependencies of this project:
 * install them anywhere and put them on PATH (or name their folder in AGENT_CLIS_PATH,
 * e.g. after `npm i @anthropic-ai/claude-code @openai/codex @google/gemini-cli` in /tmp/clis,
 * AGENT_CLIS_PATH=/tmp/clis/node_modules/.bin); a CLI that is not installed is skipped, saying so.
 */
import { describe, expect, test } from "bun:test";
import { PRESETS, type PresetName } from "../../src/worker/presets.ts";

const searchPath = [process.env.AGENT_CLIS_PATH, process.env.PATH].filter(Boolean).join(":");
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
    if (binary === null) console.warn(`skipped the ${name} preset's check: ${argv[0]} is not installed (put it on PATH or AGENT_CLIS_PATH)`);
  }
});
