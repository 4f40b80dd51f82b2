/**
 * The floor: the least a compiled Bun program can do in the MCP server's place.
 * `hello` answers each JSON-RPC request line on stdin by hand (initialize with a
 * server description, anything else with one text item; with HELLO_FETCH set, a
 * tools/call first fetches that URL, as a tool calls its controller); `hello http`
 * serves one small JSON answer on a loopback port and prints its URL. Compiled at
 * bench time.
 */
const mode = process.argv[2] ?? "stdio";

if (mode === "http") {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ status: "ok" }) });
  process.stdout.write(`${server.url.href}\n`);
} else {
  const upstream = process.env.HELLO_FETCH;
  const answer = async (message: { id: number; method: string; params: { protocolVersion?: string } }) => {
    if (message.method === "tools/call" && upstream) await (await fetch(upstream)).json();
    const result =
      message.method === "initialize"
        ? { protocolVersion: message.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "hello", version: "0" } }
        : { content: [{ type: "text", text: "hello" }] };
    process.stdout.write(`${JSON.stringify({ jsonrpc: "2.0", id: message.id, result })}\n`);
  };
  let buffered = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf("\n"); end !== -1; end = buffered.indexOf("\n")) {
      const message = JSON.parse(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      if (message.id !== undefined) void answer(message);
    }
  });
}
