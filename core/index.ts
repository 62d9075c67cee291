/** lb's core: the pipeline, its contexts, the target pool, the proxy engine, config and errors. */
export { Pipeline, Stage, pluginError, type PipelineHooks, type PipelineRoutes, type HookName, type HealthReport, type ListenInfo, type RequestOutcome } from './pipeline.js';
export { RequestContext, ResponseContext, type BodyCipher, type BodyStage } from './context.js';
export { Target, TargetPool, TargetRegistry, SLOW_START_MIN_FACTOR, type HealthThresholds, type TargetChanges, type TargetMetrics, type TargetOptions, type TargetSpec, type TargetState } from './target-pool.js';
export { ProxyEngine, type EngineOptions } from './engine/request-flow.js';
export { classifyUpstreamError } from './engine/error-response.js';
export { createLoadBalancer, type LoadBalancer, type LoadBalancerOptions, type ReloadResult, type ReloadSource } from './load-balancer.js';
export { Generation } from './generation.js';
export type { ReloadChanges } from './reload.js';
export { definePlugin, PLUGIN_API_VERSION, type LbPlugin, type OptionsOf, type OptionsSchema, type PluginCatalog, type PluginKind, type PluginLifecycle } from './plugin.js';
export {
  ERRORS, ERROR_CODE_PATTERN, LbError, defineErrors, isLbError, formatError,
  type ErrorCode, type ErrorSource, type ErrorSpec, type ErrorTable, type PluginErrors, type Retryable,
} from './errors.js';
export { RESERVED_PREFIX, isReserved, normalisePath, type Route, type RouteHandler, type RouteRequest, type RouteResponse, type RouteSpec } from './reserved-routes.js';
export { Services, planServices, serviceKey, type ServiceKey, type ServicePlan } from './services.js';
export { KEYSTORE, type Keystore } from './keystore.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export { coreConfigSchema, type LbConfig, type PluginEntry } from './config/schema.js';
export { loadConfigFile, CONFIG_MODULE_NAME, type LoadedConfigFile } from './config/load.js';
export { resolveConfig, type PresetCatalog, type PresetDefinition, type ResolvedConfig, type ResolvedPlugin } from './config/resolve.js';
export { formatProblem, type Problem } from './config/validate.js';
export { createPrng, distinctPair, seedOption, type Prng } from './random.js';
