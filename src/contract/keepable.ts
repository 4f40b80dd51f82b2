/**
 * What the mesh cannot keep as it was sent: text holding U+0000 (PostgreSQL refuses it)
 * or a lone UTF-16 surrogate (not Unicode; stored, it would become U+FFFD), and numbers
 * past a double's range (JSON writes them as null). Every way in refuses these with the
 * field named, on every engine, rather than change them without a word.
 */
import { MeshError, type FieldError } from "./errors.ts";

/** Why `text` cannot be kept as it is, or null when it can. */
function textProblem(text: string): string | null {
  if (text.includes("\0")) return "contains the character U+0000, which cannot be stored";
  if (!text.isWellFormed()) return "contains a lone UTF-16 surrogate, which is not Unicode text; send the whole character";
  return null;
}

/** A Unicode string without U+0000: what `textProblem` accepts. */
export const isKeepableText = (text: string) => textProblem(text) === null;

const NOT_FINITE = "is a number too large to keep (beyond ±1.8e308); send it as a string";

/**
 * The first value in `value` (a parsed JSON document, or what is about to become one)
 * that cannot be kept as sent: its dotted path from `prefix` and why. Keys count as
 * text too. Walks without recursion, so any depth is safe.
 */
export function unkeepable(value: unknown, prefix = ""): FieldError | null {
  const pending: [path: string, value: unknown][] = [[prefix, value]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [path, v] = next;
    const field = path || "(body)";
    if (typeof v === "string") {
      const problem = textProblem(v);
      if (problem) return { field, message: problem };
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) return { field, message: NOT_FINITE };
    } else if (v !== null && typeof v === "object") {
      for (const [key, child] of Object.entries(v).reverse()) {
        const at = path ? `${path}.${key}` : key;
        const problem = textProblem(key);
        if (problem) return { field: at, message: `its name ${problem}` };
        pending.push([at, child]);
      }
    }
  }
  return null;
}

/** Throws a 422 naming the first value in `value` (called `name`) that cannot be kept; `where` says whose it is. */
export function refuseUnkeepable(value: unknown, where: string, name = ""): void {
  const problem = unkeepable(value, name);
  if (problem) throw new MeshError("invalid", `${where}: ${problem.field} ${problem.message}.`, [problem]);
}
