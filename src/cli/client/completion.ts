// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { examples } from './common.js';
import { UsageError } from './output.js';

/** Every command path (`''`, `subscriptions`, `subscriptions seek`, …) with its subcommands and options. */
function commandTree(
  program: Command,
  passThrough: Readonly<Record<string, readonly string[]>>,
): Map<string, { subcommands: string[]; options: string[] }> {
  const tree = new Map<string, { subcommands: string[]; options: string[] }>();
  const walk = (command: Command, path: string) => {
    const subcommands = command.commands.filter((c) => c.name() !== 'help').map((c) => c.name());
    const options = command.options.flatMap((o) =>
      [o.short, o.long].filter((f): f is string => f !== undefined),
    );
    tree.set(path, { subcommands, options: [...options, ...(passThrough[path] ?? []), '--help'] });
    for (const child of command.commands) walk(child, path === '' ? child.name() : `${path} ${child.name()}`);
  };
  walk(program, '');
  return tree;
}

function caseArms(
  tree: ReturnType<typeof commandTree>,
  pick: 'subcommands' | 'options',
  indent: string,
): string {
  return [...tree]
    .map(
      ([path, entry]) => `${indent}${JSON.stringify(path)}) echo ${JSON.stringify(entry[pick].join(' '))} ;;`,
    )
    .join('\n');
}

/** The shell functions both completions share: a command path's subcommands and its options (bash and zsh read them alike). */
function lookups(tree: ReturnType<typeof commandTree>): string {
  return `_herald_subcommands() {
  case "$1" in
${caseArms(tree, 'subcommands', '    ')}
  esac
}
_herald_options() {
  case "$1" in
${caseArms(tree, 'options', '    ')}
  esac
}
`;
}

export function bashCompletion(
  program: Command,
  passThrough: Readonly<Record<string, readonly string[]>>,
): string {
  const tree = commandTree(program, passThrough);
  return `# bash completion for herald: source <(herald completion bash)
${lookups(tree)}_herald() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmdpath="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case " $(_herald_subcommands "$cmdpath") " in *" $w "*) cmdpath="\${cmdpath:+$cmdpath }$w" ;; esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table json yaml" -- "$cur")); return ;;
    --file|--config|--data|--event|--spec) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_herald_options "$cmdpath")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_herald_subcommands "$cmdpath")" -- "$cur"))
  fi
}
complete -F _herald herald
`;
}

export function zshCompletion(
  program: Command,
  passThrough: Readonly<Record<string, readonly string[]>>,
): string {
  const tree = commandTree(program, passThrough);
  return `#compdef herald
# zsh completion for herald: source <(herald completion zsh), or save as _herald on your $fpath
${lookups(tree)}_herald() {
  local cmdpath="" w i
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if [[ " $(_herald_subcommands "$cmdpath") " == *" $w "* ]]; then cmdpath="\${cmdpath:+$cmdpath }$w"; fi
  done
  case "\${words[CURRENT-1]}" in
    -o|--output) compadd table json yaml; return ;;
    --file|--config|--data|--event|--spec) _files; return ;;
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- \${=$(_herald_options "$cmdpath")}
  else
    compadd -- \${=$(_herald_subcommands "$cmdpath")}
  fi
}
if (( $+functions[compdef] )); then compdef _herald herald; fi
`;
}

export function registerCompletion(
  program: Command,
  passThrough: Readonly<Record<string, readonly string[]>>,
): void {
  const command = program
    .command('completion')
    .argument('<shell>', 'bash or zsh')
    .description('print a shell completion script');
  examples(command, [
    'herald completion bash > ~/.herald-completion.bash && echo "source ~/.herald-completion.bash" >> ~/.bashrc',
    'herald completion zsh > "${fpath[1]}/_herald"   # or: source <(herald completion zsh) after compinit',
  ]);
  command.action((shell: string) => {
    if (shell === 'bash') process.stdout.write(bashCompletion(program, passThrough));
    else if (shell === 'zsh') process.stdout.write(zshCompletion(program, passThrough));
    else throw new UsageError(`completion: unknown shell ${JSON.stringify(shell)}; use bash or zsh`);
  });
}
