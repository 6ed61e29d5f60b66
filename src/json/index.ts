export { closingQuote, topLevelMemberSpan } from './scan.js';
