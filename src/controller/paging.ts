/**
 * Keyset pages: opaque cursors over a row's position (`seq`), and pages that know
 * whether more follow and stay within a byte budget however large their rows are.
 */
import { MeshError } from "../contract/errors.ts";
import { LIMITS } from "../contract/schemas.ts";

export const encodeCursor = (seq: number) => Buffer.from(`s${seq}`).toString("base64url");
export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const match = /^s(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!match) throw new MeshError("invalid", "cursor is not one this controller issued", [{ field: "cursor", message: "unknown cursor" }]);
  return Number(match[1]);
}

/** The first rows whose JSON fits in `bytes` (at least one): a page of big rows ends early, with a cursor. */
function withinBytes<T>(rows: T[], bytes: number): T[] {
  let used = 0;
  const fits = rows.findIndex((row, i) => (used += Buffer.byteLength(JSON.stringify(row))) > bytes && i > 0);
  return fits < 0 ? rows : rows.slice(0, fits);
}

/**
 * One page out of keyset `rows` read with one row more than `limit`, so whether more
 * follow is known rather than guessed: at most `limit` rows and LIMITS.pageBytes of
 * JSON, and a cursor to the rest that is null when there is no rest.
 */
export function pageOf<T extends { seq: number }>(rows: T[], limit: number): { rows: T[]; next_cursor: string | null } {
  const page = withinBytes(rows.slice(0, limit), LIMITS.pageBytes);
  const last = page.at(-1);
  return { rows: page, next_cursor: last && page.length < rows.length ? encodeCursor(last.seq) : null };
}
