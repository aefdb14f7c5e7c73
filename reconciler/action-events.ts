// Pure: the event recorded for one executed action. It names the instance the
// action is about: a replacement names the instance that died (or was superseded)
// and the one that took its place, never only the new one.

import type { Action, ApplyResult } from '../providers/types.ts';
import type { EventInput } from '../store/index.ts';

export function actionEvent(action: Action, result: ApplyResult): EventInput {
  const reason = capitalize(action.kind);
  if (action.kind === 'replace') {
    const successor = result.instanceId && result.instanceId !== action.instanceId ? ` replaced by ${result.instanceId}` : ' replaced';
    return { type: 'Normal', reason, message: `${action.reason}; ${action.instanceId}${successor}` };
  }
  return { type: 'Normal', reason, message: `${action.reason}${result.instanceId ? ` (${result.instanceId})` : ''}` };
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
