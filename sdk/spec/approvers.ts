/** Who may approve, expanded from a policy. Free of zod: workflows import it (see `workflows/pipeline/lazy-schemas.ts`). */

/** Expands `group:<name>` references into lowercase emails, without duplicates. */
export function expandApprovers(
  approvers: readonly string[],
  groups: Readonly<Record<string, readonly string[]>>,
): string[] {
  const out = new Set<string>();
  for (const a of approvers) {
    for (const email of a.startsWith('group:') ? (groups[a.slice(6)] ?? []) : [a]) out.add(email.toLowerCase());
  }
  return [...out];
}
