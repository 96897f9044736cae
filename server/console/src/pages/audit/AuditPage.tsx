import { Page } from '../../ui';
export function AuditPage() {
  return <Page title="Audit log" />;
}
