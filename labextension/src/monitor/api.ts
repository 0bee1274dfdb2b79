import { projectRoute, requestAPI } from '../handler';
import {
  ICheckResult,
  IDriftReport,
  IInferencesReply,
  IMonitorDeploymentsReply,
  IMonitorSummary,
  IPerformanceReply,
  IRulesReply,
  MetricName
} from './tokens';

/** `monitor/deployments[/…]?path=FOLDER[&…]`: every route names the project by its folder. */
function endpoint(
  parts: string[],
  folder: string,
  query: Record<string, string> = {}
): string {
  return projectRoute(['monitor', 'deployments', ...parts], folder, query);
}

/** The monitor routes of the server extension, one function each. */
export const monitorAPI = {
  list(folder: string): Promise<IMonitorDeploymentsReply> {
    return requestAPI<IMonitorDeploymentsReply>(endpoint([], folder));
  },

  /** A deployment's version, device, totals and series over the last `since`. */
  summary(
    folder: string,
    name: string,
    since = '1h'
  ): Promise<IMonitorSummary> {
    return requestAPI<IMonitorSummary>(endpoint([name], folder, { since }));
  },

  /** The newest `limit` requests a deployment logged over the last `since`. */
  inferences(
    folder: string,
    name: string,
    limit: number,
    since = '1h'
  ): Promise<IInferencesReply> {
    return requestAPI<IInferencesReply>(
      endpoint([name, 'inferences'], folder, { since, limit: String(limit) })
    );
  },

  /** A deployment's logged inputs over the last `since` against its reference. */
  drift(folder: string, name: string, since: string): Promise<IDriftReport> {
    return requestAPI<IDriftReport>(
      endpoint([name, 'drift'], folder, { since })
    );
  },

  /** The model's `metric` on the labelled requests, an hour at a time. */
  performance(
    folder: string,
    name: string,
    metric: MetricName,
    since: string
  ): Promise<IPerformanceReply> {
    return requestAPI<IPerformanceReply>(
      endpoint([name, 'performance'], folder, { metric, since, by: '1h' })
    );
  },

  rules(folder: string, name: string): Promise<IRulesReply> {
    return requestAPI<IRulesReply>(endpoint([name, 'rules'], folder));
  },

  /** Evaluate the deployment's rules now; a rule that holds fires (outside its cooldown). */
  check(folder: string, name: string): Promise<ICheckResult> {
    return requestAPI<ICheckResult>(endpoint([name, 'check'], folder), {
      method: 'POST',
      body: JSON.stringify({ dry_run: false })
    });
  }
};
