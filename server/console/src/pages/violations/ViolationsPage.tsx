import { Page } from '../../ui';
export function ViolationsPage() {
  return <Page title="Violations" />;
}
