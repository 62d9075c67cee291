// A Node https server, TLS 1.3 only, for the handshake reference. Usage: tls-server.ts <port> <key.pem> <cert.pem>
import { readFileSync } from 'node:fs';
import https from 'node:https';

const [portArg, keyFile, certFile] = process.argv.slice(2);
const server = https.createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile), minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
  res.end('ok');
});
// Clients close right after the handshake; their resets are expected.
server.on('tlsClientError', () => undefined);
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
