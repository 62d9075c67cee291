/**
 * The SDK's typed error. `code` is a stable `LB_ERR_*` code: lb's own (from the
 * `lb-error` header and JSON body of its error responses, `fromServer` true) or the
 * client's (a pin that does not match, a record that does not authenticate…).
 */
export class LbClientError extends Error {
  readonly code: string;
  /** The HTTP status of lb's error response; 0 for errors found by the client. */
  readonly status: number;
  /** Seconds to wait before retrying, from Retry-After. */
  readonly retryAfter: number | undefined;
  readonly fromServer: boolean;

  constructor(code: string, message: string, status = 0, retryAfter?: number) {
    super(`${message} (${code})`);
    this.name = 'LbClientError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.fromServer = status !== 0;
  }
}

/** Codes the client itself raises (documented in docs/protocol.md). */
export const CLIENT_CODES = {
  PIN_MISMATCH: 'LB_ERR_CLIENT_PIN_MISMATCH',
  BAD_SIGNATURE: 'LB_ERR_CLIENT_BAD_SIGNATURE',
  OFFER_EXPIRED: 'LB_ERR_CLIENT_OFFER_EXPIRED',
  BAD_MESSAGE: 'LB_ERR_CLIENT_BAD_MESSAGE',
  HANDSHAKE_FAILED: 'LB_ERR_CLIENT_HANDSHAKE_FAILED',
  BAD_RESPONSE: 'LB_ERR_CLIENT_BAD_RESPONSE',
  REDIRECT: 'LB_ERR_CLIENT_REDIRECT',
} as const;

/** The LbClientError of an lb error response (one with an `lb-error` header). */
export async function errorOf(res: Response): Promise<LbClientError> {
  const code = res.headers.get('lb-error') ?? 'LB_ERR_UNKNOWN';
  let message = `${res.status} ${res.statusText}`;
  try {
    const text = await res.text();
    try {
      const parsed = JSON.parse(text) as { error?: { message?: unknown } };
      if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    } catch {
      if (text.trim()) message = text.trim().slice(0, 500);
    }
  } catch {
    // The body is lost; the status and code say enough.
  }
  const after = Number(res.headers.get('retry-after'));
  return new LbClientError(code, message, res.status, Number.isFinite(after) && after > 0 ? after : undefined);
}
