// The bench backend: POST answers with the request body, once all of it arrived; GET /bytes/<n> with n bytes.
// Usage: echo-backend.ts <port>
import http from 'node:http';
import { patternBytes } from './fixture.js';

const downloads = new Map<number, Buffer>();

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    // GET /bytes/<n>: n bytes, the same for every request of a size.
    const n = /^\/bytes\/(\d+)$/.exec(req.url ?? '')?.[1];
    const size = n === undefined ? 2 : Math.min(Number(n), 64 << 20);
    let body = downloads.get(size);
    if (!body) downloads.set(size, (body = n === undefined ? Buffer.from('ok') : patternBytes(size)));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
    return;
  }
  // Read the whole body, then answer: lb stops forwarding a body once the backend answers (an early response).
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
});
// Longer than any proxy's idle keep-alive, so a proxy never reuses a connection the backend is closing.
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
