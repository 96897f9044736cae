/** A status shown as a small coloured label. The tone follows the status name; `label` is the translated text. */
const TONES: Record<string, 'attention' | 'progress' | 'done' | 'muted' | 'danger'> = {
  open: 'attention',
  pending: 'attention',
  requested: 'attention',
  acknowledged: 'progress',
  assigned: 'progress',
  active: 'done',
  approved: 'done',
  resolved: 'done',
  enrolled: 'done',
  ok: 'done',
  false_positive: 'muted',
  expired: 'muted',
  withdrawn: 'muted',
  retired: 'muted',
  revoked: 'danger',
  rejected: 'danger',
  critical: 'danger',
  high: 'danger',
  medium: 'attention',
  low: 'muted',
  info: 'muted',
  broken: 'danger',
};

export function StatusBadge({ status, label, testId }: { status: string; label?: string; testId?: string }) {
  const tone = TONES[status] ?? 'muted';
  return (
    <span className={`badge badge-${tone}`} data-status={status} data-testid={testId}>
      {label ?? status.replace(/_/g, ' ')}
    </span>
  );
}
