// Finds the YAML node a path points at, so a problem found in the plain value
// can be reported at the line and column where the person wrote it.

import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { PathSegment } from './problems.ts';

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

/**
 * The node at `path` (or, with at='key', the key naming its last segment). When
 * the path leaves the document (a missing key, a merged value) this is the
 * deepest node that exists, which is where the missing thing belongs.
 */
export function locateNode(doc: Document, path: readonly PathSegment[], at: 'key' | 'value' = 'value'): Node | undefined {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => keyText(item.key) === String(segment));
      if (pair === undefined) break;
      if (last && at === 'key' && pair.key !== null && typeof pair.key === 'object') return pair.key as Node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined || item === null) break;
      node = item;
    } else break;
  }
  return node as Node | undefined;
}

/** 1-based line and column of a node's start; the document's start when it has no range. */
export function nodePosition(node: Node | undefined | null, lineCounter: LineCounter, fallbackOffset: number): { line: number; col: number } {
  const offset = node?.range?.[0] ?? fallbackOffset;
  return lineCounter.linePos(offset);
}
