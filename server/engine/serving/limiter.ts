// Backpressure: at most max_concurrency requests are handled at once. One more is refused at once
// with 429 and a Retry-After, rather than queued behind work the server cannot finish in time; while
// the server drains or has no model ready, requests get 503 with a Retry-After.

/** Seconds a refused client should wait before trying again. */
export const RETRY_AFTER_BUSY_SECONDS = 1;
export const RETRY_AFTER_UNAVAILABLE_SECONDS = 5;

export class Limiter {
  private active = 0;

  /** `max` null: no limit. */
  constructor(private readonly max: number | null) {}

  /** Takes a slot; false when all are taken (answer 429). */
  tryAcquire(): boolean {
    if (this.max !== null && this.active >= this.max) return false;
    this.active++;
    return true;
  }

  release(): void {
    this.active--;
  }

  /** Requests being handled now. */
  get inFlight(): number {
    return this.active;
  }
}
