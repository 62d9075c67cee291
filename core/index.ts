/** lb's core: the pipeline, its contexts, the target pool, the proxy engine, config and errors. */
export { Pipeline, Stage, type PipelineHooks, type HookName, type HealthReport, type ListenInfo, type RequestOutcome } from './pipeline.js';
export { RequestContext, ResponseContext, type BodyCipher, type BodyStage } from './context.js';
export { Target, TargetPool, SLOW_START_MIN_FACTOR, type HealthThresholds, type TargetMetrics, type TargetSpec, type TargetState } from './target-pool.js';
export { ProxyEngine, classifyUpstreamError } from './proxy-engine.js';
export { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from './load-balancer.js';
export { definePlugin, PLUGIN_API_VERSION, type LbPlugin, type OptionsOf, type OptionsSchema, type PluginCatalog, type PluginKind } from './plugin.js';
export { ERRORS, LbError, isLbError, formatError, type ErrorCode, type ErrorSource, type ErrorSpec } from './errors.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export { coreConfigSchema, type LbConfig, type PluginEntry } from './config/schema.js';
export { loadConfigFile, CONFIG_MODULE_NAME, type LoadedConfigFile } from './config/load.js';
export { resolveConfig, type PresetCatalog, type PresetDefinition, type ResolvedConfig, type ResolvedPlugin } from './config/resolve.js';
export { formatProblem, type Problem } from './config/validate.js';
export { createPrng, distinctPair, seedOption, type Prng } from './random.js';
