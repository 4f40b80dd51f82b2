/** A setting that cannot be used; apart from settings.ts so that main.ts can catch it without loading zod first. */
export class SettingsError extends Error {
  override name = "SettingsError";
}
