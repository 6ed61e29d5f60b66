// SPDX-License-Identifier: Apache-2.0
import type { CesqlNode } from './ast.js';
import { childrenOf } from './ast.js';
import { CesqlParseError, positionAt } from './errors.js';

/**
 * Static bounds on what one expression may cost per event. Each is checked at compile time, so an
 * expression that could stall evaluation is refused before it is ever evaluated.
 */
export interface CostLimits {
  /** Most nodes (operators, operands, calls, literals) in the tree. */
  readonly maxNodes: number;
  /** Most LIKE patterns. */
  readonly maxLikePatterns: number;
  /** Deepest nesting of function calls: `LOWER(x)` is 1, `CONCAT(LOWER(x))` is 2. */
  readonly maxCallDepth: number;
}

/**
 * Thrown by {@link compile} when an expression is valid CESQL but exceeds a {@link CostLimits} bound.
 * It is a parse error to the CESQL error model (the expression is refused before evaluation), with
 * the position of the node that crossed the bound.
 */
export class CesqlCostError extends CesqlParseError {
  constructor(
    detail: string,
    position: ReturnType<typeof positionAt>,
    /** Which bound: `nodes`, `likePatterns` or `callDepth`. */
    readonly limit: 'nodes' | 'likePatterns' | 'callDepth',
  ) {
    super(detail, position);
    this.name = 'CesqlCostError';
  }
}

/**
 * Walks the tree without recursion and throws at the first node that crosses a bound; returns the
 * number of nodes (so that a caller can bound several expressions together).
 */
export function checkCost(source: string, tree: CesqlNode, limits: CostLimits): number {
  let nodes = 0;
  let likes = 0;
  const stack: Array<[CesqlNode, number]> = [[tree, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [node, callDepth] = entry;
    nodes++;
    if (nodes > limits.maxNodes) {
      throw new CesqlCostError(
        `the expression has more than ${limits.maxNodes} operators, operands and calls`,
        positionAt(source, node.offset),
        'nodes',
      );
    }
    if (node.kind === 'like' && ++likes > limits.maxLikePatterns) {
      throw new CesqlCostError(
        `the expression has more than ${limits.maxLikePatterns} LIKE patterns`,
        positionAt(source, node.offset),
        'likePatterns',
      );
    }
    const depth = node.kind === 'call' ? callDepth + 1 : callDepth;
    if (depth > limits.maxCallDepth) {
      throw new CesqlCostError(
        `function calls nest deeper than ${limits.maxCallDepth} levels`,
        positionAt(source, node.offset),
        'callDepth',
      );
    }
    const children = childrenOf(node);
    // Pushed in reverse so that the first node over a bound is the leftmost one.
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i] as CesqlNode, depth]);
  }
  return nodes;
}
