/**
 * One MCP server session: the mesh tools over one controller client, with logs that
 * also reach the client as MCP notifications once it asks for them (logging/setLevel).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SetLevelRequestSchema, type LoggingLevel } from "@modelcontextprotocol/sdk/types.js";
import { LOG_LEVELS, type Logger, type LogLevel } from "../lib/log.ts";
import { VERSION } from "../lib/version.ts";
import { TOOLS } from "../tools/index.ts";
import type { ClientFor } from "../tools/tool.ts";
import { LeaseKeeper } from "./lease-keeper.ts";

export type ServerDeps = { clientFor: ClientFor; log: Logger; leaseSeconds?: number };

const INSTRUCTIONS = `Agent Mesh hands work between agents and people through a shared controller.
To delegate: send_task (or notify, or request_approval), then follow it with fetch_status(task_id, wait_seconds); request_approval(wait_seconds) can wait for the decision itself.
To serve a role: check_inbox(wait_seconds), claim_task, do the work, then complete_task(result) or fail_task(reason). While this session lives it keeps your claims' leases alive; report_progress tells the sender how far along you are.
When a task lacks something, ask_sender(question) instead of failing it; a sender answers with reply_to_task, and either side may add_task_note. To split work, send_task(parent_task_id) from a task you hold, then wait for the subtasks with fetch_status on it.
To approve: list_approvals, read the task with fetch_status, then decide_approval.
To let your person approve: ask_person_to_decide shows them the approval as a form (if this client shows forms) and records their answer.
A failed call says what happened and what to do next; quote its trace id when asking for help.`;

/** MCP's levels, least to most severe; ours map onto four of them. */
const MCP_LEVELS: readonly LoggingLevel[] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
const AS_MCP: Record<LogLevel, LoggingLevel> = { debug: "debug", info: "info", warn: "warning", error: "error" };

/** Writes to `base` and, at or above the level the client set, sends notifications/message. */
function forwardLogs(base: Logger, server: McpServer): Logger {
  let threshold: number | undefined;
  server.server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    threshold = MCP_LEVELS.indexOf(request.params.level);
    return {};
  });
  const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    base[level](msg, fields);
    const mcpLevel = AS_MCP[level];
    if (threshold === undefined || MCP_LEVELS.indexOf(mcpLevel) < threshold || !server.isConnected()) return;
    server.sendLoggingMessage({ level: mcpLevel, logger: "agent-mesh", data: { msg, ...fields } }).catch(() => {});
  };
  return Object.fromEntries(LOG_LEVELS.map((level) => [level, at(level)])) as Logger;
}

export function createMcpServer(deps: ServerDeps): McpServer {
  const server = new McpServer({ name: "agent-mesh", title: "Agent Mesh", version: VERSION }, { capabilities: { logging: {} }, instructions: INSTRUCTIONS });
  const log = forwardLogs(deps.log, server);
  const leases = new LeaseKeeper(log, deps.leaseSeconds);
  // The session's end ends its renewals; whoever else waits for the close is told after.
  server.server.onclose = () => leases.stop();
  for (const tool of TOOLS) tool.register(server, { clientFor: deps.clientFor, log, leases, session: crypto.randomUUID() });
  return server;
}
