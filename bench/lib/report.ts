/** What each section hands back: tables for people, data for the JSON, targets met or missed. */
export type Table = { title: string; head: string[]; rows: string[][]; notes?: string[] };
export type Target = { what: string; met: boolean; detail: string };
export type SectionResult = { tables: Table[]; data: Record<string, unknown>; targets: Target[] };

export function markdown(table: Table): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `**${table.title}**`,
    "",
    line(table.head),
    line(table.head.map((_, i) => (i === 0 ? "---" : "---:"))),
    ...table.rows.map(line),
    ...(table.notes?.length ? ["", ...table.notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
}

export const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)} ms`;
export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
export const rate = (perSecond: number) => `${Math.round(perSecond).toLocaleString("en-US")}/s`;
export const count = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n));
export const verdict = (met: boolean) => (met ? "✅" : "❌");
