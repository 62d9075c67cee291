// The bench backend: serves each document at /<id> with Content-Length, one process.
// Usage: backend.ts <port>
import http from 'node:http';
import { benchDocuments } from './documents.js';

const docs = new Map(benchDocuments().map((d) => [`/${d.id}`, d]));
const server = http.createServer((req, res) => {
  const doc = docs.get(req.url ?? '');
  if (!doc) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': doc.contentType, 'content-length': doc.body.length });
  res.end(doc.body);
});
// Longer than any proxy's idle keep-alive, so a proxy never reuses a connection the backend is closing.
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
