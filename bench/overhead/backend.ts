// A tiny backend: one node:http server per process, answering every request with the same small body.
// Usage: backend.ts <port> <name>
import http from 'node:http';
import { BACKEND_BODY } from './fixture.js';

const [portArg, name = 'backend'] = process.argv.slice(2);
const BODY = Buffer.from(BACKEND_BODY);

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length, 'x-backend': name });
  res.end(BODY);
});
// Longer than any proxy's idle keep-alive, so a proxy never reuses a connection the backend is closing.
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
