// What each convolution pass is given: the layer's shapes (to choose a variant) and the tensors
// (to launch it). Shared by the variant tables and their launchers.
import type { Tensor } from '../tensor.js';

/** A layer: input [N, C, H, W], weight [Cout, C, k, k], zero padding. */
export interface ConvProblem {
  x: readonly number[];
  w: readonly number[];
  pad: number;
}

export interface ConvForwardArgs {
  x: Tensor;
  w: Tensor;
  /** Null: no bias. */
  b: Tensor | null;
  y: Tensor;
  relu: boolean;
  pad: number;
}
export interface ConvGradInputArgs {
  dy: Tensor;
  w: Tensor;
  dx: Tensor;
  pad: number;
}
export interface ConvGradWeightArgs {
  dy: Tensor;
  x: Tensor;
  dw: Tensor;
  /** Filled with the bias gradient when given. */
  db: Tensor | null;
  pad: number;
}
