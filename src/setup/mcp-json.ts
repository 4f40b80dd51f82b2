/** The `mcpServers` JSON shape that Claude Code and Cursor share: command, args, env. */
import type { ClientEntry } from "./merge.ts";
import type { MeshServer } from "./server.ts";

export const mcpServersEntry = (server: MeshServer, extra: Record<string, unknown> = {}): ClientEntry => ({
  at: ["mcpServers", server.name],
  fields: { ...extra, command: server.command, args: server.args, env: server.env },
  envField: "env",
});
