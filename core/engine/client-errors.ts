import { LbError } from '../errors.js';

/** What lb's own limits on a client's request are, for messages. */
export interface ClientLimits {
  maxHeaderBytes: number;
  headerMs: number;
}

// Node's parser errors (llhttp's HPE_* codes) by what the client got wrong. Each class
// has one stable code; the parser's own words go in the detail of the log line.
const FRAMING = new Set(['HPE_INVALID_TRANSFER_ENCODING', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_CONTENT_LENGTH']);
const CHUNKS = new Set(['HPE_INVALID_CHUNK_SIZE', 'HPE_STRICT', 'HPE_CR_EXPECTED', 'HPE_LF_EXPECTED', 'HPE_CHUNK_EXTENSIONS_OVERFLOW']);
const HEADERS = new Set(['HPE_INVALID_HEADER_TOKEN', 'HPE_INVALID_CONSTANT', 'HPE_UNEXPECTED_SPACE']);

/** Maps an error Node raised while parsing a client's request to an lb error with a status. */
export function clientParseError(error: NodeJS.ErrnoException, limits: ClientLimits): LbError {
  const code = error.code ?? '';
  const detail = `${code} ${error.message}`.trim();
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new LbError('LB_ERR_CLIENT_HEADER_TIMEOUT', { timeoutMs: limits.headerMs });
  if (code === 'HPE_HEADER_OVERFLOW') return new LbError('LB_ERR_CLIENT_HEADERS_TOO_LARGE', { limit: limits.maxHeaderBytes });
  if (FRAMING.has(code)) return new LbError('LB_ERR_CLIENT_BAD_FRAMING', { detail });
  if (CHUNKS.has(code)) return new LbError('LB_ERR_CLIENT_BAD_CHUNK', { detail });
  // The client half-closed before its body was complete: it may still read an answer.
  if (code === 'HPE_INVALID_EOF_STATE') return new LbError('LB_ERR_CLIENT_INCOMPLETE_BODY', { detail });
  if (HEADERS.has(code)) return new LbError('LB_ERR_CLIENT_BAD_HEADER', { detail });
  if (code === 'HPE_INVALID_VERSION') return new LbError('LB_ERR_CLIENT_HTTP_VERSION', { detail });
  return new LbError('LB_ERR_CLIENT_BAD_REQUEST', { detail });
}
