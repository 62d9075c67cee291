import { defineErrors } from '../../core/index.js';

/** The compression plugin's error codes (listed in docs/errors.md). */
export const compressionErrors = defineErrors({
  LB_ERR_COMPRESSION_BOMB: {
    message: 'Request body expands past {limit} when decompressed: {detail}',
    statusCode: 413, source: 'downstream', retryable: 'never',
    meaning: 'A compressed request body decompressed past request.maxSize, or past request.maxRatio once larger than request.ratioAfter (a decompression bomb). lb stopped reading it.',
    fix: 'Send a smaller body, or raise the compression plugin\'s request.maxSize (or a route\'s maxRequestSize) or request.maxRatio for that path.',
  },
  LB_ERR_COMPRESSION_CORRUPT: {
    message: 'Request body is not valid {encoding}: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'A request body labelled with Content-Encoding could not be decoded: corrupt or truncated data.',
    fix: 'Fix the client so that the body matches its Content-Encoding and is sent whole.',
  },
  LB_ERR_COMPRESSION_UNSUPPORTED: {
    message: 'Request body has Content-Encoding "{encoding}", which lb cannot decode.',
    statusCode: 415, source: 'downstream', retryable: 'never',
    meaning: 'The request body uses a coding other than br, gzip and deflate, or more than two stacked codings. The response lists the accepted codings in Accept-Encoding.',
    fix: 'Send the body as br, gzip or deflate, or set the compression plugin\'s request.unknownEncoding to "pass" to let the backend decide.',
  },
  LB_ERR_COMPRESSION_UPSTREAM_MISLABELED: {
    message: 'Backend {target} labels its body Content-Encoding {encoding}, but the body is not: {detail}',
    statusCode: 502, source: 'upstream', retryable: 'never',
    meaning: 'The first bytes of a backend response do not decode in the coding its Content-Encoding names, so clients could not read it.',
    fix: 'Fix the backend: send Content-Encoding only for bodies it actually encoded (often a cached or double-compressed response).',
  },
});
