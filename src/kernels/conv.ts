/**
 * conv2d: NHWC activations, HWIO weights ([kH, kW, C_in / groups, C_out]), any kernel size, stride,
 * padding (symmetric, per side, TensorFlow's 'same', 'valid'), dilation and groups (depthwise included),
 * with an optional fused bias, residual (same shape as the output, added before the activation) and ReLU.
 *
 * Dense and grouped convolutions run as an implicit GEMM (no im2col buffer), depthwise ones as a direct
 * kernel; the kernel variant (textures with or without subgroups, or storage buffers) is chosen per device
 * by `engine.variants` (see conv-gpu.ts). PyTorch weights (O × I × kH × kW) load through
 * `torchConvWeightToHWIO`.
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import permuteWgsl from '../../shaders/conv2d_permute_weight.wgsl';
import { checkF32, checkShapeIs, convGeometry, isDepthwise, outShape, type ConvGeometry, type ConvGeometryOptions } from './conv-geometry.js';
import { conv2dDepthwiseKernel, conv2dKernel, type ConvProblem } from './conv-gpu.js';
import { conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight } from './conv-backward.js';
import { conv2dReference, torchWeightToHWIOReference } from './conv-reference.js';
import { binaryOp } from './elementwise.js';
import { defineOp, type Op, type OpDecl, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

export type { ConvGeometry, ConvGeometryOptions, Padding, Pair } from './conv-geometry.js';

export type ConvActivation = 'none' | 'relu';

export interface Conv2dOptions<T = Tensor> extends ConvGeometryOptions {
  /** [C_out], added to every output pixel. */
  bias?: T | undefined;
  activation?: ConvActivation;
  /** Same shape as the output; added after the bias, before the activation (a ResNet block's shortcut). */
  residual?: T | undefined;
}

/** The options that are not tensors (what the op's shape check and both implementations share). */
export type Conv2dFusedOptions = ConvGeometryOptions & { activation?: ConvActivation };

export interface ConvPlan extends Plan {
  geometry: ConvGeometry;
  relu: boolean;
}

const OP = 'conv2d';

/** dy where the fused ReLU's output was positive, else 0. */
const reluMask = binaryOp('conv2dReluMask', 'select(0.0, x, y > 0.0)', (dy, y) => (y > 0 ? dy : 0));

function geometryOptions(o: Conv2dFusedOptions = {}): ConvGeometryOptions {
  const out: ConvGeometryOptions = {};
  if (o.stride !== undefined) out.stride = o.stride;
  if (o.padding !== undefined) out.padding = o.padding;
  if (o.dilation !== undefined) out.dilation = o.dilation;
  if (o.groups !== undefined) out.groups = o.groups;
  return out;
}

type FusedArgs = [x: Tensor, w: Tensor, bias: Tensor | undefined, residual: Tensor | undefined, options?: Conv2dFusedOptions];

/** conv2d with the bias and residual as positional arguments (the form tests and autograd address). */
export const conv2dFused = defineOp<FusedArgs, ConvPlan>({
  name: OP,
  check(x, w, bias, residual, options = {}) {
    checkF32(OP, ['input', x], ['weights', w]);
    const geometry = convGeometry(OP, x.shape, w.shape, options);
    const act = options.activation ?? 'none';
    assert(act === 'none' || act === 'relu', OP, () => `activation must be 'none' or 'relu', got ${JSON.stringify(act)}`);
    const shape = outShape(geometry);
    if (bias) {
      checkF32(OP, ['bias', bias]);
      checkShapeIs(OP, 'bias', bias, [geometry.cout], `the weights' output channels (weights ${fmtShape(w.shape)}):`);
    }
    if (residual) {
      checkF32(OP, ['residual', residual]);
      checkShapeIs(OP, 'residual', residual, shape, `the output of input ${fmtShape(x.shape)} * weights ${fmtShape(w.shape)}:`);
    }
    return { shape, dtype: 'f32', geometry, relu: act === 'relu' };
  },
  gpu(plan, x, w, bias, residual) {
    const g = plan.geometry;
    const problem: ConvProblem = { kind: 'forward', g, x, w, bias, residual, relu: plan.relu };
    const kernel = isDepthwise(g) ? conv2dDepthwiseKernel : conv2dKernel;
    return x.engine.variants.pick(kernel).run(x.engine, problem) as Tensor;
  },
  cpu(plan, x, w, bias, residual) {
    return conv2dReference(plan.geometry, x, w, bias, residual, plan.relu);
  },
  backward: {
    save: ([x, w, , , options], out) => (options?.activation === 'relu' ? [x, w, out] : [x, w]),
    grad({ plan, args, saved, needsGrad }, dy) {
      const [x, w, y] = saved as [Tensor, Tensor, Tensor | undefined];
      const opts = geometryOptions(args[4]);
      const dyM = plan.relu ? reluMask(dy, y!) : dy;
      const grads: (Tensor | null)[] = [
        needsGrad[0] ? conv2dBackwardInput(dyM, w, x.shape, opts) : null,
        needsGrad[1] ? conv2dBackwardWeight(x, dyM, w.shape, opts) : null,
      ];
      let k = 2;
      if (args[2]) grads.push(needsGrad[k++] ? conv2dBackwardBias(dyM) : null);
      if (args[3]) grads.push(needsGrad[k++] ? dyM.detach() : null);
      if (dyM !== dy) dyM.dispose();
      return grads;
    },
  },
});

export interface Conv2d {
  (x: Tensor, w: Tensor, options?: Conv2dOptions): Tensor;
  readonly opName: string;
  cpu(x: HostTensor, w: HostTensor, options?: Conv2dOptions<HostTensor>): HostTensor;
  readonly decl: OpDecl<FusedArgs, ConvPlan>;
}

/**
 * 2-D convolution of x [N, H, W, C_in] with w [kH, kW, C_in / groups, C_out] → [N, H_out, W_out, C_out].
 * Autograd differentiates the fused form through the op's backward rule. Callers of conv2dBackward*
 * directly must, with `activation: 'relu'`, pass dy already masked by the output's sign (the ReLU's
 * gradient), and take dy itself as the residual's gradient.
 */
export const conv2d: Conv2d = Object.assign((x: Tensor, w: Tensor, options: Conv2dOptions = {}) => conv2dFused(x, w, options.bias, options.residual, fusedOptions(options)), {
  opName: OP,
  cpu: (x: HostTensor, w: HostTensor, options: Conv2dOptions<HostTensor> = {}) => conv2dFused.cpu(x, w, options.bias, options.residual, fusedOptions(options)),
  decl: conv2dFused.decl,
});

/** The options without tensors (autograd counts tensors inside an options object as inputs). */
function fusedOptions(o: Conv2dOptions<unknown>): Conv2dFusedOptions {
  const out: Conv2dFusedOptions = geometryOptions(o);
  if (o.activation !== undefined) out.activation = o.activation;
  return out;
}

// ------------------------------------------------------------------------------- PyTorch weights

const permuteKernel = { name: 'conv2d_permute_weight', code: permuteWgsl };

/** PyTorch's convolution weights [O, I, kH, kW] → HWIO [kH, kW, I, O]. */
export const torchConvWeightToHWIO: Op<[w: Tensor], Plan> = defineOp<[w: Tensor], Plan>({
  name: 'torchConvWeightToHWIO',
  check(w) {
    checkF32('torchConvWeightToHWIO', ['weights', w]);
    assert(w.shape.length === 4, 'torchConvWeightToHWIO', () => `expects PyTorch weights [O, I, kH, kW], got ${fmtShape(w.shape)}`);
    const [o, i, kh, kw] = w.shape as [number, number, number, number];
    return { shape: [kh, kw, i, o], dtype: 'f32' };
  },
  gpu(plan, w) {
    const engine = w.engine;
    const out = engine.empty(plan.shape);
    const [o, i, kh, kw] = w.shape as [number, number, number, number];
    engine.runtime.dispatch({
      kernel: permuteKernel,
      label: `torchConvWeightToHWIO ${fmtShape(w.shape)}`,
      uniforms: new Uniforms().u32(o, i, kh, kw, out.size, 0, 0, 0),
      bindings: [w.binding(), out.binding()],
      grid: Math.ceil(out.size / 256),
    });
    return out;
  },
  cpu(_plan, w) {
    return torchWeightToHWIOReference(w);
  },
});
