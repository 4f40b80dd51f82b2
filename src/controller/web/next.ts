/** Where to go after signing in: a path on this controller only, never another site. */
export function safeNext(next: string | null | undefined): string {
  // "//host" and "/\host" are read by browsers as another host.
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
