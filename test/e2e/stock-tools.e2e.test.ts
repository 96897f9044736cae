import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { suiteScope } from '../support/cleanup-scope';
import { REPO_ROOT } from '../support/processes';
import { CollectorUnderTest } from './support/cluster';
import { credentialsFor } from './support/grpc-clients';
import { fetchPresentedCa } from './support/pki';

// Stock tools must be able to talk to the collector without mamori's code: gRPC server
// reflection (what grpcurl uses) lists the services, and the REST API has its OpenAPI document.
describe('what stock tools see', () => {
  const scope = suiteScope();
  let collector: CollectorUnderTest;
  let caPem: string;

  before(async () => {
    const started = await CollectorUnderTest.start(scope, 'sqlite');
    assert.ok(started);
    collector = started;
    caPem = (await fetchPresentedCa(collector.grpcAddress)).pem;
  });
  after(() => scope.cleanup());

  test('server reflection (grpc.reflection.v1) lists the mamori services, health and reflection', async () => {
    const definition = loadSync(join(REPO_ROOT, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'), {
      keepCase: true,
    });
    const Reflection = grpc.loadPackageDefinition(definition).grpc as any;
    const client = new Reflection.reflection.v1.ServerReflection(collector.grpcAddress, credentialsFor(caPem));
    const services = await new Promise<string[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (response: any) => {
        if (response.error_response) reject(new Error(response.error_response.error_message));
        resolve(response.list_services_response.service.map((s: { name: string }) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
    client.close();
    for (const name of ['mamori.v1.EnrollmentService', 'mamori.v1.TelemetryService', 'mamori.v1.PolicyService', 'grpc.health.v1.Health']) {
      assert.ok(services.includes(name), `${name} is listed (got ${services.join(', ')})`);
    }
  });

  test('the OpenAPI document describes the REST API, and the docs page is served', async () => {
    const response = await fetch(`http://127.0.0.1:${collector.httpPort}/api/docs-json`);
    assert.equal(response.status, 200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(document.openapi, /^3\./);
    for (const path of ['/api/v1/violations', '/api/v1/agents', '/api/v1/usb-register', '/api/v1/enrollment-tokens', '/api/v1/events']) {
      assert.ok(path in document.paths, `${path} is documented`);
    }
    const page = await fetch(`http://127.0.0.1:${collector.httpPort}/api/docs`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger/i);
  });

  test('REST refuses a missing or wrong bearer token with 401, and names a bad query parameter with 400', async () => {
    const url = `http://127.0.0.1:${collector.httpPort}/api/v1/violations`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const bad = await collector.rest.request<{ message: unknown }>('GET', '/api/v1/violations?limit=100000');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body.message), /limit/);
  });
});
