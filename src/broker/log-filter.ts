import { compileFilterParam, createSqlFilterCompiler } from '../filters/index.js';
import type { SqlFilterLimits } from '../filters/index.js';
import type { EventFilterCompiler } from '../log-api/index.js';
import type { BrokerMetrics } from '../observability/index.js';

/**
 * `filter=` on the log read API, in either form (a CESQL expression, or JSON filters in the
 * subscriptions' dialects): the subscriptions' bounds apply to the whole filter, refusals count in
 * `herald_limit_rejections_total`, and each evaluation's string work counts towards
 * `--log-read-max-work` (and in `herald_filter_budget_exceeded_total{where="log-read"}` when over).
 */
export function createLogFilter(limits: SqlFilterLimits, metrics: BrokerMetrics): EventFilterCompiler {
  const sql = createSqlFilterCompiler(
    limits,
    () => metrics.filterBudgetExceeded.inc({ where: 'log-read' }),
    (limit) => metrics.limitRejections.inc({ limit }),
  );
  return (expression) => {
    const compiled = compileFilterParam(expression, sql);
    return { matches: compiled.matches, lastCost: compiled.lastCost };
  };
}
