export { Ingress } from './ingress.js';
export type { IngressOptions, IngressRequestOptions } from './ingress.js';
export type { IngressHook } from './hooks.js';
