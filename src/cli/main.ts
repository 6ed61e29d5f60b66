#!/usr/bin/env node
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import type { Broker } from '../broker/index.js';
import { BROKER_OPTIONS, brokerHelp, ConfigError, loadBrokerConfig } from '../config/index.js';
import { isHeraldError } from '../errors/index.js';

const BROKER_EXAMPLES = `
Examples:
  $ herald broker
  $ herald broker --port 9090 --data-dir /var/lib/herald --dedupe-window 10m
  $ HERALD_STORE=jetstream HERALD_NATS_URL=nats://127.0.0.1:4222 herald broker
  $ herald broker --config broker.yaml
`;

async function runBroker(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(brokerHelp() + '\n' + BROKER_EXAMPLES);
    return 0;
  }
  let config;
  try {
    config = loadBrokerConfig(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) {
        process.stderr.write(`herald: invalid configuration: ${problem}\n`);
      }
      return 2;
    }
    throw error;
  }
  // Before anything is opened: this may restart the process in place with V8's young generation sized.
  const { sizeYoungGeneration } = await import('./heap.js');
  await sizeYoungGeneration(config.heapSemiSpaceBytes);
  // The broker and the observability modules (the OpenTelemetry SDK) are loaded by the commands that use
  // them: loaded up front, they made every client command (`herald publish`, `tail`, …) take ~2 s to start.
  const [{ Broker }, { createLogger, startTracing, TracingConfigError, versionInfo }] = await Promise.all([
    import('../broker/index.js'),
    import('../observability/index.js'),
  ]);
  // Before the logger, so log lines of traced work carry trace_id. Off unless OTEL_* variables ask for it.
  let tracing;
  try {
    tracing = await startTracing(process.env, {
      serviceVersion: versionInfo().version,
      brokerName: config.brokerName,
    });
  } catch (error) {
    if (!(error instanceof TracingConfigError)) throw error;
    process.stderr.write(`herald: invalid configuration: ${error.message}\n`);
    return 2;
  }
  const logger = createLogger(config.logLevel, { broker: config.brokerName });
  // Signals are handled from the start: a SIGTERM during start-up stops the broker once it is up,
  // instead of killing the process halfway.
  let requested: string | undefined;
  let onSignal: ((signal: string) => void) | undefined;
  const handle = (signal: string) => {
    requested ??= signal;
    onSignal?.(signal);
  };
  process.once('SIGTERM', () => handle('SIGTERM'));
  process.once('SIGINT', () => handle('SIGINT'));
  let broker: Broker;
  try {
    broker = await Broker.start({ config, logger });
  } catch (error) {
    if (isHeraldError(error) && error.code === 'HERALD_INVALID_CONFIG') {
      // One line per problem (a policy or tokens file may have several).
      for (const line of error.message.split('\n')) {
        process.stderr.write(`herald: invalid configuration: ${line}\n`);
      }
      return 2;
    }
    logger.fatal({ err: error }, 'herald broker failed to start');
    process.stderr.write(`herald: ${(error as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    onSignal = (signal: string) => {
      logger.info({ signal }, 'shutdown requested');
      broker
        .stop()
        .then(() => tracing.shutdown())
        .then(
          () => resolve(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            resolve(1);
          },
        );
    };
    if (requested !== undefined) onSignal(requested);
  });
}

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const OPERATOR_USAGE = `Usage: herald operator [options]

Runs the Kubernetes operator: turns Broker and Channel resources into broker workloads.
Connects with the in-cluster service account, or KUBECONFIG / ~/.kube/config.

Options:
  --image <image>          image of broker workloads [HERALD_IMAGE] (default herald:0.1.0)
  --image-pull-policy <p>  IfNotPresent, Always or Never [HERALD_IMAGE_PULL_POLICY] (default IfNotPresent)
  --log-level <level>      trace, debug, info, warn, error, fatal, silent [HERALD_LOG_LEVEL] (default info)
  --help                   show this help

Examples:
  $ herald operator
  $ KUBECONFIG=~/.kube/config herald operator --image ghcr.io/example/herald:0.1.0 --log-level debug`;

/** The broker's levels (one schema): pino throws on any other, with a stack trace. */
const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

async function runOperator(args: string[]): Promise<number> {
  const { parseArgs } = await import('node:util');
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        image: { type: 'string' },
        'image-pull-policy': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    process.stderr.write(`herald: ${(error as Error).message}\n${OPERATOR_USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(OPERATOR_USAGE + '\n');
    return 0;
  }
  const pullPolicy = values['image-pull-policy'] ?? process.env['HERALD_IMAGE_PULL_POLICY'] ?? 'IfNotPresent';
  if (!['IfNotPresent', 'Always', 'Never'].includes(pullPolicy)) {
    process.stderr.write(
      `herald: invalid configuration: --image-pull-policy must be IfNotPresent, Always or Never\n`,
    );
    return 2;
  }
  const logLevel = values['log-level'] ?? process.env['HERALD_LOG_LEVEL'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    process.stderr.write(`herald: invalid configuration: --log-level must be ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  const { createLogger } = await import('../observability/index.js');
  const logger = createLogger(logLevel, { component: 'operator' });
  const { Operator } = await import('../operator/index.js');
  const { loadKubeConfig } = await import('../kubernetes/index.js');
  const operator = new Operator({
    config: loadKubeConfig(),
    logger,
    image: values.image ?? process.env['HERALD_IMAGE'] ?? 'herald:0.1.0',
    imagePullPolicy: pullPolicy,
  });
  try {
    await operator.start();
  } catch (error) {
    logger.fatal({ err: error }, 'herald operator failed to start');
    return 1;
  }
  return new Promise<number>((resolve) => {
    const shutdown = () => void operator.stop().then(() => resolve(0));
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}

/**
 * Commands that parse their own arguments: the broker's flags come from the one configuration schema,
 * the operator's and `cesql eval`'s from their own small parsers. Commander lists them and passes the
 * arguments through untouched, so their flags, messages and exit codes stay exactly as they were.
 */
const MANIFESTS_USAGE = `Usage: herald manifests [--image <image>]

Prints the install manifests (namespace, CRDs, operator Deployment, RBAC) as YAML.

Examples:
  $ herald manifests | kubectl apply -f -
  $ herald manifests --image ghcr.io/example/herald:0.1.0 > herald.yaml
`;

/** `herald version`: the same fields as GET /version; the store kind from the broker options given. */
const VERSION_USAGE = `Usage: herald version [broker options]

Prints {"version", "commit", "node", "store"} as one JSON line; broker options (flags, HERALD_* variables,
--config) select the store it names, as they would for \`herald broker\`.

Example:
  herald version --store jetstream --nats-url nats://127.0.0.1:4222
`;

async function printVersion(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(VERSION_USAGE);
    return 0;
  }
  let store: string;
  try {
    store = loadBrokerConfig(args).store;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`herald: invalid configuration: ${problem}\n`);
    return 2;
  }
  const { versionInfo } = await import('../observability/index.js');
  process.stdout.write(JSON.stringify({ ...versionInfo(), store }) + '\n');
  return 0;
}

const PASS_THROUGH: Record<string, { description: string; run(args: string[]): Promise<number> }> = {
  broker: { description: 'run a broker (herald broker --help lists every option)', run: runBroker },
  operator: { description: 'run the Kubernetes operator (herald operator --help)', run: runOperator },
  manifests: {
    description: 'print the install manifests (namespace, CRDs, operator, RBAC) as YAML [--image I]',
    async run(rest) {
      const { parseArgs } = await import('node:util');
      let values;
      try {
        ({ values } = parseArgs({
          args: rest,
          options: { image: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
        }));
      } catch (error) {
        // Printing manifests anyway would hide the mistake in a pipe to `kubectl apply`.
        process.stderr.write(`herald: ${(error as Error).message}\n${MANIFESTS_USAGE}`);
        return 2;
      }
      if (values.help === true) {
        process.stdout.write(MANIFESTS_USAGE);
        return 0;
      }
      const { installYaml } = await import('../operator/index.js');
      process.stdout.write(installYaml(values.image ?? 'herald:0.1.0'));
      return 0;
    },
  },
  version: {
    description:
      'print {"version", "commit", "node", "store"} as one JSON line [broker options: the store they select]',
    run: printVersion,
  },
  cesql: {
    description: 'cesql eval --expression E [--event JSON]: evaluate a CloudEvents SQL expression',
    async run(rest) {
      // Loaded on demand so that `herald broker` does not pay for the CLI-only code path.
      const { runCesqlCommand } = await import('./cesql.js');
      return runCesqlCommand(
        rest,
        (line) => process.stdout.write(line + '\n'),
        (line) => process.stderr.write(line + '\n'),
      );
    },
  },
};

async function buildProgram(): Promise<Command> {
  const program = new Command('herald')
    .description('Herald: a durable, replayable CloudEvents broker, and its command-line client')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`herald: ${text.replace(/^error: /, '')}`),
    })
    .showHelpAfterError('(add --help for usage)');
  for (const [name, { description, run }] of Object.entries(PASS_THROUGH)) {
    program
      .command(name)
      .description(description)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(async (...args: unknown[]) => {
        process.exitCode = await run((args[args.length - 1] as Command).args);
      });
  }
  const client = await import('./client/index.js');
  // A refusal is printed in the command's output format (reportError runs after the action threw).
  program.hook('preAction', (_root, command) => {
    client.setCommandOutput(command.opts<{ output?: string }>().output);
  });
  client.registerPublish(program);
  client.registerTail(program);
  client.registerSubscriptions(program);
  client.registerDeadLetters(program);
  client.registerMatch(program);
  client.registerStatus(program);
  client.registerCompletion(program, {
    broker: [
      ...BROKER_OPTIONS.flatMap((option) =>
        option.kind === 'boolean' ? [`--${option.name}`, `--no-${option.name}`] : [`--${option.name}`],
      ),
      '--config',
    ],
    operator: ['--image', '--image-pull-policy', '--log-level'],
    manifests: ['--image'],
    cesql: ['--expression', '--event'],
  });
  program.addHelpText(
    'after',
    `
Client commands talk to a broker at --url (HERALD_URL, default http://localhost:8080) with --token (HERALD_TOKEN).
Exit status: 0 done, 1 the broker refused or could not be reached, 2 bad usage.

Examples:
  $ herald broker --port 8080
  $ herald publish --type com.example.order.created --source /shop --data '{"order": 42}'
  $ herald tail --from earliest --limit 10
  $ herald subscriptions list -o yaml`,
  );
  return program;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // The data and control planes never load the client's code (nor commander's program) to start.
  const passThrough = command === undefined ? undefined : PASS_THROUGH[command];
  if (passThrough !== undefined) return passThrough.run(rest);
  // `herald tail | head -3`: a closed pipe ends the command quietly instead of with a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const program = await buildProgram();
  const { reportError, EXIT } = await import('./client/index.js');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.done;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; every parse error (unknown command or option,
      // missing argument, bad choice) and help shown because of one is bad usage.
      return error.exitCode === 0 ? EXIT.done : EXIT.usage;
    }
    return reportError(error);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`herald: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
