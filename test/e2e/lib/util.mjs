// Small helpers shared by the end-to-end runner: polling, timeouts, logging.

/** Resolves after `ms` milliseconds. */
export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a truthy value (which is returned) or `timeout` ms have passed.
 * Exceptions thrown by `probe` count as "not yet". On timeout throws an Error whose message is
 * `message` plus the last value/exception seen, so failures say what was on the screen.
 */
export async function waitUntil(probe, { timeout = 30_000, interval = 200, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message.split('\n')[0] : error;
    }
    if (Date.now() >= deadline) {
      const seen = last === undefined || last === false || last === null ? '' : ` (last seen: ${short(last)})`;
      throw new Error(`timed out after ${Math.round(timeout / 1000)} s waiting for ${message}${seen}`);
    }
    await delay(interval);
  }
}

/** Rejects with a timeout error if `promise` has not settled after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A one-line, length-limited rendering of any value for error messages. */
export function short(value, max = 300) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const line = String(text).replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** File-name-safe slug. */
export const slug = (text) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);

/** Seconds since `start` (a Date.now() value), one decimal. */
export const since = (start) => ((Date.now() - start) / 1000).toFixed(1);

/** A diagnostic line (TAP-style comment) on stdout. */
export const note = (text) => console.log(`# ${text}`);
