export { Ingress } from './ingress.js';
export type { IngressOptions, IngressRequestOptions } from './ingress.js';
