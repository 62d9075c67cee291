import http, { type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { LbError, isLbError } from '../errors.js';
import type { Target } from '../target-pool.js';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

/** Maps a socket-level error from a backend attempt to an lb error. */
export function classifyUpstreamError(error: unknown, target: Target | undefined): LbError {
  if (isLbError(error)) return error;
  const e = error as NodeJS.ErrnoException;
  const name = target?.id ?? 'unknown';
  const code = e?.code ?? '';
  const detail = `${code ? `${code} ` : ''}${e?.message ?? String(error)}`.trim();
  if (CONNECT_CODES.has(code)) return new LbError('LB_ERR_UPSTREAM_CONNECT', { target: name, detail }, { cause: error });
  if (code.startsWith('HPE_')) return new LbError('LB_ERR_UPSTREAM_BAD_RESPONSE', { target: name, detail }, { cause: error });
  return new LbError('LB_ERR_UPSTREAM_RESET', { target: name, detail }, { cause: error });
}

/** lb's short error body: `503 Service Unavailable (LB_ERR_TARGET_NONE_AVAILABLE)`. */
export function errorBody(status: number, code: string): string {
  return `${status} ${http.STATUS_CODES[status] ?? 'Error'} (${code})\n`;
}

/** lb's error body as JSON, for clients that must tell lb's errors from data (encrypted sessions). */
export function errorJson(status: number, error: LbError): string {
  return JSON.stringify({ error: { code: error.code, status, message: error.message } });
}

/**
 * Answers a request with an lb error: its status, the `lb-error` header naming the
 * code, the short body (JSON when `json`), no caching, Retry-After on 429 and 503,
 * and `Connection: close` when the request body is not all read.
 */
export function sendErrorResponse(res: ServerResponse, error: LbError, requestComplete: boolean, json = false): void {
  const status = error.statusCode || 500;
  const body = json ? errorJson(status, error) : errorBody(status, error.code);
  const headers: http.OutgoingHttpHeaders = {
    'content-type': json ? 'application/json' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'lb-error': error.code,
  };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfter)));
  else if (status === 503 || status === 429) headers['retry-after'] = '1';
  // The request body may be only partly read; close rather than reuse the connection.
  if (!requestComplete) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** Writes an lb error as a raw HTTP/1.1 response on a socket with no ServerResponse (bad requests, refused upgrades), then closes it. */
export function sendRawError(socket: Duplex, status: number, code: string): void {
  if (socket.writable) {
    const body = errorBody(status, code);
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
}
