/**
 * Puts a server entry into a client's config, keeping everything else. Both YAML and
 * JSON files are edited through the `yaml` package's Document, whose edits leave
 * comments and the other entries in place, so one merge serves every client.
 */
import { isMap, type Document } from "yaml";
import { SettingsError } from "../lib/settings.ts";
import { isPlaceholder, MESH_ENV, type MeshEnvName, type MeshServer } from "./server.ts";

export type ClientEntry = {
  /** Where the entry goes, e.g. ["extensions", "agent-mesh"]. */
  at: string[];
  /** The entry's fields in the order a new entry shows them. */
  fields: Record<string, unknown>;
  /** The field holding the environment map ("envs" for Goose, "env" for JSON clients). */
  envField: string;
  /** Fields a person may have tuned (a timeout, say): set only when absent. */
  keep?: string[];
  /** Fields of the entry's other form (a remote server's url, a started one's command), removed when it changes form. */
  drop?: string[];
  /**
   * Fields that replace some of `fields` while a variable is still a placeholder, so the
   * client does not start a server bound to fail (Goose: `enabled: false`), and what to tell the person.
   */
  whileIncomplete?: { fields: Record<string, unknown>; note: string };
};

/** What a merge did: whether the entry was there before, and the variables left as placeholders. */
export type Merged = { existed: boolean; missing: MeshEnvName[] };

/** A value a person (or an earlier run) put there, which a run without a value keeps. */
const isReal = (value: unknown) => typeof value === "string" && value !== "" && !isPlaceholder(value);

/** Merges `entry` for `server` into `doc`. */
export function mergeEntry(doc: Document, entry: ClientEntry, server: MeshServer): Merged {
  if (doc.contents === null) doc.contents = doc.createNode({});
  for (let depth = 0; depth < entry.at.length; depth++) {
    const node = depth === 0 ? doc.contents : doc.getIn(entry.at.slice(0, depth), true);
    if (node !== undefined && !isMap(node)) {
      throw new SettingsError(`${depth === 0 ? "the top level" : entry.at.slice(0, depth).join(".")} is not a mapping`);
    }
  }
  const entryNode = doc.getIn(entry.at, true);
  const existed = isMap(entryNode);
  if (entryNode !== undefined && !existed) doc.setIn(entry.at, doc.createNode({}));
  const envPath = [...entry.at, entry.envField];
  if (doc.hasIn(envPath) && !isMap(doc.getIn(envPath, true))) doc.setIn(envPath, doc.createNode({}));

  if (existed) for (const field of entry.drop ?? []) doc.deleteIn([...entry.at, field]);
  const names = Object.keys(server.env) as MeshEnvName[];
  // Rerunning without a value must not replace a real one with a placeholder.
  const missing = names.filter((name) => server.env[name] === undefined && !isReal(doc.getIn([...envPath, name])));
  const fields = missing.length > 0 && entry.whileIncomplete ? { ...entry.fields, ...entry.whileIncomplete.fields } : entry.fields;
  for (const [field, value] of Object.entries(fields)) {
    if (field === entry.envField) {
      for (const name of names) {
        const given = server.env[name];
        if (given !== undefined || missing.includes(name)) doc.setIn([...envPath, name], given ?? MESH_ENV[name].placeholder);
      }
    } else if (!(entry.keep?.includes(field) && doc.hasIn([...entry.at, field]))) {
      doc.setIn([...entry.at, field], typeof value === "object" && value !== null ? doc.createNode(value) : value);
    }
  }
  return { existed, missing };
}
