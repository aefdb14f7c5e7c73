// `forge completion bash|zsh|fish`: shell completion for commands and their
// flags, generated from the same help table `forge -h` prints (cli/help.ts), so
// a new flag completes as soon as it is documented.

import { HELP } from './help.ts';
import { parseArgs } from './args.ts';
import type { CliDeps } from './deps.ts';
import { success, usageFailure, type CliResult } from './output.ts';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** The long flags a command's help lists (`-f, --file PATH` → --file), plus --help. */
export function flagsOf(command: string): string[] {
  const flags = new Set<string>();
  for (const [spelling] of HELP[command]?.options ?? []) {
    for (const word of spelling.split(/[ ,]+/)) if (/^--[a-z][a-z-]*$/.test(word)) flags.add(word);
  }
  flags.add('--help');
  return [...flags];
}

function commands(): string[] {
  return [...Object.keys(HELP), 'help'];
}

function bash(): string {
  const cases = Object.keys(HELP).map((c) => `    ${c}) opts="${flagsOf(c).join(' ')}" ;;`).join('\n');
  return `# forge completion for bash: source <(forge completion bash)   (or save it under /etc/bash_completion.d/forge)
_forge() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands().join(' ')} --help --version" -- "$cur"))
    return 0
  fi
  local opts=""
  case "\${COMP_WORDS[1]}" in
${cases}
    help) COMPREPLY=($(compgen -W "${Object.keys(HELP).join(' ')}" -- "$cur")); return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts --url --api-key --output --context" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}
complete -F _forge forge
`;
}

function zsh(): string {
  // zsh runs the bash function through bashcompinit: one definition of what completes.
  return `#compdef forge
# forge completion for zsh: source <(forge completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash().split('\n').slice(1).join('\n')}`;
}

function fish(): string {
  const lines = ['# forge completion for fish: forge completion fish | source', 'complete -c forge -f'];
  for (const c of Object.keys(HELP)) {
    lines.push(`complete -c forge -n __fish_use_subcommand -a ${c} -d ${JSON.stringify(HELP[c]!.summary).replace(/\$/g, '\\$')}`);
    for (const flag of flagsOf(c)) lines.push(`complete -c forge -n '__fish_seen_subcommand_from ${c}' -l ${flag.slice(2)}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function completionCommand(args: readonly string[], _deps: CliDeps): Promise<CliResult> {
  const usage = HELP.completion!.usage;
  const parsed = parseArgs('completion', args, {});
  if (typeof parsed === 'string') return usageFailure(parsed, usage);
  const [shell, extra] = parsed.positional;
  if (shell === undefined || extra !== undefined) return usageFailure('forge completion: give one shell: bash, zsh or fish', usage);
  if (!(SHELLS as readonly string[]).includes(shell)) return usageFailure(`forge completion: no completion for \`${shell}\` (bash, zsh or fish)`, usage);
  return success(shell === 'bash' ? bash() : shell === 'zsh' ? zsh() : fish());
}
