import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeScriptLineError, parseFakeScriptLine } from '../../../../agent/src/sources/usb/parsers/fake-script.parser';

test('parses the three script operations of the contract', () => {
  assert.deepEqual(
    parseFakeScriptLine(
      '{"op":"attach","device":{"vendorId":"0781","productId":"5567","serial":"4C530001","manufacturer":"SanDisk","product":"Cruzer Blade","interfaceClasses":[8],"busPath":"1-2"}}',
      1,
    ),
    {
      op: 'attach',
      device: {
        vendorId: 0x0781,
        productId: 0x5567,
        serial: '4C530001',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: [8],
        busPath: '1-2',
        descriptorHash: '',
        serialQuality: 'SERIAL_QUALITY_UNSPECIFIED',
      },
    },
  );
  assert.deepEqual(parseFakeScriptLine('{"op":"detach","busPath":"1-2"}', 2), { op: 'detach', busPath: '1-2' });
  assert.deepEqual(parseFakeScriptLine('{"op":"sleep","ms":250}', 3), { op: 'sleep', ms: 250 });
  assert.equal(parseFakeScriptLine('   ', 4), null);
});

test('a bad line is reported with its line number and what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['{"op":"attach"', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['{"op":"explode"}', /unknown op "explode"/],
    ['{"op":"attach","device":{"vendorId":"10000","productId":"5567","busPath":"1-2"}}', /vendorId must be hex/],
    ['{"op":"attach","device":{"vendorId":"0781","productId":"zz","busPath":"1-2"}}', /productId must be hex/],
    ['{"op":"attach","device":{"vendorId":"0781","productId":"5567","busPath":"1-2","interfaceClasses":["8"]}}', /interfaceClasses/],
    ['{"op":"attach","device":{"vendorId":"0781","productId":"5567"}}', /busPath is required/],
    ['{"op":"detach"}', /busPath is required/],
    ['{"op":"sleep","ms":-1}', /sleep needs "ms"/],
  ];
  for (const [line, reason] of cases) {
    assert.throws(
      () => parseFakeScriptLine(line, 17),
      (error: unknown) => error instanceof FakeScriptLineError && error.lineNumber === 17 && reason.test(error.message) && /line 17/.test(error.message),
      line,
    );
  }
});
