/**
 * What both sides of A2A v1.0 (its JSON-RPC binding, ProtoJSON) share: the controller
 * answering as an A2A agent, and the worker calling a remote one.
 */
import { z } from "zod";
import { JsonObject } from "./schemas.ts";

export const A2A_VERSION = "1.0";

/** A part holds exactly one of text, raw bytes, a URL or JSON data. */
export const Part = z.object({
  text: z.string().optional(),
  raw: z.string().optional(),
  url: z.string().optional(),
  data: z.unknown().optional(),
  mediaType: z.string().optional(),
  filename: z.string().optional(),
  metadata: JsonObject.optional(),
});
export type Part = z.infer<typeof Part>;
