import { definePlugin, PLUGIN_API_VERSION, Stage } from '../../core/index.js';
import { brotliWasm, type EngineSettings } from './engines.js';
import type { Coding } from './negotiate.js';
import { Policies, type CompressionOptions } from './policy.js';
import { createRequestDecode, createUpstreamCompress, DeclaredCodings } from './request.js';
import { createResponseTransform } from './response.js';
import { compressionSchema } from './schema.js';
import { compressionErrors } from './errors.js';

const PLUGIN_NAME = 'compression';

export { compressionSchema, DEFAULT_TYPES } from './schema.js';
export { compressionErrors } from './errors.js';
export { parseAcceptEncoding, chooseCoding } from './negotiate.js';

/**
 * Compression, both ways. Responses: br or gzip chosen from Accept-Encoding, streamed
 * with backpressure, skipped where compression is wrong or useless. Requests: bodies in
 * br, gzip or deflate are decoded before the backend, with size and ratio limits; bodies
 * can be compressed toward backends that declare they accept it (RFC 7694).
 */
export default definePlugin<CompressionOptions>({
  name: PLUGIN_NAME,
  description: 'Compresses responses with br or gzip (negotiated, streaming) and decompresses request bodies with bomb limits.',
  kind: 'feature',
  apiVersion: PLUGIN_API_VERSION,
  schema: compressionSchema,
  errors: compressionErrors,
  apply(pipeline, options) {
    const logger = pipeline.logger.child(PLUGIN_NAME);
    const policies = new Policies(options);
    const engines: EngineSettings = {
      brotliEngine: options.brotli.engine,
      brotliQuality: options.brotli.quality,
      brotliLargeQuality: options.brotli.largeQuality,
      brotliLargeFrom: options.brotli.largeFrom,
      brotliWindowBits: options.brotli.windowBits,
      gzipLevel: options.gzip.level,
    };
    // Load the wasm module at start-up, not on the first request.
    if (engines.brotliEngine === 'wasm') brotliWasm();

    if (policies.anyCompress || options.checkUpstreamEncoding) {
      pipeline.hooks.transformResponse.tapPromise(
        { name: PLUGIN_NAME, stage: Stage.ENCODE },
        createResponseTransform({
          policies, engines, logger,
          sizeWaitMs: options.sizeWaitMs,
          flushIdleMs: options.flushIdleMs,
          checkUpstreamEncoding: options.checkUpstreamEncoding,
        }),
      );
    }

    if (policies.anyDecompress) {
      pipeline.hooks.transformRequest.tapPromise(
        { name: PLUGIN_NAME, stage: Stage.DECODE },
        createRequestDecode({
          policies, logger,
          limits: { maxRatio: options.request.maxRatio, ratioAfter: options.request.ratioAfter },
          unknownEncoding: options.request.unknownEncoding,
        }),
      );
    }

    if (options.upstream.compress) {
      const declared = new DeclaredCodings();
      pipeline.hooks.upstreamResponse.tap({ name: PLUGIN_NAME, stage: Stage.NORMAL }, (ctx, upstream) => {
        declared.learn(ctx.target, upstream.statusCode ?? 0, upstream.headers['accept-encoding']);
      });
      pipeline.hooks.transformRequest.tapPromise(
        { name: PLUGIN_NAME, stage: Stage.ENCODE },
        createUpstreamCompress(
          { policies, engines, coding: options.upstream.encoding as Coding, minSize: options.upstream.minSize },
          declared,
          () => pipeline.pool.available,
        ),
      );
    }
  },
});
