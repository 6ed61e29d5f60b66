import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { CloudEvent } from '../cloudevents/index.js';
import { compileSqlExpression, compileSqlFilter } from '../filters/index.js';

export const ACTIONS = ['publish', 'subscribe', 'read', 'admin'] as const;
/** What a request does: `admin` covers everything, including other principals' subscriptions. */
export type Action = (typeof ACTIONS)[number];

/** One rule as written in a policy file or an EventPolicy's spec. */
export const policyRuleSchema = z.strictObject({
  principals: z.array(z.string().min(1)).min(1),
  actions: z.array(z.enum(ACTIONS)).min(1),
  filter: z.string().min(1).optional(),
});
export type PolicyRule = z.infer<typeof policyRuleSchema>;

export const policyDocumentSchema = z.strictObject({ rules: z.array(policyRuleSchema) });

interface CompiledRule {
  readonly principals: readonly RegExp[];
  readonly actions: ReadonlySet<Action>;
  readonly matches: ((event: CloudEvent) => boolean) | undefined;
}

/** `*` matches any run of characters (including `:`), `?` one character; everything else literally. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/**
 * Compiles rules; returns one problem per bad rule (a filter that does not compile names the rule and
 * the CESQL position) instead of throwing at the first.
 */
export function compileRules(
  rules: readonly unknown[],
  origin: string,
): { rules: CompiledRule[]; problems: string[] } {
  const compiled: CompiledRule[] = [];
  const problems: string[] = [];
  rules.forEach((raw, index) => {
    const parsed = policyRuleSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const where = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
        problems.push(`${origin}: rules[${index}]${where}: ${issue.message}`);
      }
      return;
    }
    const rule = parsed.data;
    let matches: CompiledRule['matches'];
    if (rule.filter !== undefined) {
      if (!rule.actions.includes('publish')) {
        problems.push(
          `${origin}: rules[${index}].filter: applies to publish, and this rule does not allow publish`,
        );
        return;
      }
      try {
        matches = compileSqlExpression(rule.filter, `/rules/${index}/filter`, compileSqlFilter).matches;
      } catch (error) {
        problems.push(`${origin}: rules[${index}].filter: ${(error as Error).message}`);
        return;
      }
    }
    compiled.push({
      principals: rule.principals.map(globToRegExp),
      actions: new Set(rule.actions),
      matches,
    });
  });
  return { rules: compiled, problems };
}

/** Parses and compiles a policy file's text. */
export function parsePolicyFile(text: string, file: string): { rules: CompiledRule[]; problems: string[] } {
  let document: unknown;
  try {
    document = parseYaml(text) as unknown;
  } catch (error) {
    return { rules: [], problems: [`${file}: ${(error as Error).message.split('\n')[0]}`] };
  }
  const shape = z.strictObject({ rules: z.array(z.unknown()) }).safeParse(document);
  if (!shape.success) return { rules: [], problems: [`${file}: must be a YAML mapping with a rules: list`] };
  return compileRules(shape.data.rules, file);
}

export type Defaults = 'allow-all' | 'allow-authenticated' | 'deny';

/**
 * The rules in force: the policy file's and those of each EventPolicy resource, kept by source so a
 * resource can be replaced or removed alone. With no rule at all, `defaults` decides.
 */
export class PolicySet {
  private readonly sources = new Map<string, readonly CompiledRule[]>();
  /** Sources whose rules are not known yet (see `awaiting`). */
  private readonly unread = new Set<string>();

  constructor(private readonly defaults: Defaults) {}

  /**
   * `source` has rules not read yet (the EventPolicy resources before their first list): until `read`,
   * no default applies (what the rules known grant is allowed, nothing else), and `settled` is false,
   * so a refusal meanwhile is "not ready", not final.
   */
  awaiting(source: string): void {
    this.unread.add(source);
  }

  read(source: string): void {
    this.unread.delete(source);
  }

  /** Whether every source's rules are known: a refusal now is the rules' answer. */
  get settled(): boolean {
    return this.unread.size === 0;
  }

  set(source: string, rules: readonly CompiledRule[]): void {
    this.sources.set(source, rules);
  }

  remove(source: string): void {
    this.sources.delete(source);
  }

  private get configured(): boolean {
    return this.sources.size > 0 || this.unread.size > 0;
  }

  private *rulesFor(principal: string, action: Action): Generator<CompiledRule> {
    for (const rules of this.sources.values()) {
      for (const rule of rules) {
        if (!rule.actions.has(action) && !rule.actions.has('admin')) continue;
        if (rule.principals.some((p) => p.test(principal))) yield rule;
      }
    }
  }

  /** May `principal` do `action` at all (for publish: at least some events)? */
  allows(principal: string, action: Action): boolean {
    if (!this.configured) return this.byDefault(action);
    for (const _rule of this.rulesFor(principal, action)) return true;
    return false;
  }

  /** Does a rule allow `principal` to publish this event (rule filters applied)? */
  allowsEvent(principal: string, event: CloudEvent): boolean {
    if (!this.configured) return this.byDefault('publish');
    for (const rule of this.rulesFor(principal, 'publish')) {
      if (rule.actions.has('admin') || rule.matches === undefined || rule.matches(event)) return true;
    }
    return false;
  }

  private byDefault(action: Action): boolean {
    if (this.defaults === 'allow-all') return true;
    if (this.defaults === 'deny') return false;
    return action !== 'admin';
  }
}
