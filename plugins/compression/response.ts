import type { Logger, ResponseContext } from '../../core/index.js';
import { compressionErrors } from './errors.js';
import { checkEncodedPrefix, compressWhole, createCompressor, decodableCoding, IdleFlush, ONE_SHOT_MAX, type EngineSettings } from './engines.js';
import { addVary, chooseCoding, hasNoTransform, mediaTypeOf, parseAcceptEncoding, weakenEtag, type Choice } from './negotiate.js';
import { peek, peekedBody } from './peek.js';
import type { Policies, Policy } from './policy.js';

/** Settings of the response side, normalised once in apply(). */
export interface ResponseSettings {
  readonly policies: Policies;
  readonly engines: EngineSettings;
  readonly sizeWaitMs: number;
  readonly flushIdleMs: number;
  readonly checkUpstreamEncoding: boolean;
  readonly logger: Logger;
}

const NO_CHOICE: Choice = { coding: undefined, identityRefused: false };

function bodyless(method: string | undefined, status: number): boolean {
  return method === 'HEAD' || status < 200 || status === 204 || status === 304 || status === 206;
}

/** The declared length, or undefined when absent or unreadable. */
function declaredLength(value: string | string[] | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(Array.isArray(value) ? value[0] : value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function truncate(value: string): string {
  return value.length > 120 ? `${value.slice(0, 117)}...` : value;
}

/**
 * Builds the transformResponse tap: decides whether to compress (never for bodyless
 * responses, already encoded ones, no-transform, other types, small bodies, or
 * encrypted sessions the BREACH switch covers), negotiates the coding, rewrites the
 * headers and adds the streaming stage.
 */
export function createResponseTransform(s: ResponseSettings): (response: ResponseContext) => Promise<ResponseContext> {
  const { policies, engines, logger } = s;

  const choose = (response: ResponseContext, offered: Policy['encodings']): Choice => {
    const header = response.request.req.headers['accept-encoding'];
    if (header === undefined) return NO_CHOICE;
    const accepted = parseAcceptEncoding(header);
    if (accepted === undefined) {
      logger.info('malformed Accept-Encoding; sending the response uncompressed', { value: truncate(header), path: response.request.req.url });
      return NO_CHOICE;
    }
    return chooseCoding(accepted, offered);
  };

  const checkEncoded = async (response: ResponseContext, contentEncoding: string): Promise<void> => {
    const coding = decodableCoding(contentEncoding);
    if (coding === undefined || contentEncoding.includes(',')) return;
    const peeked = await peek(response.upstream, 1, s.sizeWaitMs);
    if (peeked.bytes > 0) {
      const complaint = checkEncodedPrefix(coding, Buffer.concat(peeked.chunks));
      if (complaint !== undefined) {
        throw compressionErrors.create('LB_ERR_COMPRESSION_UPSTREAM_MISLABELED', {
          target: response.request.target?.id ?? 'unknown', encoding: contentEncoding, detail: complaint,
        });
      }
    }
    if (peeked.ended) response.body = peekedBody(peeked);
  };

  return async (response) => {
    const req = response.request.req;
    const headers = response.headers;
    if (bodyless(req.method, response.statusCode)) return response;
    const contentEncoding = headers['content-encoding'];
    if (contentEncoding !== undefined && String(contentEncoding).trim().toLowerCase() !== 'identity') {
      if (s.checkUpstreamEncoding) await checkEncoded(response, String(contentEncoding));
      return response;
    }
    const p = policies.match(req.url);
    if (!p.compress || hasNoTransform(headers['cache-control']) || headers['content-range'] !== undefined) return response;
    const mediaType = mediaTypeOf(headers['content-type']);
    if (mediaType === undefined || !p.types.matches(mediaType)) return response;
    if (response.request.cipher !== undefined && (!p.compressEncrypted || p.encryptedSkip.matches(mediaType))) return response;

    // From here the outcome depends on Accept-Encoding, whatever this client sent.
    headers.vary = addVary(headers.vary);
    const choice = choose(response, p.encodings);
    const coding = choice.coding;
    if (coding === undefined) return response;
    const length = declaredLength(headers['content-length']);
    if (length !== undefined && length < p.minSize && !choice.identityRefused) return response;
    // Bodies changed by an earlier stage are only ever streamed: their declared length no longer holds.
    const pristine = response.stages === undefined && response.body === undefined;

    let whole: Buffer | undefined;
    if (length === undefined && pristine && p.minSize > 0 && !choice.identityRefused) {
      const peeked = await peek(response.upstream, p.minSize, s.sizeWaitMs);
      if (peeked.ended) {
        whole = peekedBody(peeked);
        if (whole.length < p.minSize) {
          response.body = whole;
          return response;
        }
      }
    }

    headers['content-encoding'] = coding;
    delete headers['content-length'];
    delete headers['accept-ranges'];
    if (headers.etag !== undefined) headers.etag = weakenEtag(headers.etag);

    if (whole === undefined && length !== undefined && length <= ONE_SHOT_MAX && pristine) whole = await response.readBody(ONE_SHOT_MAX);
    if (whole !== undefined) {
      response.body = await compressWhole(coding, engines, whole);
      return response;
    }
    const plan = createCompressor(coding, engines, length, length === undefined, s.flushIdleMs === 0);
    if (plan.flushable && s.flushIdleMs > 0) response.addStage(new IdleFlush(plan.flushable, s.flushIdleMs));
    for (const stage of plan.stages) response.addStage(stage);
    return response;
  };
}
