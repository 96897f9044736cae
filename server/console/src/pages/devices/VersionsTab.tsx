import { useState } from 'react';
import { api, useApi } from '../../api/client';
import { formatBytes } from '../../lib/format';
import { useLanguage, useMessages } from '../../i18n';
import { Button, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { ReasonDialog } from '../shared/components';
import { messages } from './messages';

interface AgentRelease {
  version: string;
  platform: string;
  fileName: string;
  sha256: string;
  sizeBytes: number;
  uploadedBy: string;
  uploadedAt: string;
}

interface FleetAgentVersion {
  agentId: string;
  hostname: string;
  runningVersion: string;
  onTarget: boolean;
}

interface AgentReleases {
  target: { version: string } | null;
  items: AgentRelease[];
  agents: FleetAgentVersion[];
}

/**
 * The fleet's agent versions (GET /agent-releases): the target version with a selector to set or
 * clear it (admin and IT; PUT /agent-releases/target), the stored bundles, and the version each
 * enrolled agent runs against the target.
 */
export function VersionsTab() {
  const t = useMessages(messages).versions;
  const { lang } = useLanguage();
  const releases = useApi<AgentReleases>('/agent-releases');
  const [chosen, setChosen] = useState('');
  const [confirming, setConfirming] = useState<{ version: string | null } | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [uploading, setUploading] = useState(false);
  const [uploadError, setUploadError] = useState<unknown>(null);
  const [uploaded, setUploaded] = useState<AgentRelease | null>(null);

  const upload = async () => {
    if (file === null) return;
    setUploading(true);
    setUploadError(null);
    setUploaded(null);
    try {
      // The collector checks the archive against the name it was built with.
      setUploaded(await api.upload<AgentRelease>(`/agent-releases?fileName=${encodeURIComponent(file.name)}`, file));
      setFile(null);
      releases.reload();
    } catch (error) {
      setUploadError(error);
    } finally {
      setUploading(false);
    }
  };
  const versions = [...new Set((releases.data?.items ?? []).map((release) => release.version))];
  const selected = chosen !== '' ? chosen : (versions[0] ?? '');
  const target = releases.data?.target ?? null;

  const bundleColumns: Column<AgentRelease>[] = [
    { key: 'version', header: t.col.version, render: (release) => release.version },
    { key: 'platform', header: t.col.platform, render: (release) => release.platform },
    { key: 'size', header: t.col.size, className: 'num', render: (release) => formatBytes(release.sizeBytes) },
    { key: 'sha256', header: t.col.sha256, render: (release) => <code title={release.sha256}>{release.sha256.slice(0, 16)}…</code> },
    { key: 'uploaded', header: t.col.uploaded, className: 'nowrap', render: (release) => formatTime(release.uploadedAt, lang) },
    { key: 'by', header: t.col.by, render: (release) => release.uploadedBy },
  ];
  const agentColumns: Column<FleetAgentVersion>[] = [
    { key: 'host', header: t.col.host, render: (agent) => agent.hostname || agent.agentId },
    { key: 'running', header: t.col.running, render: (agent) => agent.runningVersion || <span className="muted">{t.unknown}</span> },
    {
      key: 'state',
      header: t.col.state,
      render: (agent) => <StatusBadge status={agent.onTarget ? 'ok' : 'pending'} label={agent.onTarget ? t.onTarget : t.behind} testId="agent-version-state" />,
    },
  ];

  return (
    <>
      <ErrorBanner error={releases.error} onRetry={releases.reload} />
      {releases.data ? (
        <>
          <section className="panel" data-testid="agent-release-target">
            <h2>{t.target}</h2>
            <p>
              <strong data-testid="agent-release-target-version">{target === null ? t.noTarget : target.version}</strong>
            </p>
            <p className="muted">{t.targetHint}</p>
            {versions.length > 0 ? (
              <div className="form-grid">
                <Field label={t.choose}>
                  <select value={selected} onChange={(event) => setChosen(event.target.value)} data-testid="agent-release-choose">
                    {versions.map((version) => (
                      <option key={version} value={version}>
                        {version}
                      </option>
                    ))}
                  </select>
                </Field>
                <div>
                  <Button variant="primary" requires={['admin', 'it']} disabled={selected === '' || target?.version === selected} onClick={() => setConfirming({ version: selected })} data-testid="agent-release-set">
                    {t.setTarget}
                  </Button>{' '}
                  <Button requires={['admin', 'it']} disabled={target === null} onClick={() => setConfirming({ version: null })} data-testid="agent-release-clear">
                    {t.clearTarget}
                  </Button>
                </div>
              </div>
            ) : null}
          </section>
          <h2>{t.bundles}</h2>
          <section className="panel" data-testid="agent-release-upload">
            <h3>{t.uploadTitle}</h3>
            <p className="muted">{t.uploadHint}</p>
            <div className="form-grid">
              <Field label={t.uploadFile}>
                <input
                  key={uploaded?.sha256 ?? 'none'}
                  type="file"
                  accept=".gz,application/gzip"
                  onChange={(event) => setFile(event.target.files?.[0] ?? null)}
                  data-testid="agent-release-file"
                />
              </Field>
              <div>
                <Button variant="primary" requires={['admin']} disabled={file === null} busy={uploading} onClick={() => void upload()} data-testid="agent-release-upload-button">
                  {uploading ? t.uploading : t.upload}
                </Button>
              </div>
            </div>
            <ErrorBanner error={uploadError} testId="agent-release-upload-error" />
            {uploaded ? (
              <p role="status" data-testid="agent-release-uploaded">
                {t.uploaded(uploaded.version, uploaded.platform)}
              </p>
            ) : null}
          </section>
          <Table
            testId="agent-releases"
            columns={bundleColumns}
            rows={releases.data.items}
            rowKey={(release) => `${release.version}/${release.platform}`}
            rowProps={(release) => ({ 'data-testid': 'agent-release-row', 'data-version': release.version, 'data-platform': release.platform })}
            empty={
              <EmptyState title={t.emptyBundles} testId="agent-releases-empty">
                <p>{t.emptyBundlesNext}</p>
              </EmptyState>
            }
          />
          <h2>{t.agents}</h2>
          <Table
            testId="agent-versions"
            columns={agentColumns}
            rows={releases.data.agents}
            rowKey={(agent) => agent.agentId}
            rowProps={(agent) => ({ 'data-testid': 'agent-version-row', 'data-agent-id': agent.agentId, 'data-on-target': String(agent.onTarget) })}
          />
        </>
      ) : null}
      <ReasonDialog
        open={confirming !== null}
        title={confirming?.version ? t.setTitle(confirming.version) : t.clearTitle}
        intro={<p>{confirming?.version ? t.setIntro : t.clearIntro}</p>}
        confirmLabel={confirming?.version ? t.setTarget : t.clearTarget}
        requires={['admin', 'it']}
        withReason={false}
        testIdPrefix="agent-release-target-change"
        onClose={() => setConfirming(null)}
        onConfirm={async () => {
          await api.send('PUT', '/agent-releases/target', { version: confirming!.version });
          releases.reload();
        }}
      />
    </>
  );
}
