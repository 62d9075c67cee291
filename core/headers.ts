import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { TLSSocket } from 'node:tls';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus legacy ones. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const HOP_LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));

/**
 * Prepares a client's request headers for the backend, in place: drops hop-by-hop
 * headers (and those the Connection header names), keeps `transfer-encoding` (Node
 * frames the outgoing body from it), and sets X-Forwarded-For/-Proto/-Host.
 * `upgrade` keeps the Upgrade and Connection headers a WebSocket handshake needs.
 */
export function prepareRequestHeaders(req: IncomingMessage, upgrade: boolean): void {
  const headers = req.headers;
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const token of connection.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '' && name !== 'upgrade' && name !== 'transfer-encoding' && name !== 'host') delete headers[name];
    }
    if (!upgrade) delete headers.connection;
  }
  if (headers['keep-alive'] !== undefined) delete headers['keep-alive'];
  if (headers['proxy-connection'] !== undefined) delete headers['proxy-connection'];
  if (headers.te !== undefined) delete headers.te;
  if (headers.trailer !== undefined) delete headers.trailer;
  if (!upgrade && headers.upgrade !== undefined) delete headers.upgrade;
  setForwarded(headers, req, upgrade);
}

function setForwarded(headers: IncomingHttpHeaders, req: IncomingMessage, upgrade: boolean): void {
  const remote = req.socket.remoteAddress ?? '';
  const prior = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
  const tls = req.socket instanceof TLSSocket;
  headers['x-forwarded-proto'] = upgrade ? (tls ? 'wss' : 'ws') : tls ? 'https' : 'http';
  if (headers.host !== undefined) headers['x-forwarded-host'] = headers.host;
}

/**
 * The backend's response headers minus hop-by-hop ones, as a flat [name, value, ...]
 * list that keeps the backend's case and repeated headers (Set-Cookie).
 */
export function responseHeaderList(upstream: IncomingMessage, hidden?: readonly string[]): string[] {
  const raw = upstream.rawHeaders;
  let named: string[] | undefined = hidden ? [...hidden] : undefined;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    // Fast path: only names as long as a hop-by-hop one need lower-casing and a look-up.
    if (HOP_LENGTHS.has(name.length) && HOP_BY_HOP.has(name.toLowerCase())) {
      if (name.length === 10 && name.toLowerCase() === 'connection') (named ??= []).push(...raw[i + 1].split(',').map((t) => t.trim().toLowerCase()));
      continue;
    }
    out.push(name, raw[i + 1]);
  }
  if (named === undefined) return out;
  const extra = named;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!extra.includes(out[i].toLowerCase())) kept.push(out[i], out[i + 1]);
  return kept;
}

/** The same as an object, for plugins that edit response headers. */
export function responseHeaderObject(upstream: IncomingMessage, hidden?: readonly string[]): OutgoingHttpHeaders {
  const list = responseHeaderList(upstream, hidden);
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i].toLowerCase();
    const prior = out[name];
    if (prior === undefined) out[name] = list[i + 1];
    else if (Array.isArray(prior)) prior.push(list[i + 1]);
    else out[name] = name === 'set-cookie' ? [String(prior), list[i + 1]] : `${String(prior)}, ${list[i + 1]}`;
  }
  return out;
}
