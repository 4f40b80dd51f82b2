/**
 * What the MCP tools need from the mesh: calls to the API's endpoints by name. The
 * controller client makes them over HTTP (an agent's own `agent-mesh mcp`); the
 * controller's remote MCP makes them in-process for the caller of each request. Both
 * answer the same Outcome values, so a tool reads and words them alike.
 */
import type { Api, RequestOf, ResponseOf } from "../contract/api.ts";
import type { CallOptions, JsonEndpointName, Outcome } from "./controller-client.ts";
import type { TokenSource } from "./token-source.ts";

export type MeshClient = {
  /** The controller's address as its users reach it: links to the web page start here. */
  readonly baseUrl: string;
  /** Where the caller's credential comes from, for advice when it is refused. */
  readonly tokens: Pick<TokenSource, "origin">;
  call<N extends JsonEndpointName>(name: N, request: RequestOf<Api[N]>, o?: CallOptions): Promise<Outcome<ResponseOf<Api[N]>>>;
};
