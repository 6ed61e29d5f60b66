#!/usr/bin/env node
import { Broker } from '../broker/index.js';
import { brokerHelp, ConfigError, loadBrokerConfig } from '../config/index.js';
import { createLogger } from '../observability/index.js';

const USAGE = `Usage: herald <command> [options]

Commands:
  broker                 run a broker (herald broker --help for its options)
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
  let broker: Broker;
  try {
    broker = await Broker.start({ config, logger });
  } catch (error) {
    logger.fatal({ err: error }, 'herald broker failed to start');
    process.stderr.write(`herald: ${(error as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutdown requested');
      broker.stop().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'broker':
      return runBroker(rest);
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
