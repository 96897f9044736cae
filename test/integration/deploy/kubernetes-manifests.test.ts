import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KNOWN_VARIABLES } from '../../../server/src/config/collector-config';
import { REPO_ROOT } from '../../support/processes';

const FOLDER = join(REPO_ROOT, 'deploy/kubernetes');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
}

/** Every Kubernetes object in the folder (kustomization.yaml is kustomize's, not the API's), by file. */
function manifests(): Array<{ file: string; object: Manifest }> {
  const found: Array<{ file: string; object: Manifest }> = [];
  for (const file of readdirSync(FOLDER).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml').sort()) {
    for (const document of parseAllDocuments(readFileSync(join(FOLDER, file), 'utf8'))) {
      assert.deepEqual(document.errors, [], `${file} is valid YAML`);
      const object = document.toJS() as Manifest | null;
      if (object !== null) found.push({ file, object });
    }
  }
  return found;
}

/** The schema-checking model class for an apiVersion and kind (kubernetes-models ships the API's OpenAPI schemas compiled). */
function modelFor(apiVersion: string, kind: string): new (data: unknown) => { validate(): void } {
  const path = apiVersion.includes('/') ? `kubernetes-models/${apiVersion}/${kind}` : `kubernetes-models/v1/${kind}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(path) as Record<string, new (data: unknown) => { validate(): void }>)[kind];
}

test('every manifest passes the Kubernetes API schema', () => {
  const all = manifests();
  assert.ok(all.length >= 9);
  for (const { file, object } of all) {
    const Model = modelFor(object.apiVersion, object.kind);
    assert.ok(Model !== undefined, `${file}: ${object.apiVersion} ${object.kind} is not a Kubernetes kind`);
    assert.doesNotThrow(() => new Model(object).validate(), `${file}: ${object.kind} ${object.metadata.name}`);
  }
  // The validator does catch what it should: a wrong type and a missing required field.
  const Deployment = modelFor('apps/v1', 'Deployment');
  assert.throws(() => new Deployment({ metadata: { name: 'x' }, spec: { replicas: 'two', selector: {}, template: {} } }).validate(), /replicas must be integer/);
  assert.throws(() => new Deployment({ metadata: { name: 'x' }, spec: { replicas: 2, template: {} } }).validate(), /selector/);
});

test('the manifests fit together: two replicas behind the services, shared CA secret, probes, resources, disruption budget', () => {
  const all = manifests().map(({ object }) => object);
  const one = (kind: string, name?: string) => {
    const matches = all.filter((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
    assert.equal(matches.length, 1, `one ${kind} ${name ?? ''}`);
    return matches[0];
  };
  for (const object of all.filter((o) => o.kind !== 'Namespace')) assert.equal(object.metadata.namespace, 'mamori', `${object.kind} ${object.metadata.name} in the namespace`);

  const deployment = one('Deployment');
  const pod = deployment.spec.template;
  const labels = pod.metadata.labels as Record<string, string>;
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value);
  assert.ok(deployment.spec.replicas >= 2);
  assert.ok(selects(deployment.spec.selector.matchLabels));
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);

  const [container] = pod.spec.containers;
  const ports = new Map<string, number>(container.ports.map((port: { name: string; containerPort: number }) => [port.name, port.containerPort]));
  assert.equal(ports.get('http'), 8080);
  assert.equal(ports.get('grpc'), 50051);
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  assert.equal(pod.spec.securityContext.runAsUser, 10001, 'the image user');
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  for (const probe of ['startupProbe', 'readinessProbe']) assert.equal(container[probe].httpGet.path, '/healthz', probe);
  assert.equal(container.livenessProbe.tcpSocket.port, 'grpc', 'liveness does not depend on the database');
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);

  // Settings: every key is a collector variable (or TZ); the CA files are in the mounted Secret.
  const config = one('ConfigMap', 'mamori-collector');
  for (const key of Object.keys(config.data)) assert.ok(key === 'TZ' || (KNOWN_VARIABLES as readonly string[]).includes(key), `${key} is a collector setting`);
  assert.deepEqual(
    container.envFrom.map((source: { configMapRef?: { name: string }; secretRef?: { name: string } }) => source.configMapRef?.name ?? `secret:${source.secretRef?.name}`),
    ['mamori-collector', 'secret:mamori-database'],
  );
  const caSecret = one('Secret', 'mamori-ca');
  const tlsVolume = pod.spec.volumes.find((volume: { name: string }) => volume.name === 'tls');
  assert.equal(tlsVolume.secret.secretName, caSecret.metadata.name);
  const tlsMount = container.volumeMounts.find((mount: { name: string }) => mount.name === 'tls');
  for (const [variable, key] of [['MAMORI_TLS_CA_FILE', 'ca.crt'], ['MAMORI_TLS_CA_KEY_FILE', 'ca.key']]) {
    assert.equal(config.data[variable], `${tlsMount.mountPath}/${key}`);
    assert.ok(key in caSecret.stringData, `the CA Secret holds ${key}`);
  }
  assert.ok('MAMORI_DATABASE_URL' in one('Secret', 'mamori-database').stringData);
  assert.ok(!('MAMORI_DATABASE_URL' in config.data), 'the database URL (with its password) is not in the ConfigMap');

  for (const [name, port] of [['mamori-collector-http', 'http'], ['mamori-collector-grpc', 'grpc']]) {
    const service = one('Service', name);
    assert.ok(selects(service.spec.selector), `${name} selects the collector pods`);
    assert.deepEqual(service.spec.ports.map((p: { targetPort: string }) => p.targetPort), [port]);
  }
  assert.equal(one('Service', 'mamori-collector-grpc').spec.type, 'LoadBalancer');

  const budget = one('PodDisruptionBudget');
  assert.ok(selects(budget.spec.selector.matchLabels));
  assert.ok(budget.spec.minAvailable >= 1 && budget.spec.minAvailable < deployment.spec.replicas, 'a drain can proceed one pod at a time');

  const job = one('Job', 'mamori-migrate');
  assert.deepEqual(job.spec.template.spec.containers[0].args, ['migrate']);
  assert.equal(job.spec.template.spec.containers[0].image, container.image);

  // kustomization.yaml names every manifest but the Secret examples and the migration Job.
  const kustomization = parseAllDocuments(readFileSync(join(FOLDER, 'kustomization.yaml'), 'utf8'))[0].toJS();
  const files = readdirSync(FOLDER).filter((name) => name.endsWith('.yaml') && !['kustomization.yaml', 'secrets.example.yaml', 'migrate-job.yaml'].includes(name));
  assert.deepEqual([...kustomization.resources].sort(), files.sort());
});
