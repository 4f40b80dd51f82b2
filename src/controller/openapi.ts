/** /openapi.json, made from the route table and the zod schemas the routes validate with. */
import { z } from "zod";
import { ERROR_KINDS } from "../contract/errors.ts";
import { Problem } from "../contract/schemas.ts";
import { VERSION } from "../lib/version.ts";
import type { Api, Endpoint } from "../contract/api.ts";

const schemaOf = (schema: z.ZodType) => z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });

const problemResponse = { description: "An RFC 9457 problem", content: { "application/problem+json": { schema: schemaOf(Problem) } } };

function operation(route: Endpoint) {
  const params = [...route.path.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: "path", required: true, schema: { type: "string" } }));
  const query = route.query ? (schemaOf(route.query) as { properties?: Record<string, object>; required?: string[] }) : {};
  const queryParams = Object.entries(query.properties ?? {}).map(([name, schema]) => ({
    name,
    in: "query",
    required: query.required?.includes(name) ?? false,
    schema,
  }));
  const idempotency =
    route.idempotency === "none"
      ? []
      : [{ name: "Idempotency-Key", in: "header", required: route.idempotency === "required", schema: { type: "string", maxLength: 255 } }];
  return {
    summary: route.summary,
    parameters: [...params, ...queryParams, ...idempotency],
    ...(route.body && { requestBody: { required: true, content: { "application/json": { schema: schemaOf(route.body) } } } }),
    responses: {
      [route.status]: { description: "Success", content: { [route.produces]: { schema: schemaOf(route.response) } } },
      default: problemResponse,
    },
  };
}

export function openApiDocument(api: Api) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of Object.values(api) as Endpoint[]) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Agent Mesh controller",
      version: VERSION,
      description: `Errors are application/problem+json; their types are ${Object.keys(ERROR_KINDS)
        .map((k) => `urn:agent-mesh:problem:${k.replaceAll("_", "-")}`)
        .join(", ")}.`,
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    security: [{ bearer: [] }],
    paths,
  };
}
