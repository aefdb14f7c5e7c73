// Pure: the event recorded for one executed action. It names the instance the
// action is about: a replacement names the instance that died (or was superseded)
// and the one that took its place, never only the new one. A restart after a
// crash (a replaced instance that failed or fails its health check) is a Warning:
// an operator filtering for warnings sees a crash loop build up.

import type { Action, ApplyResult, Observed } from '../providers/types.ts';
import type { EventInput } from '../store/index.ts';

export function actionEvent(action: Action, result: ApplyResult, before: Observed | null = null): EventInput {
  const reason = capitalize(action.kind);
  if (action.kind === 'replace') {
    const successor = result.instanceId && result.instanceId !== action.instanceId ? ` replaced by ${result.instanceId}` : ' replaced';
    const old = before?.instances.find((i) => i.id === action.instanceId);
    const crashed = old !== undefined && (old.state === 'failed' || old.health === 'unhealthy');
    return { type: crashed ? 'Warning' : 'Normal', reason, message: `${action.reason}; ${action.instanceId}${successor}` };
  }
  return { type: 'Normal', reason, message: `${action.reason}${result.instanceId ? ` (${result.instanceId})` : ''}` };
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
