/**
 * Train / held-out splits by identity for datasets on disk, where identities are names (a file or clip folder's
 * name up to its first '_' or '-'). Names like `s0…s29` or `subject001…200` differ in their last characters only;
 * plain FNV-1a leaves those differences in a few low bits, and thresholding its value clustered such names (60%
 * or 0% held out depending on the seed). Here each name is hashed with FNV-1a, mixed with the seed and passed
 * through MurmurHash3's 32-bit finaliser (every input bit reaches every output bit), and the split is made by rank:
 * the identities with the smallest hashes are held out, round(fraction · n) of them, at least one and never all.
 */

/** MurmurHash3's fmix32: a bijection on 32-bit words with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A well-mixed 32-bit hash of a name under a seed: FNV-1a over the UTF-16 code units, then seeded fmix32. */
export function identityHash(name: string, seed: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return fmix32((h ^ fmix32((seed >>> 0) + 0x9e3779b9)) >>> 0);
}

export interface IdentitySplit {
  train: Set<string>;
  test: Set<string>;
}

/**
 * Splits distinct identities into training and held-out sets. Throws when no split is possible: fewer than two
 * identities, or a fraction outside (0, 1).
 */
export function splitIdentities(identities: Iterable<string>, testFraction: number, seed: number, where = 'split'): IdentitySplit {
  const ids = [...new Set(identities)];
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`${where}: the held-out fraction must lie strictly between 0 and 1, got ${testFraction}`);
  if (ids.length < 2) {
    throw new Error(`${where}: found ${ids.length} identit${ids.length === 1 ? 'y' : 'ies'} (${ids.join(', ') || 'none'}); a train/held-out split by identity needs at least 2 (an identity is a clip or file name up to its first '_' or '-')`);
  }
  const ranked = ids.map((id) => ({ id, h: identityHash(id, seed) })).sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : 1));
  const nTest = Math.min(ids.length - 1, Math.max(1, Math.round(testFraction * ids.length)));
  return { test: new Set(ranked.slice(0, nTest).map((r) => r.id)), train: new Set(ranked.slice(nTest).map((r) => r.id)) };
}
