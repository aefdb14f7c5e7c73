// Moved to errors/index.ts (imported by every room). This re-export keeps branches in flight compiling; import errors/index.ts in new code.
export * from '../errors/index.ts';
