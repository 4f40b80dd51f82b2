/**
 * A lean MCP client over Streamable HTTP for the bench: raw JSON-RPC in a POST, the
 * answer read from the JSON or the one SSE message that carries it, no schema checks,
 * the same as the stdio frames client does for stdio.
 */
export type McpHttpClient = { callTool: (name: string, args: Record<string, unknown>) => Promise<unknown> };

/** Opens a session at `url` as the bearer of `token`. */
export async function mcpHttpClient(url: string, token: string): Promise<McpHttpClient> {
  let nextId = 1;
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  const post = async (message: Record<string, unknown>) => {
    const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", ...message }) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${text}`);
    return { response, text };
  };
  const answerOf = (text: string) => {
    const data = text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)?.[1];
    const answer = JSON.parse(data ?? "null");
    if (answer?.error) throw new Error(JSON.stringify(answer.error));
    return answer?.result;
  };
  const { response, text } = await post({
    id: nextId++,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "bench", version: "0" } },
  });
  answerOf(text);
  headers["mcp-session-id"] = response.headers.get("mcp-session-id") ?? "";
  headers["mcp-protocol-version"] = "2025-11-25";
  await post({ method: "notifications/initialized" });
  return { callTool: async (name, args) => answerOf((await post({ id: nextId++, method: "tools/call", params: { name, arguments: args } })).text) };
}
