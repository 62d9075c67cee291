// Bench-only plugin: adds a PassThrough body stage to every response, compressing nothing. It
// measures what the core's staged response path (stream.pipeline, chunked framing) costs by itself.
import { PassThrough } from 'node:stream';
import { definePlugin, PLUGIN_API_VERSION, Stage } from '../../core/index.js';

const PLUGIN_NAME = 'bench-passthrough-stage';

export default definePlugin<Record<string, never>>({
  name: PLUGIN_NAME,
  description: 'Bench only: a pass-through body stage on every response.',
  apiVersion: PLUGIN_API_VERSION,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  apply(pipeline) {
    pipeline.hooks.transformResponse.tapPromise({ name: PLUGIN_NAME, stage: Stage.ENCODE }, async (response) => {
      response.addStage(new PassThrough());
      return response;
    });
  },
});
