// "The original way": a tiny node:http server that generates PU1/PR1 (RSA-OAEP-2048, WebCrypto)
// on every handshake, then runs the same hybrid steps and messages as lb's handshake plugin.
// Usage: original-server.ts <port> <identity.pem>
import http from 'node:http';
import { toB64u } from '../../plugins/handshake/protocol/bytes.js';
import { KEY_BYTES, SESSION_ID_BYTES, OFFER_ID_BYTES, acceptBinding, answerAad, encodeAccept, encodeOffer, offerSignedBytes, parseAnswer, type Offer } from '../../plugins/handshake/protocol/messages.js';
import { randomBytes, sign } from '../../plugins/handshake/protocol/primitives.js';
import { suiteOf } from '../../plugins/handshake/protocol/suites.js';
import { readIdentity, signingKey } from '../../plugins/handshake/identity.js';

const [portArg, identityFile] = process.argv.slice(2);
const c = globalThis.crypto;
const suite = suiteOf('rsa-oaep-2048')!;
const identity = readIdentity(identityFile);
const key = await signingKey(c, identity);
const offers = new Map<string, { offer: Offer; privateKey: CryptoKey }>();
const sessions = new Map<string, Uint8Array>();

async function handle(req: http.IncomingMessage, body: string): Promise<[number, string]> {
  if (req.method === 'GET') {
    // The cost this design pays per handshake: a fresh RSA pair, made while the client waits.
    const pair = await suite.generatePair(c);
    const offerId = randomBytes(c, OFFER_ID_BYTES);
    const expires = Date.now() + 30_000;
    const signature = await sign(c, key, offerSignedBytes(suite.id, offerId, expires, pair.publicBytes));
    const offer: Offer = { suite, offerId, pu1: pair.publicBytes, expires, identity: identity.spki, signature };
    offers.set(toB64u(offerId), { offer, privateKey: pair.privateKey });
    return [200, encodeOffer(offer)];
  }
  const parsed = parseAnswer(body);
  if (!parsed.ok) return [400, parsed.reason];
  const open = offers.get(toB64u(parsed.value.offerId));
  offers.delete(toB64u(parsed.value.offerId));
  if (!open || open.offer.expires < Date.now()) return [404, 'unknown offer'];
  const pu2 = await suite.openPu2(c, open.privateKey, open.offer.pu1, parsed.value.sealedPu2, await answerAad(c, open.offer));
  if (!pu2) return [400, 'PU2 does not open'];
  const sessionId = randomBytes(c, SESSION_ID_BYTES);
  const k = randomBytes(c, KEY_BYTES);
  const wrappedK = await suite.wrapK(c, open.privateKey, pu2, k, await acceptBinding(c, open.offer, parsed.value.sealedPu2, sessionId));
  sessions.set(toB64u(sessionId), k);
  return [200, encodeAccept({ sessionId, expires: Date.now() + 900_000, wrappedK })];
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    handle(req, Buffer.concat(chunks).toString('utf8')).then(
      ([status, text]) => res.writeHead(status, { 'content-type': 'application/json' }).end(text),
      (e: Error) => res.writeHead(500).end(e.message),
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
