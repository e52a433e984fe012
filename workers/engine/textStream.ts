/**
 * @file Stop strings on a token stream. Text that might be the start of a stop string is held back until it
 * either completes the stop (generation ends, the stop text is never shown) or diverges (it is released), so
 * the UI never shows a stop sequence and then takes it back.
 */
export class StopStringFilter {
  private held = '';
  private done = false;

  constructor(private readonly stops: readonly string[]) {}

  get stopped(): boolean {
    return this.done;
  }

  /** Feeds new text; returns the text safe to emit now. After a stop, returns '' forever. */
  push(text: string): string {
    if (this.done) return '';
    const s = this.held + text;
    let cut = -1;
    for (const stop of this.stops) {
      if (!stop) continue;
      const i = s.indexOf(stop);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.done = true;
      this.held = '';
      return s.slice(0, cut);
    }
    // Hold back the longest suffix of s that is a proper prefix of some stop string.
    let keep = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, s.length); k > keep; k--) {
        if (s.endsWith(stop.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    this.held = s.slice(s.length - keep);
    return s.slice(0, s.length - keep);
  }

  /** End of generation without a stop: release what was held. */
  flush(): string {
    const h = this.done ? '' : this.held;
    this.held = '';
    return h;
  }
}

/** Length of the common prefix of two token lists (KV cache reuse across turns). */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
