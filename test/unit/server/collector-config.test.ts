import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadCollectorConfig } from '../../../server/src/config/collector-config';

const noFile = () => {
  throw new Error('no config file expected');
};

function configError(env: NodeJS.ProcessEnv, readFile: (path: string) => string = noFile): ConfigError {
  try {
    loadCollectorConfig(env, '/srv', readFile);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

test('defaults follow the documented table', () => {
  const sut = loadCollectorConfig({}, '/srv', noFile);
  assert.equal(sut.dataDir, '/srv/mamori-data');
  assert.equal(sut.databaseUrl, undefined);
  assert.equal(sut.grpcAddress, '0.0.0.0:50051');
  assert.equal(sut.httpAddress, '127.0.0.1:8080');
  assert.equal(sut.grpcMaxMessageBytes, 4_194_304);
  assert.equal(sut.heartbeatSeconds, 60);
  assert.equal(sut.agentCertDays, 365);
  assert.equal(sut.logLevel, 'info');
  assert.deepEqual(sut.serverNames.slice(1), ['localhost', '127.0.0.1', '::1']);
});

test('MAMORI_AGENT_CERT_DAYS takes whole days or a short duration for short-lived certificates', () => {
  assert.equal(loadCollectorConfig({ MAMORI_AGENT_CERT_DAYS: '90' }, '/srv', noFile).agentCertDays, 90);
  assert.equal(loadCollectorConfig({ MAMORI_AGENT_CERT_DAYS: '12h' }, '/srv', noFile).agentCertDays, 0.5);
  assert.equal(loadCollectorConfig({ MAMORI_AGENT_CERT_DAYS: '30s' }, '/srv', noFile).agentCertDays * 86_400, 30);
});

test('bad values name the variable', () => {
  assert.equal(configError({ MAMORI_HEARTBEAT_SECONDS: 'soon' }).variable, 'MAMORI_HEARTBEAT_SECONDS');
  assert.equal(configError({ MAMORI_GRPC_ADDRESS: 'localhost' }).variable, 'MAMORI_GRPC_ADDRESS');
  assert.equal(configError({ MAMORI_DATABASE_URL: 'mysql://db/x' }).variable, 'MAMORI_DATABASE_URL');
  assert.equal(configError({ MAMORI_LOG_LEVEL: 'loud' }).variable, 'MAMORI_LOG_LEVEL');
  assert.equal(configError({ MAMORI_TLS_CERT_FILE: 'a.pem' }).variable, 'MAMORI_TLS_KEY_FILE');
  assert.equal(configError({ MAMORI_AGENT_CERT_DAYS: '0' }).message, 'MAMORI_AGENT_CERT_DAYS: must be between 1 and 3650, got 0');
  assert.equal(configError({ MAMORI_AGENT_CERT_DAYS: '10s' }).message, 'MAMORI_AGENT_CERT_DAYS: "10s" must be at least 30s and at most 3650 days');
});

test('a JSON config file is read and the environment wins over it', () => {
  const file = JSON.stringify({ MAMORI_HTTP_ADDRESS: '0.0.0.0:9000', MAMORI_HEARTBEAT_SECONDS: 30, MAMORI_DATABASE_URL: 'postgres://db/mamori' });
  const sut = loadCollectorConfig({ MAMORI_CONFIG: 'mamori.json', MAMORI_HEARTBEAT_SECONDS: '45' }, '/srv', (path) => {
    assert.equal(path, '/srv/mamori.json');
    return file;
  });
  assert.equal(sut.httpAddress, '0.0.0.0:9000');
  assert.equal(sut.heartbeatSeconds, 45);
  assert.equal(sut.databaseUrl, 'postgres://db/mamori');
});

test('a config file with an unknown key or bad JSON is refused naming MAMORI_CONFIG', () => {
  assert.equal(configError({ MAMORI_CONFIG: 'c.json' }, () => '{"MAMORI_PORT": 1}').variable, 'MAMORI_CONFIG');
  assert.equal(configError({ MAMORI_CONFIG: 'c.json' }, () => '{').variable, 'MAMORI_CONFIG');
});
