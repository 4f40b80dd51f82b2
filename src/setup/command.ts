/** `agent-mesh setup goose|claude|cursor`: the MCP server entry for a client, printed or merged into its config. */
import { isAbsolute } from "node:path";
import { Document } from "yaml";
import { loadSettings, SettingsError, settingsHelp } from "../lib/settings.ts";
import { claude } from "./claude.ts";
import type { SetupClient } from "./client.ts";
import { readConfigFile, writeConfigFile } from "./config-file.ts";
import { cursor } from "./cursor.ts";
import { goose } from "./goose.ts";
import { mergeEntry, type Merged } from "./merge.ts";
import { MESH_ENV, meshServer, type MeshServer } from "./server.ts";
import { setupSettings } from "./settings.ts";

const CLIENTS: Record<string, SetupClient> = { goose, claude, cursor };

const help =
  () => `Usage: agent-mesh setup ${Object.keys(CLIENTS).join("|")} [--write] [--config PATH] [--controller-url URL | --remote URL] [--token TOKEN] [--name NAME]

Prints the entry that has an MCP client start this agent-mesh as its MCP server
(agent-mesh mcp, with CONTROLLER_URL and MESH_JWT_TOKEN set), or with --remote, connect
to the controller's own /mcp over HTTP with the token as a header (nothing to install).
With --write, merges it into the client's config file instead, keeping everything
already there; the file as it was is kept beside it as FILE.bak. Running it again
updates the entry.

Clients, and the file --write changes here:
${Object.entries(CLIENTS)
  .map(([name, c]) => `  ${name.padEnd(8)}${c.defaultPath()}\n  ${"".padEnd(8)}${c.about}`)
  .join("\n")}

Options (a flag wins over its environment variable; a .env file in the working folder is read too):
${settingsHelp(setupSettings)}`;

export async function run(argv: string[]) {
  const [clientName, ...rest] = argv;
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(help());
    return;
  }
  const client = clientName === undefined ? undefined : CLIENTS[clientName];
  if (!client) {
    const named = clientName === undefined ? "name a client" : `unknown client "${clientName}"`;
    throw new SettingsError(`${named}: agent-mesh setup ${Object.keys(CLIENTS).join("|")} (--help says more)`);
  }
  const settings = loadSettings(setupSettings, rest);
  if (settings.remote && rest.some((a) => /^--controller-url(=|$)/.test(a)))
    throw new SettingsError("--controller-url is for a started agent-mesh; with --remote, its URL is where the controller is");
  const server = meshServer(settings);
  const path = settings.config ?? client.defaultPath();
  const notes: string[] = [];

  if (!settings.write) {
    const doc = new Document();
    const entry = client.entry(server);
    const merged = mergeEntry(doc, entry, server);
    process.stdout.write(client.format.stringify(doc, ""));
    notes.push(`Add this to ${client.section} in ${path}, or rerun with --write to merge it in.`, ...toFillIn(merged, entry.whileIncomplete?.note));
  } else {
    const before = readConfigFile(path);
    const entry = client.entry(server);
    const after = mergeInto(client, path, before ?? "", server);
    if (after.text === before) {
      notes.push(`${path} already has this entry; nothing written.`);
    } else {
      const { written, backup } = writeConfigFile(path, after.text);
      const did = after.merged.existed ? `Updated ${server.name} in` : `Added ${server.name} to`;
      notes.push(`${did} ${written}${backup ? ` (the file as it was: ${backup})` : ""}.`);
    }
    notes.push(...toFillIn(after.merged, entry.whileIncomplete?.note, path));
  }
  if (server.remote && server.remote.token === undefined)
    notes.push(
      `No --token: ${client.title} signs in by OAuth, which needs the controller to name an identity provider (MESH_OIDC_ISSUER). With its dev key, rerun with --token "$(agent-mesh token --sub NAME --role ROLE --ttl 30d)".`,
    );
  if (!server.remote && !isAbsolute(server.command))
    notes.push(`"agent-mesh" is not on your PATH yet: install the binary (npm run build makes dist/agent-mesh) so ${client.title} can start it.`);
  notes.push(...client.advice(server, path));
  process.stderr.write(`${notes.join("\n")}\n`);
}

function mergeInto(client: SetupClient, path: string, text: string, server: MeshServer) {
  try {
    const doc = client.format.parse(text);
    const merged = mergeEntry(doc, client.entry(server), server);
    return { text: client.format.stringify(doc, text), merged };
  } catch (error) {
    if (error instanceof SettingsError) throw new SettingsError(`${path}: ${error.message}; nothing was written`);
    throw error;
  }
}

const toFillIn = ({ missing }: Merged, whileIncomplete: string | undefined, file?: string) =>
  missing.length === 0
    ? []
    : [
        `Still to fill in${file ? ` (in ${file})` : ""}:`,
        ...missing.map((name) => `  ${name.padEnd(16)}${MESH_ENV[name].howTo}`),
        ...(whileIncomplete ? [whileIncomplete] : []),
      ];
