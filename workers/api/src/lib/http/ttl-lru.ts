// A bounded least-recently-used map whose entries expire at a time given when they are set. Lives in
// the isolate's memory: the Worker's cache of facts that D1 holds (API keys, ownership grants,
// finished jobs), so that a warm isolate answers them without a round trip.

export class TtlLru<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number; weight: number }>();
  readonly #capacity: number;
  readonly #maxWeight: number;
  readonly #weigh: (value: V) => number;
  #weight = 0;

  /**
   * At most `capacity` entries and, when `weigh` is given, at most `maxWeight` in total (bytes, say);
   * a value heavier than `maxWeight` on its own is not kept.
   */
  constructor(
    capacity: number,
    options: { maxWeight: number; weigh: (value: V) => number } | undefined = undefined,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`'capacity' must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
    this.#maxWeight = options?.maxWeight ?? Number.POSITIVE_INFINITY;
    this.#weigh = options?.weigh ?? (() => 0);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value under `key` unless absent or expired at `now`; a hit becomes the most recently used. */
  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) {
      this.#weight -= entry.weight;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAt` (epoch ms); evicts least recently used entries while over a bound. */
  set(key: string, value: V, expiresAt: number): void {
    this.delete(key);
    const weight = this.#weigh(value);
    if (weight > this.#maxWeight) return;
    this.#entries.set(key, { value, expiresAt, weight });
    this.#weight += weight;
    while (this.#entries.size > this.#capacity || this.#weight > this.#maxWeight) {
      this.delete(this.#entries.keys().next().value as string);
    }
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#weight -= entry.weight;
  }

  clear(): void {
    this.#entries.clear();
    this.#weight = 0;
  }
}
