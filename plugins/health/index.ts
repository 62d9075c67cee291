/**
 * Health and load: both sides of one protocol (docs/health.md).
 * Proxy side: the `health-check` plugin (active polling) and the `orca-load-reports`
 * plugin (in-band load reports). Backend side: `createHealthAgent`, which serves the
 * report and can add load reports to responses (also importable alone from ./agent.js).
 */
import healthCheck from './health-check.js';
import orcaLoadReports from './load-reports.js';

export { healthCheck, orcaLoadReports };
export default healthCheck;
export { healthCheckSchema, loadReportsSchema } from './schema.js';
export { createHealthAgent, type HealthAgent, type HealthAgentOptions } from './agent.js';
export { AGENT_CONTENT_TYPE, AGENT_PATH, AGENT_REPORT_VERSION, AGENT_STATUSES, type AgentReport, type AgentStatus } from './report.js';
export { readAgentReport, type AgentReading } from './read-report.js';
export { readNodeExporter, parsePrometheusText, type CpuCounters, type NodeExporterReading, type Sample } from './prometheus.js';
export { LOAD_REPORT_HEADER, formatLoadReportHeader, metricsFromLoadReport, parseLoadReportHeader, type OrcaLoadReport } from './orca.js';
