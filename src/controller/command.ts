/** `agent-mesh controller`: serves the API, the page and sign-in until stopped. */
import { createLogger } from "../lib/log.ts";
import { loadSettings, SettingsError, settingsHelp } from "../lib/settings.ts";
import { startController } from "./server.ts";
import { devKeyCommand } from "./dev-keys.ts";
import { controllerSettings, type ControllerSettings } from "./settings.ts";
import { StoreUnavailableError } from "./store/store.ts";

/** Why a folder cannot be used, in words, by the file-system error's code. */
const FOLDER_FAULTS: Record<string, string> = {
  ENOENT: "a folder on the way does not exist and cannot be made",
  ENOTDIR: "a part of the path is a file, not a folder",
  EEXIST: "a file is in the way where the folder should be",
  EACCES: "this user may not write there",
  EPERM: "this user may not write there",
  EROFS: "the file system is read-only",
};

/** The failures a person can fix at start, as one line that says which setting; others as they are. */
function startupError(error: unknown, settings: ControllerSettings): unknown {
  const code = (error as { code?: string })?.code;
  if (code === "EADDRINUSE") {
    return new SettingsError(`--port ${settings.port}: the port is in use; stop what holds it or pick another with --port (0 picks a free one)`);
  }
  if (error instanceof StoreUnavailableError) return new SettingsError(`--db / MESH_DATABASE_URL: the database cannot be reached (${error.message})`);
  if (code && code in FOLDER_FAULTS) {
    return new SettingsError(`--data-dir / MESH_DATA_DIR: cannot keep data in ${settings.dataDir}: ${FOLDER_FAULTS[code]}; pick a folder this user can write`);
  }
  return error;
}

export async function runController(argv: string[]) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: agent-mesh controller [options]

Serves the Agent Mesh HTTP API: tasks, approvals, notifications and the audit trail.
Stores everything in SQLite in the data folder unless --db names PostgreSQL.

Options (a flag wins over its environment variable; a .env file in the working folder is read too):
${settingsHelp(controllerSettings)}`);
    return;
  }
  const settings = loadSettings(controllerSettings, argv);
  // Tasks, results and the audit trail are nobody else's business on this machine.
  process.umask(0o077);
  const log = createLogger(settings.logLevel);
  const controller = await startController(settings, log).catch((error) => {
    throw startupError(error, settings);
  });
  const url = controller.url.origin === "http://127.0.0.1:8088" ? "" : `--url ${controller.url.origin} `;
  process.stderr.write(
    `\nAgent Mesh controller on ${controller.url.href}\n` +
      (settings.oidcIssuer
        ? `Tokens come from ${settings.oidcIssuer}; people sign in at ${controller.url.href}.\n`
        : `Get a token:     TOKEN=$(${devKeyCommand("token", settings.dataDir, "--sub alice --role worker")})\n` +
          `Then:            curl -H "Authorization: Bearer $TOKEN" ${controller.url.href}tasks\n` +
          `Web page link:   ${devKeyCommand("login", settings.dataDir, `${url}--sub dana --role lead`)}\n`) +
      `Stop with Ctrl-C.\n\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = async (signal: string) => {
      log.info("shutting down", { signal });
      await controller.stop();
      resolve();
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
  });
}
