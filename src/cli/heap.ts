// V8 sizes the young generation from the machine's memory, not from what the process needs: Node 20
// stops at 16 MiB semi-spaces, Node 24 grows them to 64 MiB on a machine with 16 GB or more, and a broker
// under load then keeps ~100 MB more resident for garbage alone (bench/PROFILE.md, "twenty-third
// round"). The size is fixed when V8 starts, so the broker restarts itself once, in place, with the flag.

const SEMI_SPACE_FLAG = '--max-semi-space-size';
const MIB = 1024 * 1024;

/** What the decision reads from the running process. */
export interface NodeLaunch {
  readonly execPath: string;
  /** Node's own options of this process (`process.execArgv`). */
  readonly execArgv: readonly string[];
  /** The script and its arguments (`process.argv` without the node executable). */
  readonly scriptArgs: readonly string[];
  readonly nodeOptions: string | undefined;
  /** Whether this Node can replace the process in place (`process.execve`, Node 22.15+ and 24). */
  readonly canReplace: boolean;
  /** An inspector is listening: a restart would open a second one on the same port. */
  readonly inspecting: boolean;
}

/** V8 reads `-` and `_` alike in its option names; the value follows `=` or comes as the next argument. */
const SETS_SEMI_SPACE = /^--max[-_]semi[-_]space[-_]size(=|$)/;

function setsSemiSpace(options: readonly string[]): boolean {
  return options.some((option) => SETS_SEMI_SPACE.test(option));
}

/**
 * The argument vector (node first) to restart with so that V8's semi-space is `semiSpaceBytes`, or
 * undefined when the process should go on as it is: 0 asks for Node's own sizing, the node command line
 * or NODE_OPTIONS already chose one (the user's choice wins), or this Node cannot restart in place.
 */
export function semiSpaceRestartArgs(semiSpaceBytes: number, launch: NodeLaunch): string[] | undefined {
  if (semiSpaceBytes === 0 || !launch.canReplace || launch.inspecting) return undefined;
  const nodeOptions = (launch.nodeOptions ?? '').split(/\s+/).filter(Boolean);
  if (setsSemiSpace(launch.execArgv) || setsSemiSpace(nodeOptions)) return undefined;
  return [
    launch.execPath,
    `${SEMI_SPACE_FLAG}=${Math.round(semiSpaceBytes / MIB)}`,
    ...launch.execArgv,
    ...launch.scriptArgs,
  ];
}

/**
 * Restarts this process in place (same pid, same open standard streams and environment) with V8's
 * semi-space set, when `semiSpaceRestartArgs` says so; otherwise returns and the broker starts as it is.
 * Called before anything is opened or listened on.
 */
export async function sizeYoungGeneration(semiSpaceBytes: number): Promise<void> {
  const { url } = await import('node:inspector');
  const replace = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never })
    .execve;
  const args = semiSpaceRestartArgs(semiSpaceBytes, {
    execPath: process.execPath,
    execArgv: process.execArgv,
    scriptArgs: process.argv.slice(1),
    nodeOptions: process.env['NODE_OPTIONS'],
    canReplace: typeof replace === 'function',
    inspecting: url() !== undefined,
  });
  if (args === undefined || replace === undefined) return;
  try {
    replace.call(process, process.execPath, args, process.env);
  } catch (error) {
    // execve(2) refused (the executable moved, a seccomp policy): start as we are, and say so.
    process.stderr.write(
      `herald: could not restart with ${args[1]} (${(error as Error).message}); running with Node's own heap sizing\n`,
    );
  }
}
