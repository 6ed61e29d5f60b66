#!/usr/bin/env node
import { Broker } from '../broker/index.js';
import { brokerHelp, ConfigError, loadBrokerConfig } from '../config/index.js';
import { isHeraldError } from '../errors/index.js';
import { createLogger } from '../observability/index.js';

const USAGE = `Usage: herald <command> [options]

Commands:
  broker                 run a broker (herald broker --help for its options)
  operator               run the Kubernetes operator (herald operator --help)
  manifests [--image I]  print the install manifests (namespace, CRDs, operator, RBAC) as YAML
  cesql eval --expression E [--event JSON]
                         evaluate a CloudEvents SQL expression and print {"value", "error"}
  help                   show this help`;

async function runBroker(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(brokerHelp() + '\n');
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
      broker.stop().then(
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

const OPERATOR_USAGE = `Usage: herald operator [options]

Runs the Kubernetes operator: turns Broker and Channel resources into broker workloads.
Connects with the in-cluster service account, or KUBECONFIG / ~/.kube/config.

Options:
  --image <image>          image of broker workloads [HERALD_IMAGE] (default herald:0.1.0)
  --image-pull-policy <p>  IfNotPresent, Always or Never [HERALD_IMAGE_PULL_POLICY] (default IfNotPresent)
  --log-level <level>      trace, debug, info, warn, error [HERALD_LOG_LEVEL] (default info)
  --help                   show this help`;

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
  const logger = createLogger(values['log-level'] ?? process.env['HERALD_LOG_LEVEL'] ?? 'info', {
    component: 'operator',
  });
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'broker':
      return runBroker(rest);
    case 'operator':
      return runOperator(rest);
    case 'manifests': {
      const { installYaml } = await import('../operator/index.js');
      const image = rest[0] === '--image' && rest[1] !== undefined ? rest[1] : 'herald:0.1.0';
      process.stdout.write(installYaml(image));
      return 0;
    }
    case 'cesql': {
      // Loaded on demand so that `herald broker` does not pay for the CLI-only code path.
      const { runCesqlCommand } = await import('./cesql.js');
      return runCesqlCommand(
        rest,
        (line) => process.stdout.write(line + '\n'),
        (line) => process.stderr.write(line + '\n'),
      );
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return 0;
    default:
      process.stderr.write(`herald: unknown command ${JSON.stringify(command ?? '')}\n${USAGE}\n`);
      return 2;
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
