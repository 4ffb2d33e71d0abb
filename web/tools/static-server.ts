/**
 * A localhost HTTP server for pages that use WebGPU (which needs a secure context: localhost counts). Serves
 * in-memory files first (bundles built by esbuild) and then files under the given roots. Node only.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webm': 'video/webm',
  '.mp4': 'video/mp4',
  '.svg': 'image/svg+xml',
};

export interface StaticServer {
  url: string;
  server: Server;
  /** Adds or replaces an in-memory file (path from the site root, e.g. '/app.js'). */
  put(path: string, body: string | Uint8Array, type?: string): void;
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** URL prefix → folder on disk, e.g. { '/models/': 'node_modules/@vladmandic/human/models' }. */
  mounts?: Record<string, string>;
  port?: number;
  host?: string;
}

export async function startStaticServer(o: StaticServerOptions = {}): Promise<StaticServer> {
  const memory = new Map<string, { body: string | Uint8Array; type: string }>();
  const mounts = Object.entries(o.mounts ?? {}).map(([prefix, dir]) => [prefix, resolve(dir)] as const).sort((a, b) => b[0].length - a[0].length);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const key = path.endsWith('/') ? `${path}index.html` : path;
    const mem = memory.get(key);
    // No caching: a rebuilt bundle must reach the next reload.
    const headers = (type: string) => ({ 'content-type': type, 'cache-control': 'no-store' });
    if (mem) {
      res.writeHead(200, headers(mem.type)).end(mem.body);
      return;
    }
    for (const [prefix, dir] of mounts) {
      if (!key.startsWith(prefix)) continue;
      const file = normalize(join(dir, key.slice(prefix.length)));
      if (file !== dir && !file.startsWith(dir + sep)) break;
      try {
        if (!statSync(file).isFile()) break;
      } catch {
        break;
      }
      res.writeHead(200, headers(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream'));
      createReadStream(file).pipe(res);
      return;
    }
    res.writeHead(404, headers('text/plain')).end(`not found: ${path}`);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', ok);
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${o.host === '0.0.0.0' ? '127.0.0.1' : (o.host ?? '127.0.0.1')}:${addr.port}/`,
    server,
    put(path, body, type) {
      memory.set(path, { body, type: type ?? TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream' });
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
