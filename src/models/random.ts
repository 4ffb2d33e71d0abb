/**
 * Seeded random numbers for initialisation: the same seed gives the same model in Node and in a browser.
 * mulberry32 streams, split per tensor by name so adding a layer does not shift the others' values.
 */

export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The stream's position: `new Rng(r.position)` continues where `r` is (saved with mid-epoch checkpoints). */
  get position(): number {
    return this.state;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let r = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  }

  uniform(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }

  /** Standard normal values (Box–Muller). */
  normal(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = 1 - this.next();
      const v = this.next();
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }

  /** An independent stream derived from this seed and a name (FNV-1a of the name). */
  fork(name: string): Rng {
    let h = 0x811c9dc5 ^ this.state;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    return new Rng(h >>> 0);
  }
}

/**
 * PyTorch's default for Linear and Conv weights: kaiming_uniform_(a=√5), i.e. U(−b, b) with b = 1/√fan_in;
 * their biases use the same bound.
 */
export function kaimingUniformDefault(rng: Rng, n: number, fanIn: number): Float32Array {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return rng.uniform(n, -bound, bound);
}
