// The ceiling for Node's HTTP stack: a node:http server piping to http.request, round robin, keep-alive agent.
// Usage: bare-node-http.ts <port> <backend-url>...
import http from 'node:http';

const [port, ...urls] = process.argv.slice(2);
const targets = urls.map((u) => new URL(u));
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let next = 0;
const server = http.createServer((req, res) => {
  const target = targets[next++ % targets.length];
  const upstream = http.request(
    { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  req.pipe(upstream);
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
});
