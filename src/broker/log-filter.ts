import { compileBoundedSql, compileFilterParam } from '../filters/index.js';
import type { SqlFilterLimits } from '../filters/index.js';
import type { EventFilterCompiler } from '../log-api/index.js';
import type { BrokerMetrics } from '../observability/index.js';

/** `filter=` on the log read API: a CESQL expression with the subscriptions' bounds. */
export function createLogFilter(limits: SqlFilterLimits, metrics: BrokerMetrics): EventFilterCompiler {
  return (expression) => {
    const trimmed = expression.trimStart();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      // A JSON filter in the subscriptions' dialects (incl. `data`); its CESQL parts use the defaults.
      const matches = compileFilterParam(expression);
      return { matches, lastCost: () => 0 };
    }
    const compiled = compileBoundedSql(expression, '?filter', limits, (limit) =>
      metrics.limitRejections.inc({ limit }),
    );
    return {
      matches: (event) => {
        if (compiled.matches(event.attributes)) return true;
        if (compiled.exceededBudget()) metrics.filterBudgetExceeded.inc({ where: 'log-read' });
        return false;
      },
      lastCost: () => compiled.lastCost(),
    };
  };
}
