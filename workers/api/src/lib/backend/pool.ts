// This isolate's view of the backend hosts and the choice of one for each call: power of two choices
// (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing") scored by the calls this
// isolate has in flight to a host plus the queue depth the host last reported, skipping hosts that
// recently refused work (connection refused, 503, 429) for a short cool-down.

/** How long a host that refused a connection rests; a 503 or 429 rests for its Retry-After instead. */
export const COOL_DOWN_MS = 5_000;
/** The longest rest a Retry-After can ask for: a host must not drop out of the pool for long. */
export const MAX_COOL_DOWN_MS = 30_000;
/** A reported queue depth older than this no longer counts: the host has moved on since. */
export const DEPTH_TTL_MS = 5_000;

interface HostState {
  inFlight: number;
  depth: number;
  depthAt: number;
  coolUntil: number;
}

export class PoolBalancer {
  readonly #hosts = new Map<string, HostState>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  #host(url: string): HostState {
    let state = this.#hosts.get(url);
    if (!state) {
      state = { inFlight: 0, depth: 0, depthAt: Number.NEGATIVE_INFINITY, coolUntil: 0 };
      this.#hosts.set(url, state);
    }
    return state;
  }

  /** The load this isolate attributes to `url`: its calls in flight plus the host's recent queue depth. */
  score(url: string): number {
    const host = this.#host(url);
    const depth = this.now() - host.depthAt <= DEPTH_TTL_MS ? host.depth : 0;
    return host.inFlight + depth;
  }

  /** Whether `url` is resting after a refusal. */
  cooling(url: string): boolean {
    return this.#host(url).coolUntil > this.now();
  }

  /**
   * The host for the next attempt among `candidates` not yet `tried`; null when none is left. Hosts at
   * rest are passed over while another is available; when all rest, the one whose rest ends first is
   * tried anyway, so a pool of one behaves as a single backend always did.
   */
  choose(candidates: readonly string[], tried: ReadonlySet<string> = new Set()): string | null {
    const left = candidates.filter((url) => !tried.has(url));
    if (left.length === 0) return null;
    const now = this.now();
    const awake = left.filter((url) => this.#host(url).coolUntil <= now);
    if (awake.length === 0) {
      return left.reduce((best, url) =>
        this.#host(url).coolUntil < this.#host(best).coolUntil ? url : best,
      );
    }
    if (awake.length === 1) return awake[0]!;
    const i = Math.floor(this.random() * awake.length);
    let j = Math.floor(this.random() * (awake.length - 1));
    if (j >= i) j++;
    const a = awake[i]!;
    const b = awake[j]!;
    return this.score(b) < this.score(a) ? b : a;
  }

  /** Counts a call to `url` as in flight; the returned function ends it (once). */
  started(url: string): () => void {
    const host = this.#host(url);
    host.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      host.inFlight--;
    };
  }

  /** Records the queue depth an answer of `url` reported (null: the answer carried none). */
  reportDepth(url: string, depth: number | null): void {
    if (depth === null) return;
    const host = this.#host(url);
    host.depth = depth;
    host.depthAt = this.now();
  }

  /** Rests `url` for `ms` (clamped to [0, MAX_COOL_DOWN_MS]). */
  coolDown(url: string, ms: number): void {
    const host = this.#host(url);
    host.coolUntil = Math.max(host.coolUntil, this.now() + Math.min(Math.max(ms, 0), MAX_COOL_DOWN_MS));
  }
}
