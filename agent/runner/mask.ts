// Values of the secrets Forge injected never leave the agent in a line Forge ships or
// writes (shipped output, task progress, error messages with last lines): each is
// replaced by `[secret KEY]`. Values shorter than MIN_MASKED are left alone: masking
// "1" or "true" would garble every line while hiding nothing worth hiding. Pure.

export const MIN_MASKED = 4;

export type Masker = (line: string) => string;

export function createMasker(secrets: Readonly<Record<string, string>> = {}): Masker {
  // Longest first, so a value that contains another is replaced whole.
  const values = Object.entries(secrets)
    .filter(([, value]) => value.length >= MIN_MASKED)
    .sort((a, b) => b[1].length - a[1].length);
  if (values.length === 0) return (line) => line;
  return (line) => {
    let out = line;
    for (const [key, value] of values) if (out.includes(value)) out = out.split(value).join(`[secret ${key}]`);
    return out;
  };
}
