// Loading specs from disk: files as given, folders searched recursively for
// *.yaml / *.yml in sorted order so results and problems are deterministic.

import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { findDuplicateNames } from './duplicates.ts';
import { collapseProblems, SPEC_LIMITS, tooLargeProblem } from './limits.ts';
import { parseDocumentsOffThread } from './off-thread.ts';
import { compareProblems, type SpecProblem } from './problems.ts';
import type { LoadedSpec, SpecResult } from './validate.ts';

export interface LoadOptions {
  /** Relative paths are resolved against this; file names in results are shown relative to it. */
  cwd: string;
}

const SPEC_EXTENSIONS = new Set(['.yaml', '.yml']);

/** Hidden folders (.git, .forge) and dependency trees never hold service specs. */
function skipDirectory(name: string): boolean {
  return name.startsWith('.') || name === 'node_modules';
}

async function specFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const full = join(dir, entry.name);
    // Symlinked folders are not followed: they can form cycles.
    if (entry.isDirectory()) {
      if (!skipDirectory(entry.name)) files.push(...(await specFilesUnder(full)));
    } else if (SPEC_EXTENSIONS.has(extname(entry.name)) && (entry.isFile() || (await stat(full).catch(() => undefined))?.isFile())) {
      files.push(full);
    }
  }
  return files;
}

function displayName(cwd: string, file: string): string {
  const rel = relative(cwd, file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

function reason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

export interface FoundSpecFiles {
  /** Absolute paths, each once, in a stable order. */
  files: string[];
  /** Paths that could not be read, and folders holding no spec files. */
  problems: SpecProblem[];
  /** The given paths that do not exist (a usage mistake for the CLI). */
  missing: string[];
}

/** The spec files named by `paths` (folders expanded), each once. */
export async function findSpecFiles(paths: readonly string[], options: LoadOptions): Promise<FoundSpecFiles> {
  const files: string[] = [];
  const problems: SpecProblem[] = [];
  const missing: string[] = [];
  for (const path of paths) {
    const full = resolve(options.cwd, path);
    try {
      const info = await stat(full);
      if (!info.isDirectory()) { files.push(full); continue; }
      const found = await specFilesUnder(full);
      if (found.length === 0) problems.push({ file: path, path: '', message: 'no *.yaml or *.yml files in this directory' });
      files.push(...found);
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code === 'ENOENT') missing.push(path);
      problems.push({ file: path, path: '', message: reason(error) });
    }
  }
  return { files: [...new Set(files)], problems, missing };
}

/** Loads and validates every spec under `paths`; duplicate names across all of them are problems. */
export async function loadSpecs(paths: readonly string[], options: LoadOptions): Promise<SpecResult> {
  const found = await findSpecFiles(paths, options);
  return loadSpecFiles(found.files, options, found.problems);
}

/** Validates the given spec files; `earlier` problems (from finding them) are reported with the rest. */
export async function loadSpecFiles(files: readonly string[], options: LoadOptions, earlier: readonly SpecProblem[] = []): Promise<SpecResult> {
  const problems = [...earlier];
  const specs: LoadedSpec[] = [];
  for (const file of files) {
    const shown = displayName(options.cwd, file);
    let text: string;
    try {
      // A file over the limit is refused by its size, without reading it.
      const { size } = await stat(file);
      if (size > SPEC_LIMITS.maxBytes) {
        problems.push(tooLargeProblem(shown, size, 'file'));
        continue;
      }
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push({ file: shown, path: '', message: reason(error) });
      continue;
    }
    const parsed = await parseDocumentsOffThread(text, shown, { baseDir: dirname(file) });
    specs.push(...parsed.specs);
    problems.push(...collapseProblems(parsed.problems.sort(compareProblems), shown));
  }
  problems.push(...findDuplicateNames(specs));
  if (problems.length > 0) return { ok: false, problems: problems.sort(compareProblems) };
  return { ok: true, specs };
}
