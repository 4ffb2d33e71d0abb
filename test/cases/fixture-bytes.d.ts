// Binary fixtures imported `with { type: 'bytes' }`: esbuild (the browser bundle) inlines a Uint8Array; Vite
// (vitest in Node) hands back the file's root-relative URL instead (tfjs-import.cases.ts reads that from disk).
declare module '*.bin' {
  const bytes: Uint8Array | string;
  export default bytes;
}
declare module '*.png' {
  const bytes: Uint8Array | string;
  export default bytes;
}
