import { projectRoute, requestAPI } from '../handler';
import {
  IInferencesReply,
  IMonitorDeploymentsReply,
  IMonitorSummary
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
  }
};
