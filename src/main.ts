#!/usr/bin/env bun
/**
 * agent-mesh: the command line. Each command loads only what it uses, so the MCP
 * server (the default, started by agents' hosts) starts fast.
 */
import { SettingsError } from "./lib/settings-error.ts";
import { COMMIT, VERSION } from "./lib/version.ts";

type Command = { summary: string; run: (argv: string[]) => Promise<void> };

const COMMANDS: Record<string, Command> = {
  mcp: {
    summary: "Serve the mesh tools to an MCP client over stdio or Streamable HTTP (the default)",
    run: async (argv) => (await import("./mcp/command.ts")).run(argv),
  },
  worker: {
    summary: "Serve a role: run a headless agent (Goose, Claude Code, Codex, Gemini CLI or any command) for each task",
    run: async (argv) => (await import("./worker/command.ts")).run(argv),
  },
  controller: { summary: "Serve the controller HTTP API", run: async (argv) => (await import("./controller/command.ts")).runController(argv) },
  tasks: { summary: "List and show tasks from a terminal (list, show)", run: async (argv) => (await import("./cli/people.ts")).runTasks(argv) },
  approvals: {
    summary: "List and decide approvals from a terminal (list, approve, reject)",
    run: async (argv) => (await import("./cli/people.ts")).runApprovals(argv),
  },
  login: {
    summary: "Print a one-time link that signs a person in to the web page",
    run: async (argv) => (await import("./cli/dev-credentials.ts")).runLogin(argv),
  },
  admin: {
    summary: "Keep the store: check, backup, restore, erase someone's data",
    run: async (argv) => (await import("./cli/admin.ts")).runAdmin(argv),
  },
  token: { summary: "Print a JWT signed with the controller's dev key", run: async (argv) => (await import("./cli/dev-credentials.ts")).runToken(argv) },
  setup: {
    summary: "Add agent-mesh to Goose, Claude Code or Cursor (--write edits their config)",
    run: async (argv) => (await import("./setup/command.ts")).run(argv),
  },
};

const USAGE = `agent-mesh ${VERSION}: hand work between AI agents and people.

Usage: agent-mesh [command] [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`)
  .join("\n")}

Options:
  --help, -h  Show help (also: agent-mesh COMMAND --help)
  --version   Print the version and commit

Start here: agent-mesh controller, then agent-mesh token --sub me --role worker.`;

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v" || first === "version") {
    console.log(`agent-mesh ${VERSION} (${COMMIT})`);
    return 0;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(USAGE);
    return 0;
  }
  const [name, args] = first === undefined || first.startsWith("-") ? ["mcp", argv] : [first, rest];
  const command = COMMANDS[name];
  if (!command) {
    console.error(`agent-mesh: unknown command "${name}"; run agent-mesh --help to see the commands.`);
    return 2;
  }
  try {
    await command.run(args);
    return 0;
  } catch (error) {
    if (error instanceof SettingsError) {
      console.error(`agent-mesh ${name}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

const code = await main(process.argv.slice(2));
if (code !== 0) process.exit(code);
