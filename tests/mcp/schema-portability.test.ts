/**
 * Every tool's input and output schema, as a host lists them from the compiled binary
 * through the official SDK client, uses only what strict clients read the same way:
 * the constructs the MCP Inspector's `--strict` schema check warns about do not appear.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Agent } from "./support/agent.ts";
import { startMesh, type Mesh } from "./support/mesh.ts";

let mesh: Mesh;
let agent: Agent;
beforeAll(async () => {
  mesh = await startMesh();
  agent = await mesh.agent("alice", ["dev"]);
});
afterAll(() => mesh.stop());

type Schema = Record<string, unknown>;

/** Keywords whose value is one subschema, a list of them, or a map of them. */
const ONE = [
  "items",
  "contains",
  "not",
  "propertyNames",
  "if",
  "then",
  "else",
  "additionalProperties",
  "unevaluatedProperties",
  "additionalItems",
  "unevaluatedItems",
  "contentSchema",
];
const LIST = ["allOf", "anyOf", "oneOf", "prefixItems"];
const MAP = ["properties", "patternProperties", "dependentSchemas", "dependencies", "$defs", "definitions"];
/** Where `true` / `false` is the usual spelling, not a schema in disguise. */
const BOOLEAN_OK = new Set(["additionalProperties", "unevaluatedProperties", "additionalItems", "unevaluatedItems"]);
/** Keywords that constrain a value; a schema with none of them accepts anything. */
const CONSTRAINS = new Set([
  ...["type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "format"],
  ...[
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
  ],
  ...[
    "required",
    "dependentRequired",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "items",
    "prefixItems",
    "contains",
    "additionalItems",
    "unevaluatedItems",
    "properties",
  ],
  ...[
    "patternProperties",
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "dependentSchemas",
    "dependencies",
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
  ],
]);

/** What the Inspector's portability check reports, as `path: problem`. */
function unportable(node: unknown, path: string, keyword?: string): string[] {
  if (typeof node === "boolean") return keyword && BOOLEAN_OK.has(keyword) ? [] : [`${path}: bare ${node} where a schema is expected`];
  if (typeof node !== "object" || node === null || Array.isArray(node)) return [];
  const s = node as Schema;
  const found: string[] = [];
  if (Array.isArray(s.type)) found.push(`${path}: type is a list ${JSON.stringify(s.type)}`);
  if (typeof s.$ref === "string" && !s.$ref.startsWith("#")) found.push(`${path}: $ref outside the document`);
  const constrains = Object.keys(s).some((k) => CONSTRAINS.has(k)) || ("if" in s && ("then" in s || "else" in s));
  if (!constrains && keyword !== "not") found.push(`${path}: constrains nothing (accepts any value)`);
  for (const k of ONE) if (k in s) found.push(...unportable(s[k], `${path}.${k}`, k));
  for (const k of LIST) if (Array.isArray(s[k])) (s[k] as unknown[]).forEach((sub, i) => found.push(...unportable(sub, `${path}.${k}[${i}]`, k)));
  for (const k of MAP) {
    if (typeof s[k] === "object" && s[k] !== null)
      for (const [name, sub] of Object.entries(s[k] as Schema)) found.push(...unportable(sub, `${path}.${k}.${name}`, k));
  }
  return found;
}

test("no tool schema has a construct that strict clients warn about", async () => {
  const { tools } = await agent.client.listTools();
  expect(tools.length).toBe(16);
  const findings = tools.flatMap((tool) => [
    ...unportable(tool.inputSchema, `${tool.name}.inputSchema`),
    ...(tool.outputSchema ? unportable(tool.outputSchema, `${tool.name}.outputSchema`) : []),
  ]);
  expect(findings).toEqual([]);
});

test("the check itself finds what it looks for", () => {
  expect(unportable({ type: "object", additionalProperties: {} }, "s")).toEqual(["s.additionalProperties: constrains nothing (accepts any value)"]);
  expect(unportable({ type: ["string", "null"] }, "s")).toEqual(['s: type is a list ["string","null"]']);
  expect(unportable({ type: "object", additionalProperties: true, properties: { a: true } }, "s")).toEqual([
    "s.properties.a: bare true where a schema is expected",
  ]);
});
