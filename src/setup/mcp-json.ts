/** The `mcpServers` JSON shape that Claude Code and Cursor share: command, args, env; or, for a remote server, url and headers. */
import type { ClientEntry } from "./merge.ts";
import { bearerHeaders, type MeshServer } from "./server.ts";

const STARTED = ["command", "args", "env"];
const REMOTE = ["url", "headers"];

/** `started` and `remote`: the fields that say which form the entry has (Claude Code's `type`). */
export const mcpServersEntry = (server: MeshServer, form: { started?: Record<string, unknown>; remote?: Record<string, unknown> } = {}): ClientEntry =>
  server.remote
    ? {
        at: ["mcpServers", server.name],
        fields: { ...form.remote, url: server.remote.url, ...bearerHeaders(server.remote) },
        envField: "env",
        drop: STARTED,
      }
    : {
        at: ["mcpServers", server.name],
        fields: { ...form.started, command: server.command, args: server.args, env: server.env },
        envField: "env",
        drop: REMOTE,
      };
