/**
 * Reading an LLM's answer into entries, before any entry is mapped to an item. The prompts ask for JSON
 * ({"recommendations": [{"candidate": 3, "title": "...", "explanation": "..."}]}); models wrap it in code
 * fences, add prose around it, use other key names, or ignore the request and write a numbered list. The
 * JSON reader is lenient (JSON5: trailing commas, single quotes) and the plain-text reader takes one entry
 * per list line. What cannot be read as an entry is counted, never guessed.
 */
import JSON5 from 'json5';

/** One item the answer names, as written. */
export interface AnswerEntry {
  /** The candidate's number in the prompt's list ("[3]", "candidate": 3). */
  candidate?: number;
  /** A raw catalog id, when the answer gives one ("id": "50"). */
  id?: string;
  /**
   * Ways to read the entry as a title and an explanation, longest title first: "Star Trek: First Contact
   * (1996): great" -> the whole line, then the part before each separator with the rest as explanation.
   * The first reading whose title names an item is the one taken.
   */
  readings: TitleReading[];
  /** The explanation when the entry is taken by its number or id (a JSON "explanation", or the text after "[3]"). */
  explanation?: string;
  /** The entry as it appeared (a JSON entry re-serialised, or the line). */
  raw: string;
  /**
   * Whether the answer presents it as a list entry (JSON, or a numbered / bulleted line). A bare line of an
   * answer without any list may be prose; if it names no item it counts as unparsed, not as an invented item.
   */
  listed: boolean;
}

export interface TitleReading {
  title: string;
  explanation?: string;
}

export interface ParsedAnswer {
  format: 'json' | 'text' | 'empty';
  entries: AnswerEntry[];
  /** Entries or lines that name no item at all (no title, number or id could be read). */
  unparsed: string[];
  /** A conversational message outside the list, when the answer has one ("message" in JSON, prose in text). */
  message?: string;
}

/** Keys under which answers put their list. */
const LIST_KEYS = ['recommendations', 'items', 'ranking', 'ranked', 'results', 'movies', 'list', 'candidates'];
/** Keys holding the prompt's list number (never the model's own rank). */
const CANDIDATE_KEYS = ['candidate', 'index', 'number', 'no', 'num', 'n'];
const ID_KEYS = ['id', 'item_id', 'itemId'];
const TITLE_KEYS = ['title', 'name', 'movie', 'item'];
const EXPLANATION_KEYS = ['explanation', 'reason', 'why', 'because', 'rationale'];
const MESSAGE_KEYS = ['message', 'reply', 'response', 'comment'];

/** Separators between a title and an explanation on one line, strongest first. */
const SEPARATORS = [' — ', ' – ', ' - ', ' | ', ': '];

function pick(object: Record<string, unknown>, keys: string[]): unknown {
  for (const key of keys) {
    for (const k of Object.keys(object)) if (k.toLowerCase() === key.toLowerCase()) return object[k];
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() || undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** The first JSON value in the answer: a fenced block, the whole text, or the outermost {...} / [...]. */
function findJson(answer: string): unknown {
  const attempts: string[] = [];
  const fence = /```(?:json5?|JSON)?\s*\n?([\s\S]*?)```/.exec(answer);
  if (fence) attempts.push(fence[1]);
  attempts.push(answer);
  for (const [open, close] of [
    ['{', '}'],
    ['[', ']'],
  ]) {
    const start = answer.indexOf(open);
    const end = answer.lastIndexOf(close);
    // A JSON block stands on lines of its own; "[4] Fargo" is a list line, not the array [4].
    const ownLines = start !== -1 && (start === 0 || answer[start - 1] === '\n') && /^\s*(\n|$)/.test(answer.slice(end + 1));
    if (start !== -1 && end > start && ownLines) attempts.push(answer.slice(start, end + 1));
  }
  for (const attempt of attempts) {
    const trimmed = attempt.trim();
    if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) continue;
    try {
      return JSON5.parse(trimmed);
    } catch {
      // try the next reading
    }
  }
  return undefined;
}

/** Title readings of a text: the whole, then the part before each separator (longest first). */
function titleReadings(body: string, explanation?: string): TitleReading[] {
  const unquote = (t: string) => t.replace(/^["“”']+|["“”']+$/g, '').trim();
  const cleaned = unquote(body.replace(/\*\*|__/g, ''));
  const readings: TitleReading[] = cleaned.length > 0 ? [{ title: cleaned, ...(explanation ? { explanation } : {}) }] : [];
  for (const sep of SEPARATORS) {
    for (let at = cleaned.indexOf(sep); at > 0; at = cleaned.indexOf(sep, at + sep.length)) {
      const title = unquote(cleaned.slice(0, at));
      const rest = cleaned.slice(at + sep.length).trim();
      if (title.length > 0 && !readings.some((r) => r.title === title)) {
        readings.push({ title, ...(explanation || rest ? { explanation: explanation ?? rest } : {}) });
      }
    }
  }
  return readings.sort((a, b) => b.title.length - a.title.length);
}

function entryFromObject(value: Record<string, unknown>): AnswerEntry | undefined {
  const candidateValue = pick(value, CANDIDATE_KEYS);
  const candidate = typeof candidateValue === 'number' ? candidateValue : typeof candidateValue === 'string' && /^\s*\[?\d+\]?\s*$/.test(candidateValue) ? Number(candidateValue.replace(/[[\]\s]/g, '')) : undefined;
  const id = text(pick(value, ID_KEYS));
  const title = text(pick(value, TITLE_KEYS));
  const explanation = text(pick(value, EXPLANATION_KEYS));
  if (candidate === undefined && id === undefined && title === undefined) return undefined;
  return {
    ...(candidate !== undefined && Number.isInteger(candidate) ? { candidate } : {}),
    ...(id !== undefined ? { id } : {}),
    readings: title !== undefined ? titleReadings(title, explanation) : [],
    ...(explanation !== undefined ? { explanation } : {}),
    raw: JSON.stringify(value),
    listed: true,
  };
}

/** "[3] Title — why", "3. Title - why", "- **Title** (1994): why", or a bare title line. */
function entryFromLine(line: string, listed: boolean): AnswerEntry | undefined {
  let body = line.trim();
  let candidate: number | undefined;
  const bracket = /^(?:[-*•]\s*)?(?:\d+[.)]\s*)?\[(\d+)\]\s*[.:)-]?\s*/.exec(body);
  if (bracket) {
    candidate = Number(bracket[1]);
    body = body.slice(bracket[0].length);
  } else {
    // "1." / "1)" / "#1" / "-" / "*" / "•": the model's own ordinal or a bullet, not a candidate number.
    body = body.replace(/^(?:#?\d+[.)]|[-*•])\s+/, '');
  }
  const readings = titleReadings(body);
  if (readings.length === 0 && candidate === undefined) return undefined;
  return {
    ...(candidate !== undefined ? { candidate } : {}),
    readings,
    ...(readings.length > 0 ? { explanation: readings[readings.length - 1].explanation ?? undefined } : {}),
    raw: line.trim(),
    listed: listed || candidate !== undefined,
  };
}

const LIST_LINE = /^\s*(?:[-*•]\s+|#?\d+[.)]\s+|\[\d+\])/;

export function parseAnswer(answer: string): ParsedAnswer {
  const content = answer.trim();
  if (content.length === 0) return { format: 'empty', entries: [], unparsed: [] };
  const json = findJson(content);
  if (json !== undefined) {
    let list: unknown = json;
    let message: string | undefined;
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
      const object = json as Record<string, unknown>;
      message = text(pick(object, MESSAGE_KEYS));
      list = pick(object, LIST_KEYS);
      if (list === undefined) list = entryFromObject(object) ? [object] : [];
    }
    if (Array.isArray(list)) {
      const entries: AnswerEntry[] = [];
      const unparsed: string[] = [];
      for (const value of list) {
        let entry: AnswerEntry | undefined;
        if (typeof value === 'number' && Number.isInteger(value)) entry = { candidate: value, readings: [], raw: String(value), listed: true };
        else if (typeof value === 'string') entry = entryFromLine(value, true);
        else if (value !== null && typeof value === 'object' && !Array.isArray(value)) entry = entryFromObject(value as Record<string, unknown>);
        if (entry) entries.push(entry);
        else unparsed.push(JSON.stringify(value) ?? String(value));
      }
      return { format: 'json', entries, unparsed, ...(message ? { message } : {}) };
    }
  }
  const lines = content.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0 && !/^```/.test(l));
  const listLines = lines.filter((l) => LIST_LINE.test(l));
  // With list lines present, other lines are prose around the list; without, each line is meant as an item.
  const itemLines = listLines.length > 0 ? listLines : lines;
  const prose = listLines.length > 0 ? lines.filter((l) => !LIST_LINE.test(l)) : [];
  const entries: AnswerEntry[] = [];
  const unparsed: string[] = [];
  for (const line of itemLines) {
    const entry = entryFromLine(line, listLines.length > 0);
    if (entry) entries.push(entry);
    else unparsed.push(line);
  }
  return { format: 'text', entries, unparsed, ...(prose.length > 0 ? { message: prose.join('\n') } : {}) };
}
