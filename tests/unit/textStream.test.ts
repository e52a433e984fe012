import { describe, expect, it } from 'vitest';
import { StopStringFilter, commonPrefix } from '../../workers/engine/textStream.ts';

function run(stops: string[], chunks: string[]): { out: string; stopped: boolean; pieces: string[] } {
  const f = new StopStringFilter(stops);
  const pieces = chunks.map((c) => f.push(c));
  pieces.push(f.flush());
  return { out: pieces.join(''), stopped: f.stopped, pieces };
}

describe('StopStringFilter', () => {
  it('passes text through without stops', () => {
    expect(run([], ['a', 'b', 'c']).out).toBe('abc');
  });
  it('cuts at a stop string split across chunks and never emits it', () => {
    const r = run(['###'], ['Hello #', '#', '# world']);
    expect(r.out).toBe('Hello ');
    expect(r.stopped).toBe(true);
    expect(r.pieces.join('')).not.toContain('#');
  });
  it('releases held text when the candidate diverges', () => {
    const r = run(['END'], ['the EN', 'D', '']);
    expect(r.out).toBe('the ');
    const r2 = run(['END'], ['the EN', 'ough']);
    expect(r2.out).toBe('the ENough');
    expect(r2.stopped).toBe(false);
  });
  it('picks the earliest of several stops', () => {
    expect(run(['b', 'cd'], ['acdb']).out).toBe('a');
  });
  it('holds back a partial match at the end until flush', () => {
    const f = new StopStringFilter(['User:']);
    expect(f.push('Hi Us')).toBe('Hi ');
    expect(f.flush()).toBe('Us');
  });
});

describe('commonPrefix', () => {
  it('counts shared leading tokens', () => {
    expect(commonPrefix([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(commonPrefix([], [1])).toBe(0);
    expect(commonPrefix([5, 6], [5, 6])).toBe(2);
  });
});
