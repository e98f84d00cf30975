/**
 * A tiny static file server for the e2e test: 127.0.0.1 on a free port, cross-origin isolation headers (as any
 * server of the built page should send), and a count of requests per path (to see what the browser cached).
 */
import { createReadStream, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.yaml': 'text/yaml; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

export interface StaticServer {
  url: string;
  /** Requests per URL path so far. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

/** Serves `mounts` (URL prefix → folder), e.g. `{ '/': dist, '/models/': dir }`; the longest prefix wins. */
export async function serveStatic(mounts: Record<string, string>): Promise<StaticServer> {
  const requests = new Map<string, number>();
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.set(path, (requests.get(path) ?? 0) + 1);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    const prefix = prefixes.find((p) => path.startsWith(p));
    const root = prefix === undefined ? undefined : mounts[prefix];
    const file = root && normalize(join(root, path.slice(prefix!.length) || 'index.html'));
    let size = -1;
    try {
      if (file && file.startsWith(normalize(root) + sep) && statSync(file).isFile()) size = statSync(file).size;
    } catch {
      size = -1;
    }
    if (!file || size < 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
