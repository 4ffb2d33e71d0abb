/** A container that registers sub-modules under given names (PyTorch Sequential indices with gaps, e.g. `localization.0`, `.3`). */
import type { Engine } from '../device/engine.js';
import { Module } from './module.js';

export class Named extends Module {
  constructor(engine: Engine, entries: readonly (readonly [string, Module])[]) {
    super(engine);
    for (const [name, m] of entries) this.addModule(name, m);
  }
}

/** Channel count scaled by a width multiplier: rounded, at least 1. */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}
