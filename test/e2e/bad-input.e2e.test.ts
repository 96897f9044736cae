import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { suiteScope } from '../support/cleanup-scope';
import { CollectorUnderTest } from './support/cluster';
import { checkHealth, enrollDirectly } from './support/grpc-clients';
import { fetchPresentedCa } from './support/pki';
import { grpcFrame, rawGrpcCall } from './support/raw-grpc';

const METHODS = [
  '/mamori.v1.EnrollmentService/Enroll',
  '/mamori.v1.TelemetryService/UploadEvents',
  '/mamori.v1.TelemetryService/Heartbeat',
  '/mamori.v1.PolicyService/GetPolicy',
  '/mamori.v1.PolicyService/WatchPolicy',
];

// Protobuf tag byte 0x0f declares field 1 with wire type 7, which does not exist: no parser
// can read these bytes as any message, so the collector must refuse them, whatever the RPC.
const UNPARSEABLE = Buffer.concat([Buffer.from([0x0f]), Buffer.from('not a protobuf message at all', 'utf8')]);

describe('garbage and oversized messages on every RPC', () => {
  const scope = suiteScope();
  let collector: CollectorUnderTest;
  let tls: { caPem: string; certPem: string; privateKeyPem: string };

  before(async () => {
    const started = await CollectorUnderTest.start(scope, 'sqlite');
    assert.ok(started);
    collector = started;
    const ca = await fetchPresentedCa(collector.grpcAddress);
    const { token } = await collector.createEnrollmentToken();
    const enrolled = await enrollDirectly(collector.grpcAddress, ca.pem, token);
    assert.ok(enrolled.identity, String(enrolled.error?.details));
    tls = { caPem: ca.pem, ...enrolled.identity };
  });
  after(() => scope.cleanup());

  for (const method of METHODS) {
    test(`${method}: bytes that are not a protobuf message get a clear error and the collector keeps serving`, async () => {
      const result = await rawGrpcCall(collector.grpcAddress, method, grpcFrame(UNPARSEABLE), tls);
      assert.notEqual(result.grpcStatus, null, 'a gRPC status came back');
      assert.notEqual(result.grpcStatus, GrpcStatus.OK);
      assert.ok(result.grpcMessage.length > 0, 'the error says what was wrong');
      assert.equal(await checkHealth(collector.grpcAddress, tls.caPem), 'SERVING');
    });

    test(`${method}: a frame whose length prefix lies gets an error and the collector keeps serving`, async () => {
      const result = await rawGrpcCall(collector.grpcAddress, method, grpcFrame(Buffer.from([0x0a, 0x01]), 1_000), tls);
      assert.notEqual(result.grpcStatus, null, 'a gRPC status came back, not a dropped connection');
      assert.notEqual(result.grpcStatus, GrpcStatus.OK);
      assert.ok(result.grpcMessage.length > 0, 'the error says what was wrong');
      assert.equal(await checkHealth(collector.grpcAddress, tls.caPem), 'SERVING');
    });

    test(`${method}: a message over the size limit is refused with RESOURCE_EXHAUSTED`, async () => {
      // Field 1 as a 5 MiB length-delimited string: well-formed, just too big (limit 4 MiB).
      const size = 5 * 1024 * 1024;
      const varint: number[] = [];
      for (let n = size; ; n >>>= 7) {
        if (n < 0x80) { varint.push(n); break; }
        varint.push((n & 0x7f) | 0x80);
      }
      const payload = Buffer.concat([Buffer.from([0x0a, ...varint]), Buffer.alloc(size, 0x61)]);
      const result = await rawGrpcCall(collector.grpcAddress, method, grpcFrame(payload), tls);
      assert.equal(result.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED, result.grpcMessage);
      assert.equal(await checkHealth(collector.grpcAddress, tls.caPem), 'SERVING');
    });
  }
});
