import { describeReplayScenarios } from './scenarios/replay.js';
import { embeddedBroker } from './scenarios/factory.js';

describeReplayScenarios('embedded', embeddedBroker);
