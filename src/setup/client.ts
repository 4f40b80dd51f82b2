/** What `agent-mesh setup` needs to know about one MCP client. */
import type { ConfigFormat } from "./formats.ts";
import type { ClientEntry } from "./merge.ts";
import type { MeshServer } from "./server.ts";

export type SetupClient = {
  title: string;
  /** The file --write changes unless --config names another. */
  defaultPath: () => string;
  /** The key in that file the entry goes under. */
  section: string;
  /** One line for --help: which file that is, and the others --config may name. */
  about: string;
  format: ConfigFormat;
  entry: (server: MeshServer) => ClientEntry;
  /** Anything else worth saying once the entry is written to (or printed for) the file at `path`. */
  advice: (server: MeshServer, path: string) => string[];
};
