// Fencing on the agent's side: the current leader term, from the replicas' answers (heartbeat,
// claim), which read it from the database as they answer. A task issued under a lower term comes
// from a leader that was deposed since (or a replica that was paused while it handed the task
// out): the agent does not run it and reports it refused (E_FENCED), so the current leader's loop
// plans that work again.
//
// The term is kept in the data dir with the agent id it was seen under, so a restart does not
// forget it; an agent that had to register as a new agent starts from 0. An answer with a LOWER
// term than the kept one means the database itself went back (restored from a dump, or a
// fall-back to the SQLite file, whose term is always 0): the database is the source of truth, so
// the agent says so once and adopts its term; keeping the higher one would refuse every task
// forever. One lower answer alone is not that: a replica paused between reading the term and
// answering delivers an old term late. Only LOWER_ANSWERS_TO_FOLLOW lower answers in a row (a few
// heartbeats, from whichever replicas) move the term down.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ClaimResponse, ResultRequest } from '../schemas/agent-protocol.ts';
import type { ProtocolClient } from './protocol-client.ts';

export const TERM_FILE = 'term.json';
/** Lower answers in a row after which the database is taken to have gone back. */
export const LOWER_ANSWERS_TO_FOLLOW = 3;

export interface TermGuard {
  /** The current term, as the latest answer gave it (0: none yet). */
  readonly highest: number;
  /** The agent id the terms belong to (after registration); another id forgets what was seen. */
  bind(agentId: string): void;
  /** The current term an answer carries; kept (and written to the data dir); a lower one only when answers keep saying it (see above). */
  observe(term: number | undefined): void;
  /** Null when a task of `taskTerm` may run; else the result that refuses it. */
  refusal(taskTerm: number): ResultRequest | null;
}

interface Saved {
  agentId: string;
  term: number;
}

function load(file: string): Saved | null {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Saved>;
    return typeof parsed.agentId === 'string' && Number.isSafeInteger(parsed.term) && (parsed.term as number) >= 0
      ? { agentId: parsed.agentId, term: parsed.term as number } : null;
  } catch {
    return null; // none yet, or unreadable: nothing was seen
  }
}

export function createTermGuard(dataDir: string, log: (line: string) => void = () => undefined): TermGuard {
  const file = path.join(dataDir, TERM_FILE);
  let saved = load(file);
  let agentId: string | null = null;
  let highest = 0;
  let wentBack = false; // said once
  let lowerInARow = 0;

  const save = () => {
    if (agentId === null) return;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Written before the task that showed the term is acted on, and renamed into place: a crash
    // leaves the old term or the new one, never a torn file.
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ agentId, term: highest })}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  };

  return {
    get highest() {
      return highest;
    },
    bind(id) {
      if (agentId === id) return;
      agentId = id;
      highest = saved?.agentId === id ? saved.term : 0;
      saved = { agentId: id, term: highest };
    },
    observe(term) {
      if (term === undefined || !Number.isSafeInteger(term) || term < 0) return;
      if (term >= highest) lowerInARow = 0;
      if (term === highest) return;
      if (term < highest) {
        lowerInARow += 1;
        if (lowerInARow < LOWER_ANSWERS_TO_FOLLOW) return;
        lowerInARow = 0;
        if (!wentBack) log(`the control plane's database holds leader term ${term}, lower than term ${highest} seen before: it went back (restored?); following the database`);
        wentBack = true;
      }
      highest = term;
      save();
    },
    refusal(taskTerm) {
      if (taskTerm >= highest) return null;
      return {
        ok: false,
        result: {
          code: 'E_FENCED',
          message: `refused: the task was issued under leader term ${taskTerm}, and the current term is ${highest} (the leader that issued it was replaced); not run`,
        },
      };
    },
  };
}

/**
 * Whether a claimed task may run: it notes the answer's term first (the database's, read as the
 * task was handed out), then refuses (reports E_FENCED for) a task of a lower term. False when
 * the task was refused.
 */
export async function admitClaim(client: Pick<ProtocolClient, 'result'>, guard: TermGuard, claimed: ClaimResponse): Promise<boolean> {
  guard.observe(claimed.term);
  const refusal = guard.refusal(claimed.task.term ?? 0);
  if (refusal === null) return true;
  await client.result(claimed.task.id, refusal);
  return false;
}
