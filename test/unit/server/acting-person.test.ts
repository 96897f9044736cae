import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { actingPerson, type ActingCaller, requireActingPerson } from '../../../server/src/common/acting-person';

const alice: ActingCaller = { kind: 'user', username: 'alice' };
const script: ActingCaller = { kind: 'api-token', username: 'bob' };
const adminToken: ActingCaller = { kind: 'admin-token', username: 'administrator' };

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof BadRequestException, `expected a 400, got ${String(error)}`);
    return (error.getResponse() as { message: string }).message;
  }
  assert.fail('the call was accepted');
}

describe('the acting person of a request workflow', () => {
  test('a signed-in user acts as themselves: a body that leaves the field out, or names them in any case, gets their username', () => {
    assert.equal(requireActingPerson(alice, 'approvedBy', undefined), 'alice');
    assert.equal(requireActingPerson(alice, 'approvedBy', ''), 'alice');
    assert.equal(requireActingPerson(alice, 'approvedBy', ' Alice '), 'alice');
    assert.equal(actingPerson(alice, 'withdrawnBy', undefined), 'alice');
  });

  test('a signed-in user naming someone else is refused with the field and their own username', () => {
    assert.equal(refusal(() => requireActingPerson(alice, 'approvedBy', 'Taro Suzuki')), 'approvedBy must be your own username (alice) when signed in; leave it out to act as yourself');
    assert.match(refusal(() => actingPerson(alice, 'changedBy', 'admin')), /^changedBy must be your own username \(alice\)/);
  });

  test('an API token acts as the user it belongs to', () => {
    assert.equal(requireActingPerson(script, 'requestedBy', undefined), 'bob');
    assert.equal(refusal(() => requireActingPerson(script, 'requestedBy', 'alice')), 'requestedBy must be your own username (bob) when calling with an API token; leave it out to act as yourself');
  });

  test('the administrator token keeps the name the body gives, and must give one where the workflow needs a person', () => {
    assert.equal(requireActingPerson(adminToken, 'approvedBy', '  Taro Suzuki '), 'Taro Suzuki');
    assert.equal(actingPerson(adminToken, 'changedBy', undefined), undefined, 'an optional field keeps its default');
    assert.match(refusal(() => requireActingPerson(adminToken, 'approvedBy', undefined)), /^approvedBy must name the person who acts: the administrator token is shared/);
  });
});
