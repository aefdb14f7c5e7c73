// Process output: size-capped rotating log files (output.log, .1, .2) and an
// in-memory tail of recent lines for error messages and `tail(n)`.

import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export const DEFAULT_LOG_MAX_BYTES = 1024 * 1024;
export const DEFAULT_LOG_FILES = 3;

/** Appends to `file`; when the next write would pass maxBytes, shifts file → file.1 → … and starts fresh. */
export class RotatingLog {
  private fd: number;
  private size: number;

  constructor(
    readonly file: string,
    private readonly maxBytes = DEFAULT_LOG_MAX_BYTES,
    /** Total files kept, the live one included. */
    private readonly files = DEFAULT_LOG_FILES,
  ) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.fd = openSync(file, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: string | Buffer): void {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.size > 0 && this.size + data.length > this.maxBytes) this.rotate();
    // Synchronous so lines from stdout and stderr land in the order they arrived.
    writeSync(this.fd, data);
    this.size += data.length;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private rotate(): void {
    closeSync(this.fd);
    const last = `${this.file}.${this.files - 1}`;
    if (this.files <= 1) rmSync(this.file, { force: true });
    else rmSync(last, { force: true });
    for (let i = this.files - 2; i >= 1; i--) renameIfExists(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    if (this.files > 1) renameIfExists(this.file, `${this.file}.1`);
    this.fd = openSync(this.file, 'a');
    this.size = 0;
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export type Stream = 'stdout' | 'stderr';

/** Splits chunks into lines and keeps the last `keep` of them. */
export class LineTail {
  private readonly lines: string[] = [];
  private readonly partial: Record<Stream, string> = { stdout: '', stderr: '' };

  constructor(
    private readonly keep = 200,
    private readonly onLine?: (line: string, stream: Stream) => void,
    /** A line longer than this is cut, so a newline-free flood cannot grow memory. */
    private readonly maxLine = 16 * 1024,
  ) {}

  push(chunk: string, stream: Stream): void {
    const parts = (this.partial[stream] + chunk).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    if (this.partial[stream].length > this.maxLine) {
      parts.push(this.partial[stream]);
      this.partial[stream] = '';
    }
    for (const line of parts) this.add(line, stream);
  }

  /** Emits any unterminated last line. */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.add(this.partial[stream], stream);
      this.partial[stream] = '';
    }
  }

  tail(n = 20): string[] {
    return n <= 0 ? [] : this.lines.slice(-n);
  }

  private add(raw: string, stream: Stream): void {
    const line = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).slice(0, this.maxLine);
    this.lines.push(line);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
    this.onLine?.(line, stream);
  }
}

/** Wires a child's stdout and stderr into a log file and a line tail. */
export function captureOutput(
  streams: { stdout: Readable | null; stderr: Readable | null },
  log: RotatingLog,
  lines: LineTail,
): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    const readable = streams[stream];
    if (readable === null) continue;
    readable.on('data', (chunk: Buffer) => {
      log.write(chunk);
      lines.push(chunk.toString('utf8'), stream);
    });
  }
}
