import { specInvalidError } from './problems.ts';
import type { LoadedSpec, SpecResult } from './validate.ts';

/** The specs of a valid result; throws ForgeError('E_SPEC_INVALID', …, { details: problems }) otherwise. */
export function requireSpecs(result: SpecResult): LoadedSpec[] {
  if (!result.ok) throw specInvalidError(result.problems);
  return result.specs;
}
