import { useApi } from '../../api/client';

/** A person violations can be assigned to (an enabled user holding the role security). */
export interface AssigneeOption {
  username: string;
  displayName: string;
}

/** The people the feed's filter and the triage panel offer (GET /violations/assignees); empty while loading or refused. */
export function useAssignees(): AssigneeOption[] {
  const list = useApi<{ items: AssigneeOption[] }>('/violations/assignees');
  return list.data?.items ?? [];
}
