/**
 * Versioned prompt templates. A template's id and version travel with every result, session and
 * fine-tuning file, so a figure can always be traced to the exact wording that produced it; a change of
 * wording is a new version, never an edit in place.
 *
 * Candidates are numbered in the base model's order: Chat-REC's ablation found that the recommender's own
 * ranking in the prompt carries much of the gain (removing its top-1 item cost 0.075 NDCG@5 on
 * MovieLens-100K). The answer is requested as JSON with a one-line-per-item text form as the fallback the
 * parser also reads.
 */
import type { ChatCatalog } from './catalog';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface PromptCandidate {
  itemIdx: number;
}

export interface RankPromptInput {
  catalog: ChatCatalog;
  profile: string;
  candidates: readonly PromptCandidate[];
  k: number;
}

export interface TurnPromptInput extends RankPromptInput {
  /** What the user asked in this turn. */
  request: string;
  /** The constraints in force, in words ("no Horror; released 1990-1999"). */
  constraints: string[];
  /** Earlier turns, oldest first (already trimmed to the budget). */
  previous: ChatMessage[];
}

export interface PromptTemplate<Input> {
  id: string;
  version: number;
  build(input: Input): ChatMessage[];
}

/** "rank-and-explain@1". */
export function templateTag(t: PromptTemplate<never>): string {
  return `${t.id}@${t.version}`;
}

/** "[3] Fargo (1996) | Crime, Drama, Thriller", one per line, numbered from 1 in the given order. */
export function candidateList(catalog: ChatCatalog, candidates: readonly PromptCandidate[]): string {
  return candidates
    .map((c, n) => {
      const genres = catalog.genresOf(c.itemIdx).filter((g) => g !== 'unknown');
      return `[${n + 1}] ${catalog.label(c.itemIdx)}${genres.length > 0 ? ` | ${genres.join(', ')}` : ''}`;
    })
    .join('\n');
}

const ANSWER_FORMAT = (k: number) =>
  [
    'Answer with JSON only, in exactly this form:',
    '{"recommendations": [{"candidate": <number from the list>, "title": "<title as listed>", "explanation": "<one sentence tied to this user\'s profile>"}]}',
    `List ${k} entries, best first. If you cannot write JSON, write one line per item instead: [number] Title — explanation`,
  ].join('\n');

const RULES = (k: number) =>
  `Choose the ${k} candidates this user is most likely to enjoy next. Use only the numbered candidates; never an item from the user's history; no item twice.`;

export const RANK_AND_EXPLAIN: PromptTemplate<RankPromptInput> = {
  id: 'rank-and-explain',
  version: 1,
  build({ catalog, profile, candidates, k }) {
    return [
      {
        role: 'system',
        content:
          'You are a recommender system. You re-rank candidate items for one user, using the user profile and history, and explain each choice in one sentence. You follow the answer format exactly.',
      },
      {
        role: 'user',
        content: [
          profile,
          '',
          `Candidates (${candidates.length}), in the order a collaborative-filtering model ranked them for this user:`,
          candidateList(catalog, candidates),
          '',
          RULES(k),
          ANSWER_FORMAT(k),
        ].join('\n'),
      },
    ];
  },
};

export const CONVERSATION_TURN: PromptTemplate<TurnPromptInput> = {
  id: 'conversation-turn',
  version: 1,
  build({ catalog, profile, candidates, k, request, constraints, previous }) {
    return [
      {
        role: 'system',
        content: [
          'You are a conversational recommender. You talk with one user about what to watch next, using their profile and history, and recommend only from the numbered candidates of each turn (they already respect the user\'s stated constraints).',
          'Reply with JSON only: {"message": "<a short conversational reply>", "recommendations": [{"candidate": <number>, "title": "<title as listed>", "explanation": "<one sentence>"}]}',
          '',
          profile,
        ].join('\n'),
      },
      ...previous,
      {
        role: 'user',
        content: [
          request,
          '',
          ...(constraints.length > 0 ? [`Constraints in force: ${constraints.join('; ')}.`] : []),
          `Candidates for this turn (${candidates.length}), in the recommender's order:`,
          candidateList(catalog, candidates),
          '',
          RULES(k),
          ANSWER_FORMAT(k),
        ].join('\n'),
      },
    ];
  },
};

export const PROMPT_TEMPLATES = { [RANK_AND_EXPLAIN.id]: RANK_AND_EXPLAIN, [CONVERSATION_TURN.id]: CONVERSATION_TURN } as const;
