import { RequestError } from '../handler';
import { IStatusReply, Problem } from '../tokens';

/**
 * The problems to state above the sections, most fundamental first: the last
 * request failed, or it answered but the versions or the configuration are wrong.
 */
export function findProblems(
  reply: IStatusReply | null,
  failure: RequestError | null,
  frontendVersion: string
): Problem[] {
  if (failure) {
    if (failure.status === 404) {
      return [{ kind: 'missing-server' }];
    }
    return [
      { kind: 'error', status: failure.status, message: failure.message }
    ];
  }
  const problems: Problem[] = [];
  if (reply && reply.version !== frontendVersion) {
    problems.push({
      kind: 'version-mismatch',
      frontendVersion,
      serverVersion: reply.version
    });
  }
  if (reply?.config_error) {
    problems.push({ kind: 'config-error', message: reply.config_error });
  }
  return problems;
}
