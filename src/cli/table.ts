/** Plain-text tables for a terminal: a header row and columns padded to fit. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** `2026-11-24T07:26:09.245Z` → `2026-11-24 07:26`: enough to tell tasks apart at a glance. */
export const shortTime = (iso: string | null) => (iso ? iso.slice(0, 16).replace("T", " ") : "");
