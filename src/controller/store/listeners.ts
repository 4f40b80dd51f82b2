/** The listeners of one store's change feed. Both engines hand out changes through this. */
import type { Change } from "./store.ts";

export class ChangeListeners {
  readonly #listeners = new Set<(change: Change) => void>();

  get size(): number {
    return this.#listeners.size;
  }

  /** Adds `listener`; the function returned removes it. */
  add(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Tells every listener; one that throws must not stop the others, the writer or the feed. */
  tell(change: Change): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch {
        // The listener's own fault; the others still hear of the change.
      }
    }
  }
}
