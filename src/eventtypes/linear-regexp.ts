import { RE2JS } from 're2js';
import { HeraldError } from '../errors/index.js';

/** What Ajv's `code.regExp` option takes (ajv/dist/types: RegExpEngine, RegExpLike). */
export interface LinearRegExp {
  test(input: string): boolean;
  toString(): string;
}

const FLAGS: Readonly<Record<string, number>> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  // RE2 always matches code points, which is what `u` asks of a JavaScript RegExp.
  u: 0,
};

/**
 * Compiles a JSON Schema `pattern` (or `patternProperties` key) for RE2, whose matching time is linear
 * in the input: V8's backtracking engine let one declared pattern such as `^(a+)+$` freeze the event
 * loop for minutes on a 35-character string any publisher could send. Patterns are unanchored, as
 * JSON Schema says: `test` finds a match anywhere, `^`/`$` anchor where written.
 *
 * Throws HERALD_INVALID_CONFIG for a pattern RE2 cannot run in linear time (backreferences, lookahead,
 * lookbehind) and for one that is not a valid JavaScript pattern either (as Ajv refused it before).
 */
export function linearRegExp(pattern: string, flags: string): LinearRegExp {
  let re2Flags = 0;
  for (const flag of flags) {
    const bit = FLAGS[flag];
    if (bit === undefined) throw refused(pattern, `the flag '${flag}' is not supported`);
    re2Flags |= bit;
  }
  try {
    // Only parsed, never run: JSON Schema patterns are ECMA-262 ones, so what JavaScript refuses
    // (e.g. `\e` with `u`) stays refused rather than meaning something else to RE2.
    new RegExp(pattern, flags);
  } catch (error) {
    throw refused(pattern, (error as Error).message);
  }
  // RE2JS's translation of JavaScript syntax reads `\k<name>` as the letter k: refused here instead.
  if (namedBackreference(pattern)) throw refused(pattern, 'backreferences (\\k<name>) need backtracking');
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(RE2JS.translateRegExp(propertyNamesForRe2(pattern)), re2Flags);
  } catch (error) {
    throw refused(pattern, (error as Error).message);
  }
  const text = `/${pattern}/${flags}`;
  return {
    test: (input: string) => compiled.test(input),
    // Ajv keys its compiled patterns by this text: distinct patterns must not share it.
    toString: () => text,
  };
}

/** Ajv writes `code` into standalone validation code only, which Herald does not generate. */
linearRegExp.code = 'linearRegExp';

function refused(pattern: string, why: string): HeraldError {
  return new HeraldError(
    'HERALD_INVALID_CONFIG',
    `the pattern ${JSON.stringify(pattern)} is refused: ${why} (patterns are matched by RE2, in linear time: no backreferences, lookahead or lookbehind)`,
  );
}

/** True when `pattern` has `\k` outside an escape (in a valid `u` pattern, always a backreference). */
function namedBackreference(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '\\') continue;
    if (pattern[i + 1] === 'k') return true;
    i++; // the escaped character
  }
  return false;
}

/** JavaScript's long General_Category names, and the short ones RE2 knows them by. */
const CATEGORIES: Readonly<Record<string, string>> = {
  Letter: 'L',
  Uppercase_Letter: 'Lu',
  Lowercase_Letter: 'Ll',
  Titlecase_Letter: 'Lt',
  Modifier_Letter: 'Lm',
  Other_Letter: 'Lo',
  Mark: 'M',
  Combining_Mark: 'M',
  Nonspacing_Mark: 'Mn',
  Spacing_Mark: 'Mc',
  Enclosing_Mark: 'Me',
  Number: 'N',
  Decimal_Number: 'Nd',
  digit: 'Nd',
  Letter_Number: 'Nl',
  Other_Number: 'No',
  Punctuation: 'P',
  punct: 'P',
  Connector_Punctuation: 'Pc',
  Dash_Punctuation: 'Pd',
  Open_Punctuation: 'Ps',
  Close_Punctuation: 'Pe',
  Initial_Punctuation: 'Pi',
  Final_Punctuation: 'Pf',
  Other_Punctuation: 'Po',
  Symbol: 'S',
  Math_Symbol: 'Sm',
  Currency_Symbol: 'Sc',
  Modifier_Symbol: 'Sk',
  Other_Symbol: 'So',
  Separator: 'Z',
  Space_Separator: 'Zs',
  Line_Separator: 'Zl',
  Paragraph_Separator: 'Zp',
  Other: 'C',
  Control: 'Cc',
  cntrl: 'Cc',
  Format: 'Cf',
  Surrogate: 'Cs',
  Private_Use: 'Co',
};

/**
 * Rewrites JavaScript's Unicode property escapes into RE2's: `\p{Script=Greek}` (or `sc=`) is RE2's
 * `\p{Greek}`, `\p{General_Category=Letter}` (or `gc=`) and `\p{Letter}` are `\p{L}`. Others are left
 * for RE2, which knows most binary properties (`\p{Emoji}`) and refuses the rest (`\p{ASCII}`, `scx=`).
 */
function propertyNamesForRe2(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] ?? '';
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = pattern[i + 1] ?? '';
    const close = pattern.indexOf('}', i);
    if ((next === 'p' || next === 'P') && pattern[i + 2] === '{' && close > 0) {
      const [name = '', value] = pattern.slice(i + 3, close).split('=');
      const property =
        value === undefined
          ? (CATEGORIES[name] ?? name)
          : name === 'Script' || name === 'sc'
            ? value
            : name === 'General_Category' || name === 'gc'
              ? (CATEGORIES[value] ?? value)
              : `${name}=${value}`;
      out += `\\${next}{${property}}`;
      i = close;
      continue;
    }
    out += char + next;
    i++;
  }
  return out;
}
