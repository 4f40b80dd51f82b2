/** `agent-mesh controller` and `agent-mesh token`. */
import { createLogger } from "../lib/log.ts";
import { selfCommand } from "../lib/self.ts";
import { loadSettings, SettingsError, settingsHelp } from "../lib/settings.ts";
import { loadOrCreateDevKey, mintDevToken } from "./dev-keys.ts";
import { startController } from "./server.ts";
import { controllerSettings, defaultDataDir, loginSettings, tokenSettings } from "./settings.ts";
import { mintSignInTicket, signInLink } from "./web/sign-in-link.ts";
import { StoreUnavailableError } from "./store/store.ts";

/** The failures a person can fix at start, as one line that says which setting; others as they are. */
function startupError(error: unknown, port: number): unknown {
  if ((error as { code?: string })?.code === "EADDRINUSE") {
    return new SettingsError(`--port ${port}: the port is in use; stop what holds it or pick another with --port (0 picks a free one)`);
  }
  if (error instanceof StoreUnavailableError) return new SettingsError(`--db / MESH_DATABASE_URL: the database cannot be reached (${error.message})`);
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
    throw startupError(error, settings.port);
  });
  // The data folder is named only when it is not the one the commands find by themselves.
  const dataDir = settings.dataDir === defaultDataDir() ? "" : ` --data-dir ${settings.dataDir.includes(" ") ? JSON.stringify(settings.dataDir) : settings.dataDir}`;
  const url = controller.url.origin === "http://127.0.0.1:8088" ? "" : ` --url ${controller.url.origin}`;
  process.stderr.write(
    `\nAgent Mesh controller on ${controller.url.href}\n` +
      (settings.oidcIssuer
        ? `Tokens come from ${settings.oidcIssuer}; people sign in at ${controller.url.href}.\n`
        : `Get a token:     TOKEN=$(${selfCommand("token")}${dataDir} --sub alice --role worker)\n` +
          `Then:            curl -H "Authorization: Bearer $TOKEN" ${controller.url.href}tasks\n` +
          `Web page link:   ${selfCommand("login")}${dataDir}${url} --sub dana --role lead\n`) +
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

export async function runToken(argv: string[]) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: agent-mesh token --sub NAME [--role ROLE]… [--ttl 1h] [--data-dir DIR]

Prints a JWT signed with the controller's dev key (made on first use in the data folder),
for local use and tests. A controller configured with MESH_OIDC_ISSUER does not accept it.

Options:
${settingsHelp(tokenSettings)}`);
    return;
  }
  const s = loadSettings(tokenSettings, argv);
  const key = await loadOrCreateDevKey(s.dataDir);
  console.log(await mintDevToken(key, { subject: s.subject, roles: s.roles, ttlSeconds: s.ttl, audience: s.audience, rolesClaim: s.rolesClaim }));
}

export async function runLogin(argv: string[]) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: agent-mesh login --sub NAME [--role ROLE]… [--url URL] [--ttl 15m] [--data-dir DIR]

Prints a one-time link that signs a person in to the controller's web page, where
they follow tasks and decide approvals. Signed with the controller's dev key, so run
it where the controller keeps its data. A controller configured with MESH_OIDC_ISSUER
signs people in through that issuer instead (open its page and sign in there).

Options:
${settingsHelp(loginSettings)}`);
    return;
  }
  const s = loadSettings(loginSettings, argv);
  const key = await loadOrCreateDevKey(s.dataDir);
  const ticket = await mintSignInTicket(key, { subject: s.subject, roles: s.roles, ttlSeconds: s.ttl });
  console.log(signInLink(s.url, ticket));
  process.stderr.write(`Open it in a browser within ${Math.round(s.ttl / 60)} min; it signs in ${s.subject} once.\n`);
}
