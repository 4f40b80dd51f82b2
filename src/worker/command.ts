/** `agent-mesh worker`: serve a role by running a headless agent (or any command) for each of its tasks. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { clientSettings } from "../client/client-settings.ts";
import { connect } from "../client/connect.ts";
import { createLogger } from "../lib/log.ts";
import { loadSettings, SettingsError, settingsHelp } from "../lib/settings.ts";
import { A2AExecutor } from "./a2a-executor.ts";
import { WorkerLoop } from "./loop.ts";
import { type MeshServer, PRESETS } from "./presets.ts";
import { ProcessExecutor, type TaskCommand } from "./process-executor.ts";
import { DEFAULT_TEMPLATE } from "./prompt.ts";
import { type WorkerSettings, workerSettings } from "./settings.ts";

const HELP = `Usage: agent-mesh worker --role ROLE [--preset goose|claude|codex|gemini] [options] [-- COMMAND ARGS…]
       agent-mesh worker --role ROLE --a2a URL [--a2a-token TOKEN] [options]

Serves a role: waits for its tasks, claims up to --concurrency at once and runs, for each,
the preset's agent CLI headless (or COMMAND) in its own process group and working folder.

The command gets the task as JSON on stdin; MESH_TASK_ID, MESH_TASK_FILE (the task as a
JSON file) and MESH_ATTEMPT in its environment; {prompt} in its arguments becomes a prompt
written from the task; and CONTROLLER_URL with this worker's credential, so it can run
\`agent-mesh mcp\` (the presets attach it) to ask for approvals or send sub-tasks.
A line \`MESH_PROGRESS {"message": "…", "percent": 40}\` on its stderr is passed on as progress;
the lease is renewed while it runs.

Exit 0 completes the task with the last JSON object line on stdout (else {"output": last 64 KiB});
another exit, a signal or --timeout fails it for a retry, with the end of stderr.

With --a2a, each task goes to a remote A2A v1.0 agent (URL: its address or its Agent
Card's) as a message instead; its artifacts complete the task, its failure fails it (for
a retry), its rejection or cancellation fails it for good, its question goes to the
task's sender and the answer back to it; a mesh cancel, --timeout or the end of --grace
cancels the remote task.

SIGTERM or Ctrl-C: no more claims; running tasks get --grace, then are stopped and given back.

Options (a flag wins over its environment variable; a .env file in the working folder is read too):
${settingsHelp(workerSettings)}`;

/** The command after `--`, or the preset's; with both, the words after `--` are added to the preset's command line. */
function taskCommand(s: WorkerSettings, after: string[], server: MeshServer): TaskCommand {
  if (s.preset) {
    const preset = PRESETS[s.preset];
    return { argv: preset.command(server, after), files: preset.files?.(server) ?? {}, result: preset.result };
  }
  if (after.length === 0) throw new SettingsError("say what to run: --preset goose|claude|codex|gemini, or a command after --, e.g. -- ./agent.sh {prompt}");
  return { argv: after, files: {} };
}

function processExecutor(s: WorkerSettings, after: string[]): ProcessExecutor {
  return new ProcessExecutor({
    name: s.preset,
    role: s.role,
    command: taskCommand(s, after, meshServer()),
    promptTemplate: s.promptFile ? readPromptFile(s.promptFile) : DEFAULT_TEMPLATE,
    dataDir: s.dataDir,
    workdir: s.workdir,
    timeoutSeconds: s.timeout,
    env: taskEnvironment(s),
  });
}

/** How the spawned agent starts this program's MCP server: the compiled binary, or Bun with the entry file in a checkout. */
function meshServer(): MeshServer {
  const command = Bun.isStandaloneExecutable ? [process.execPath, "mcp"] : [process.execPath, resolve(import.meta.dir, "../main.ts"), "mcp"];
  const envNames = Object.values(clientSettings).flatMap((s) => ("env" in s && s.env ? [s.env] : []));
  return { command: command[0]!, args: command.slice(1), envNames };
}

/** The worker's environment, with the controller's address and the credential as the settings found them (a .env included). */
function taskEnvironment(s: WorkerSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.CONTROLLER_URL = s.controllerUrl;
  return env;
}

export async function run(argv: string[]): Promise<void> {
  const split = argv.indexOf("--");
  const [own, after] = split < 0 ? [argv, []] : [argv.slice(0, split), argv.slice(split + 1)];
  if (own.includes("--help") || own.includes("-h")) {
    console.log(HELP);
    return;
  }
  const s = loadSettings(workerSettings, own);
  const log = createLogger(s.logLevel);
  if (s.a2a && (s.preset || after.length > 0)) throw new SettingsError("--a2a serves the role with a remote agent: give no --preset and no command after --");
  const executor = s.a2a ? await A2AExecutor.connect(s.a2a, s.a2aToken, s.timeout) : processExecutor(s, after);
  const client = connect(s, log);
  const loop = new WorkerLoop(
    { client, log, role: s.role, executor },
    { concurrency: s.concurrency, once: s.once, graceSeconds: s.grace, leaseSeconds: s.leaseSeconds },
  );
  const stop = (signal: string) => () => loop.stop(signal);
  process.on("SIGTERM", stop("SIGTERM"));
  process.on("SIGINT", stop("SIGINT"));
  log.info("worker started", {
    role: s.role,
    concurrency: s.concurrency,
    executor: executor.name,
    controller: s.controllerUrl,
    data: resolve(s.dataDir),
  });
  await loop.run();
  log.info("worker stopped", { role: s.role });
}

function readPromptFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new SettingsError(`--prompt-file ${path}: ${(error as Error).message}`);
  }
}
