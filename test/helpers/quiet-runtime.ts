/** Test processes log warnings and errors only: Core's connection retries during fault tests are expected. */
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';

Runtime.install({
  logger: new DefaultLogger(process.env.MLOPS_TEST_LOG_LEVEL === 'info' ? 'INFO' : 'WARN'),
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
});
