/** Layers built from matmul and elementwise ops: Linear, activations, Flatten, Sequential. */
import type { Engine } from '../../device/engine.js';
import { assert, fmtShape } from '../../device/errors.js';
import type { Tensor } from '../../graph/tensor.js';
import { relu, sigmoid, tanh } from '../../kernels/elementwise.js';
import { matmul, type Activation } from '../../kernels/matmul.js';
import { Module } from '../module.js';
import { kaimingUniformDefault, Rng } from '../random.js';

/** A module mapping one tensor to one tensor. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Tensor;
}

export interface LinearOptions {
  bias?: boolean;
  /** Fused into the matmul. */
  activation?: Activation;
  /** Initialisation seed (PyTorch's default scheme: U(±1/√in) for weight and bias). */
  seed?: number;
}

/** y = x·Wᵀ + b with W stored [out, in] as in PyTorch; any leading batch axes. */
export class Linear extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  private readonly activation: Activation;

  constructor(
    engine: Engine,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super(engine);
    const rng = new Rng(opts.seed ?? 0).fork(`linear${inFeatures}x${outFeatures}`);
    this.weight = this.addParameter('weight', engine.tensor(kaimingUniformDefault(rng, outFeatures * inFeatures, inFeatures), [outFeatures, inFeatures]));
    this.bias = opts.bias === false ? null : this.addParameter('bias', engine.tensor(kaimingUniformDefault(rng, outFeatures, inFeatures), [outFeatures]));
    this.activation = opts.activation ?? 'none';
  }

  forward(x: Tensor): Tensor {
    assert(x.shape[x.rank - 1] === this.inFeatures, 'Linear', () => `input ${fmtShape(x.shape)} does not end in ${this.inFeatures} features`);
    const rows = x.rank === 2 ? x : x.reshape([-1, this.inFeatures]);
    const y = matmul(rows, this.weight, { transB: true, activation: this.activation, ...(this.bias ? { bias: this.bias } : {}) });
    if (rows === x) return y;
    rows.dispose();
    const out = y.reshape([...x.shape.slice(0, -1), this.outFeatures]);
    y.dispose();
    return out;
  }
}

export class ReLU extends Layer {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class Sigmoid extends Layer {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Layer {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Flattens every axis after the first: [N, …] → [N, ∏…]. A view. */
export class Flatten extends Layer {
  forward(x: Tensor): Tensor {
    return x.reshape([x.shape[0] ?? 1, -1]);
  }
}

/** Runs layers in order; intermediates are disposed as soon as the next layer has consumed them. */
export class Sequential extends Layer {
  readonly layers: Layer[];

  constructor(engine: Engine, ...layers: Layer[]) {
    super(engine);
    this.layers = layers;
    layers.forEach((l, i) => this.addModule(String(i), l));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) {
      const next = layer.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}
