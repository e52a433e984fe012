/**
 * @file A round-robin queue over lanes (one lane per tab): each `shift` serves the next lane that has work and
 * moves it to the back, so a tab with many queued requests cannot starve another tab's single one.
 */
export class FairQueue<T> {
  /** Lanes in service order (a Map keeps insertion order); empty lanes are dropped. */
  private readonly lanes = new Map<string, T[]>();

  get size(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.length;
    return n;
  }

  push(lane: string, item: T): void {
    const l = this.lanes.get(lane);
    if (l) l.push(item);
    else this.lanes.set(lane, [item]);
  }

  /** The oldest item of the lane whose turn it is. */
  shift(): T | undefined {
    for (const [lane, items] of this.lanes) {
      const item = items.shift();
      this.lanes.delete(lane);
      if (items.length > 0) this.lanes.set(lane, items);
      if (item !== undefined) return item;
    }
    return undefined;
  }

  /** Takes out every item `pred` selects (an abort, a closed tab) and returns them in queue order. */
  remove(pred: (item: T) => boolean): T[] {
    const out: T[] = [];
    for (const [lane, items] of [...this.lanes]) {
      const keep = items.filter((x) => !pred(x));
      out.push(...items.filter(pred));
      if (keep.length === 0) this.lanes.delete(lane);
      else this.lanes.set(lane, keep);
    }
    return out;
  }
}
