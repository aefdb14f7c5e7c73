// The public surface of specs/: everything other rooms may import.

export { loadSpecs, loadSpecFiles, findSpecFiles, type FoundSpecFiles, type LoadOptions } from './load.ts';
export { parseSpecText } from './parse.ts';
export { parseSpecTextOffThread } from './off-thread.ts';
export { SPEC_LIMITS } from './limits.ts';
export { validateSpecObject, type LoadedSpec, type SpecOptions, type SpecResult } from './validate.ts';
export { specHash, canonicalJson } from './hash.ts';
export { formatProblem, formatPath, specInvalidError, type SpecProblem } from './problems.ts';
export { parseDurationMs, parseMemoryMb, parseCpuTier } from './units.ts';
export { SERVICE_SCHEMA } from './schema.ts';
export { requireSpecs } from './require.ts';
