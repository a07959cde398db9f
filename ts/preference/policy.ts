/**
 * LLM-Rec's "adaptive update frequency by activity level" (Shang et al. 2024, §3.2) as a policy for
 * live profile updates. Folding an event into a profile is O(d) and always happens at once
 * (./profiles); what the policy decides is when the user's *served* vector (the fused vector that
 * recommendations are scored with, an O(d^2) projection) is refreshed:
 *
 * - 'immediate': after every update;
 * - 'adaptive' (default): when the events folded since the last refresh carry at least
 *   ADAPTIVE_REFRESH_SHARE of the profile's total weight, or ADAPTIVE_MAX_PENDING events have
 *   accumulated. A light user (a short history) moves a lot with each event and is refreshed on every
 *   one; a heavy user's profile barely moves per event, so the refresh waits until the pending events
 *   matter together: about every ADAPTIVE_REFRESH_SHARE x history length events.
 *
 * The served vector is therefore never further from the exact profile than ADAPTIVE_REFRESH_SHARE of its
 * weight. Pending weight is counted at the time of folding (not decayed further), which refreshes
 * slightly early, never late.
 */
export type UpdatePolicyName = 'immediate' | 'adaptive';
export const UPDATE_POLICIES: readonly UpdatePolicyName[] = ['immediate', 'adaptive'];

/** Share of a profile's weight that pending events may carry before the served vector is refreshed. */
export const ADAPTIVE_REFRESH_SHARE = 0.05;
/** Pending events after which the served vector is refreshed whatever their weight. */
export const ADAPTIVE_MAX_PENDING = 32;

export class RefreshPolicy {
  private readonly pendingWeight = new Map<number, number>();
  private readonly pendingEvents = new Map<number, number>();

  constructor(readonly policy: UpdatePolicyName) {}

  /**
   * Records `events` folded into user u's profile, carrying `weight` of a profile now weighing `total`;
   * true when the served vector must be refreshed now (the pending count is then cleared).
   */
  shouldRefresh(u: number, events: number, weight: number, total: number): boolean {
    const w = (this.pendingWeight.get(u) ?? 0) + weight;
    const n = (this.pendingEvents.get(u) ?? 0) + events;
    const refresh = this.policy === 'immediate' || n >= ADAPTIVE_MAX_PENDING || !(total > 0) || w >= ADAPTIVE_REFRESH_SHARE * total;
    if (refresh) this.clear(u);
    else {
      this.pendingWeight.set(u, w);
      this.pendingEvents.set(u, n);
    }
    return refresh;
  }

  /** Events folded into u's profile but not yet in its served vector. */
  pending(u: number): number {
    return this.pendingEvents.get(u) ?? 0;
  }

  /** Users with pending events. */
  users(): number[] {
    return [...this.pendingEvents.keys()];
  }

  clear(u: number): void {
    this.pendingWeight.delete(u);
    this.pendingEvents.delete(u);
  }
}
