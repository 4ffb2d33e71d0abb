// WGSL sources are imported as text: esbuild's `text` loader in bundles, a Vite plugin under vitest.
declare module '*.wgsl' {
  const source: string;
  export default source;
}
