import { Page } from '../../ui';
export function ViolationDetailPage({ id }: { id: string }) {
  return <Page title={`Violation ${id}`} />;
}
