// The reference: http-proxy-3 on its native path, round robin, one keep-alive agent.
// Usage: bare-http-proxy-3.ts <port> <backend-url>...
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const [port, ...targets] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const proxy = createProxyServer({ agent });
proxy.on('error', (_error, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});
let next = 0;
const server = http.createServer((req, res) => proxy.web(req, res, { target: targets[next++ % targets.length] }));
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
});
