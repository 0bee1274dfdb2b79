import { projectRoute, requestAPI } from '../handler';
import {
  IDeployment,
  IDeploymentLogs,
  IDeploymentsReply,
  IDeployRequest,
  IDeployTask,
  IPredictions
} from './tokens';

/** `deployments[/…]?path=FOLDER[&…]`: every route names the project by its folder. */
function endpoint(
  parts: string[],
  folder: string,
  query: Record<string, string> = {}
): string {
  return projectRoute(['deployments', ...parts], folder, query);
}

function post(body: unknown): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** The deploy routes of the server extension, one function each. */
export const deployAPI = {
  list(folder: string): Promise<IDeploymentsReply> {
    return requestAPI<IDeploymentsReply>(endpoint([], folder));
  },

  async start(folder: string, request: IDeployRequest): Promise<IDeployTask> {
    const reply = await requestAPI<{ task: IDeployTask }>(
      endpoint([], folder),
      post(request)
    );
    return reply.task;
  },

  /** The project's recent deploys and rollbacks, newest first (any client's). */
  async tasks(
    folder: string,
    state?: IDeployTask['state']
  ): Promise<IDeployTask[]> {
    const reply = await requestAPI<{ tasks: IDeployTask[] }>(
      endpoint(['tasks'], folder, state ? { state } : {})
    );
    return reply.tasks;
  },

  async task(id: string): Promise<IDeployTask> {
    const reply = await requestAPI<{ task: IDeployTask }>(
      endpoint(['tasks', id], '')
    );
    return reply.task;
  },

  async undeploy(folder: string, name: string): Promise<IDeployment> {
    const reply = await requestAPI<{ deployment: IDeployment }>(
      endpoint([name], folder),
      { method: 'DELETE' }
    );
    return reply.deployment;
  },

  async rollback(folder: string, name: string): Promise<IDeployTask> {
    const reply = await requestAPI<{ task: IDeployTask }>(
      endpoint([name, 'rollback'], folder),
      post({})
    );
    return reply.task;
  },

  predict(folder: string, name: string, data: unknown): Promise<IPredictions> {
    return requestAPI<IPredictions>(
      endpoint([name, 'predict'], folder),
      post({ data })
    );
  },

  logs(folder: string, name: string, lines = 200): Promise<IDeploymentLogs> {
    return requestAPI<IDeploymentLogs>(
      endpoint([name, 'logs'], folder, { lines: String(lines) })
    );
  }
};
