// Process checks shared by tests that start (and must stop) child processes.

/** True while `pid` exists (signal 0 delivers nothing; it only asks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
