/** The controller client that client settings describe (apart from them, so that reading settings does not load the contract). */
import { ControllerClient } from "./controller-client.ts";
import { credentialsFrom, type ClientSettings } from "./client-settings.ts";
import type { Logger } from "../lib/log.ts";
import type { TokenSource } from "./token-source.ts";

/** The controller client the settings describe, with `tokens` when they were read already. */
export function connect(settings: ClientSettings, log: Logger, tokens: TokenSource = credentialsFrom(settings)): ControllerClient {
  return new ControllerClient({
    baseUrl: settings.controllerUrl,
    tokens,
    retries: settings.retries,
    timeoutMs: settings.timeoutSeconds * 1000,
    budgetMs: settings.budgetSeconds * 1000,
    log,
  });
}
