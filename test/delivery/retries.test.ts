import { describeRetryScenarios } from './scenarios/retries.js';
import { embeddedBroker } from './scenarios/factory.js';

describeRetryScenarios('embedded', embeddedBroker);
