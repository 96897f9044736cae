import { BadRequestException } from '@nestjs/common';

/**
 * What the acting-person rule needs of the caller's Principal (server/src/modules/auth/principal.ts):
 * a person's user or API token names its username; the administrator token names nobody.
 */
export interface ActingCaller {
  kind: 'user' | 'api-token' | 'admin-token';
  username: string;
}

/** A request body whose acting-person fields have been settled by actingPerson/requireActingPerson. */
export type Acted<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: string };

function signedInAs(caller: ActingCaller): string {
  return caller.kind === 'api-token' ? 'when calling with an API token' : 'when signed in';
}

/**
 * Who acts in a request workflow (files, approves, rejects, withdraws, revokes, changes): a person
 * signed in or holding an API token acts as themselves. Their body may leave the field out (it is
 * filled with their username) or repeat their own name (any case); naming someone else is refused,
 * so "the approver is not the requester" holds for real people, not for what a body claims. The
 * administrator token is the break-glass credential shared by whoever holds it, so its calls keep
 * naming the person in the body, as before users existed. Returns undefined only for an
 * administrator-token call that left an optional field out (the caller's default applies).
 */
export function actingPerson(caller: ActingCaller | undefined, field: string, given: string | undefined): string | undefined {
  const named = typeof given === 'string' && given.trim() !== '' ? given.trim() : undefined;
  if (caller === undefined || caller.kind === 'admin-token') return named;
  if (named === undefined || named.toLowerCase() === caller.username.toLowerCase()) return caller.username;
  throw new BadRequestException(`${field} must be your own username (${caller.username}) ${signedInAs(caller)}; leave it out to act as yourself`);
}

/** actingPerson for a field the workflow cannot do without: an administrator-token call must name the person. */
export function requireActingPerson(caller: ActingCaller | undefined, field: string, given: string | undefined): string {
  const person = actingPerson(caller, field, given);
  if (person === undefined) {
    throw new BadRequestException(`${field} must name the person who acts: the administrator token is shared and names nobody (users and API tokens act as themselves)`);
  }
  return person;
}
