// The environment a build or app sees. Nothing is inherited from the agent:
// its own tokens and keys must never reach user code.

export const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvInput {
  /** The agent's PATH, so toolchains installed on the host are found. */
  hostPath: string | undefined;
  home: string;
  env: Record<string, string>;
  secrets?: Record<string, string>;
  port?: number;
}

/** Later sources win: base < env < secrets < PORT (the port is Forge's to choose). */
export function buildEnv(input: EnvInput): Record<string, string> {
  const out: Record<string, string> = {
    PATH: input.hostPath ?? FALLBACK_PATH,
    HOME: input.home,
    LANG: 'C.UTF-8',
    ...input.env,
    ...(input.secrets ?? {}),
  };
  if (input.port !== undefined) out.PORT = String(input.port);
  return out;
}
