/**
 * Packs a kernel's uniform block following WGSL's uniform layout: scalars take 4 bytes, vec4s and arrays of
 * vec4 align to 16; the block is padded to 16. Shapes and strides travel here, so one pipeline serves every
 * shape.
 */
export class Uniforms {
  private readonly view: DataView;
  private offset = 0;

  constructor(capacityBytes = 256) {
    this.view = new DataView(new ArrayBuffer(capacityBytes));
  }

  u32(...values: number[]): this {
    for (const v of values) {
      this.view.setUint32(this.offset, v >>> 0, true);
      this.offset += 4;
    }
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) {
      this.view.setInt32(this.offset, v | 0, true);
      this.offset += 4;
    }
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) {
      this.view.setFloat32(this.offset, v, true);
      this.offset += 4;
    }
    return this;
  }

  /** `array<vec4<u32>, ceil(n/4)>` holding `values`, zero-padded: shapes and strides of up to 8 axes. */
  u32Array(values: readonly number[], slots: number): this {
    this.align16();
    for (let i = 0; i < slots * 4; i++) this.view.setUint32(this.offset + 4 * i, (values[i] ?? 0) >>> 0, true);
    this.offset += slots * 16;
    return this;
  }

  align16(): this {
    this.offset = Math.ceil(this.offset / 16) * 16;
    return this;
  }

  /** The packed bytes, padded to 16. */
  bytes(): Uint8Array {
    this.align16();
    return new Uint8Array(this.view.buffer, 0, Math.max(16, this.offset));
  }
}
