/**
 * The listener's list of open connections (src/front/conn-list.ts): oldest
 * first whatever is removed in between, and a removed entry keeps no link
 * (what keeps V8 from holding closed sockets through it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnList, type Linked } from '../src/front/conn-list.js';

interface Entry extends Linked<Entry> {
  name: string;
}

const entry = (name: string): Entry => ({ name, prev: undefined, next: undefined });
const names = (list: ConnList<Entry>): string[] => list.toArray().map((e) => e.name);

test('entries stay in the order they came, across removals at the head, the tail and in between', () => {
  const list = new ConnList<Entry>();
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(entry) as [Entry, Entry, Entry, Entry, Entry];
  for (const x of [a, b, c, d]) list.push(x);
  assert.equal(names(list), ['a', 'b', 'c', 'd']);
  list.remove(b);
  assert.equal(names(list), ['a', 'c', 'd']);
  list.remove(a);
  assert.is(list.first, c);
  list.remove(d);
  list.push(e);
  assert.equal(names(list), ['c', 'e']);
  assert.is(list.toArray().length, 2);
  list.remove(c);
  list.remove(e);
  assert.equal(names(list), []);
  assert.is(list.first, undefined);
  assert.is(list.toArray().length, 0);
  list.push(a);
  assert.equal(names(list), ['a'], 'an emptied list takes entries again');
});

test('a removed entry has no links left, and removing it again changes nothing', () => {
  const list = new ConnList<Entry>();
  const [a, b, c] = ['a', 'b', 'c'].map(entry) as [Entry, Entry, Entry];
  for (const x of [a, b, c]) list.push(x);
  list.remove(b);
  assert.is(b.prev, undefined);
  assert.is(b.next, undefined);
  list.remove(b);
  assert.equal(names(list), ['a', 'c']);
  assert.is(list.toArray().length, 2);
  assert.is(a.next, c);
  assert.is(c.prev, a);
});

test('toArray is a copy: removing entries while walking it skips none', () => {
  const list = new ConnList<Entry>();
  for (const name of ['a', 'b', 'c', 'd']) list.push(entry(name));
  const seen: string[] = [];
  for (const x of list.toArray()) {
    seen.push(x.name);
    list.remove(x);
  }
  assert.equal(seen, ['a', 'b', 'c', 'd']);
  assert.is(list.toArray().length, 0);
});

test.run();
