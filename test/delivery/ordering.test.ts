import { describeOrderingScenarios } from './scenarios/ordering.js';
import { embeddedBroker } from './scenarios/factory.js';

describeOrderingScenarios('embedded', embeddedBroker);
