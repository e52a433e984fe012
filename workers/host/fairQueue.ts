/**
 * @file A fair queue over lanes (one lane per tab): each `shift` serves the lane with work that was served
 * least recently (a new lane first), oldest item first within a lane. So tabs take turns: a tab with many
 * queued requests cannot starve another tab's single one, and a tab that just had its turn waits behind a tab
 * whose request arrived meanwhile.
 */
interface Lane<T> {
  readonly items: T[];
  /** Service counter at this lane's last turn; 0 = never served. */
  lastServed: number;
}

export class FairQueue<T> {
  private readonly lanes = new Map<string, Lane<T>>();
  private served = 0;

  get size(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.items.length;
    return n;
  }

  push(lane: string, item: T): void {
    const l = this.lanes.get(lane);
    if (l) l.items.push(item);
    else this.lanes.set(lane, { items: [item], lastServed: 0 });
  }

  /** The oldest item of the lane whose turn it is. */
  shift(): T | undefined {
    let next: Lane<T> | undefined;
    for (const l of this.lanes.values()) {
      if (l.items.length > 0 && (next === undefined || l.lastServed < next.lastServed)) next = l;
    }
    if (!next) return undefined;
    next.lastServed = ++this.served;
    return next.items.shift();
  }

  /** Forgets a lane (its tab closed). */
  dropLane(lane: string): void {
    this.lanes.delete(lane);
  }

  /** Takes out every item `pred` selects (an abort, a closed tab) and returns them in queue order. */
  remove(pred: (item: T) => boolean): T[] {
    const out: T[] = [];
    for (const l of this.lanes.values()) {
      const keep = l.items.filter((x) => !pred(x));
      out.push(...l.items.filter(pred));
      l.items.splice(0, l.items.length, ...keep);
    }
    return out;
  }
}
