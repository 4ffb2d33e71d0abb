export default function setup(): void {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
}
