/** `agent-mesh mcp` (also `agent-mesh` alone): serve the mesh tools over stdio, or over HTTP with --http. */
import { createLogger } from "../lib/log.ts";
import { SettingsError } from "../lib/settings-error.ts";
import { isLoopback } from "./http-guard.ts";
import type { McpSettings } from "./settings.ts";

const help = (settingsHelp: string) => `Usage: agent-mesh [mcp] [--http [--port P] [--host H]] [options]

Serves the Agent Mesh tools to an MCP client (Goose, Claude Code, Cursor …): send_task,
request_approval, notify, fetch_status, check_inbox, claim_task, complete_task, fail_task,
cancel_task, list_approvals, decide_approval and ask_person_to_decide. Each call goes to the controller at
CONTROLLER_URL as the identity in MESH_JWT_TOKEN (or from OIDC client credentials).

Without --http it speaks MCP on stdin/stdout, as agent hosts start it; logs go to stderr.
With --http it serves Streamable HTTP at http://HOST:PORT/mcp.

Options (a flag wins over its environment variable; a .env file in the working folder is read too):
${settingsHelp}`;

function checked(s: McpSettings, argv: string[]): McpSettings {
  const httpOnly = argv.find((a) => /^--(port|host)(=|$)/.test(a));
  if (httpOnly && !s.http)
    throw new SettingsError(`${httpOnly.split("=")[0]} applies to --http only; add --http to serve MCP over HTTP, or leave it out for stdio`);
  if (s.http && !isLoopback(s.host) && !s.mcpToken) {
    throw new SettingsError(`--host ${s.host} is reachable from other machines: set MESH_MCP_TOKEN so that only your clients can act as this agent`);
  }
  return s;
}

export async function run(argv: string[]): Promise<void> {
  // Over stdio, stdin is read before anything else loads: the compiled binary answers initialize and tools/list meanwhile.
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  const stdio = wantsHelp || argv.includes("--http") ? undefined : (await import("./stdio.ts")).listenStdio();
  await stdio?.paused;
  const [{ loadSettings, settingsHelp }, { mcpSettings }, { credentialsFrom }] = await Promise.all([
    import("../lib/settings.ts"),
    import("./settings.ts"),
    import("../client/client-settings.ts"),
  ]);
  if (wantsHelp) {
    console.log(help(settingsHelp(mcpSettings)));
    return;
  }
  const settings = checked(loadSettings(mcpSettings, argv), argv);
  const log = createLogger(settings.logLevel ?? (settings.http ? "info" : "warn"));
  // Credentials are checked at start; the client (and the contract it loads) waits until a tool needs it.
  const tokens = credentialsFrom(settings);
  const connected = async () => {
    const { connect } = await import("../client/connect.ts");
    const client = connect(settings, log, tokens);
    return { clientFor: () => client, log, leaseSeconds: settings.leaseSeconds };
  };

  if (!stdio) {
    const deps = await connected();
    const { createMcpServer } = await import("./server.ts");
    const { serveHttp } = await import("./http.ts");
    const server = await serveHttp({
      host: settings.host,
      port: settings.port,
      token: settings.mcpToken,
      extraHosts: settings.allowedHosts,
      maxSessions: settings.maxSessions,
      log,
      newServer: () => createMcpServer(deps),
    });
    log.info("mcp server listening", { url: server.url.href, controller: settings.controllerUrl, auth: tokens.origin });
    process.stderr.write(
      `\nAgent Mesh MCP server on ${server.url.href}\nIts tools call ${settings.controllerUrl} with ${tokens.origin}.\nStop with Ctrl-C.\n\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => void server.stop().then(resolve);
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    return;
  }
  // An idle session does not hold the SDK and the tools' schemas until a message needs them.
  await stdio.needed;
  const [{ createMcpServer }, deps] = await Promise.all([import("./server.ts"), connected()]);
  await stdio.serve(createMcpServer(deps), log);
}
