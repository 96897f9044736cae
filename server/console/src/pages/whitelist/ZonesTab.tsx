import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, StatusBadge, Table, type Column } from '../../ui';
import { FormProblems, ReasonDialog, useSubmit } from '../shared/components';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { splitList, ZONE_MODES, type NetworkZone } from './whitelist-model';

/** Network zones: list for every reader, add / edit / delete for administrators. */
export function ZonesTab({ zones, error, reload }: { zones: NetworkZone[] | undefined; error: unknown; reload: () => void }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const [editing, setEditing] = useState<NetworkZone | 'new' | null>(null);
  const [removing, setRemoving] = useState<NetworkZone | null>(null);
  const columns: Column<NetworkZone>[] = [
    { key: 'position', header: t.col.position, className: 'num', render: (zone) => zone.position },
    { key: 'name', header: t.col.name, render: (zone) => <code>{zone.name}</code> },
    { key: 'mode', header: t.col.mode, render: (zone) => <StatusBadge status={zone.mode === 'enforce' ? 'active' : zone.mode === 'audit' ? 'pending' : 'expired'} label={t.zones.modes[zone.mode] ?? zone.mode} /> },
    { key: 'cidrs', header: t.col.cidrs, render: (zone) => <span className="wrap-anywhere">{zone.cidrs.join(', ') || '—'}</span> },
    { key: 'suffixes', header: t.col.suffixes, render: (zone) => <span className="wrap-anywhere">{zone.dnsSuffixes.join(', ') || '—'}</span> },
    { key: 'updated', header: t.col.updated, className: 'nowrap', render: (zone) => formatTime(zone.updatedAt, lang) },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (zone) => (
        <>
          <Button requires={['admin']} onClick={() => setEditing(zone)} data-testid="zone-edit">
            {t.zones.edit}
          </Button>
          <Button variant="danger" requires={['admin']} onClick={() => setRemoving(zone)} data-testid="zone-delete">
            {t.zones.remove}
          </Button>
        </>
      ),
    },
  ];
  return (
    <>
      <div className="button-row">
        <Button variant="primary" requires={['admin']} onClick={() => setEditing('new')} data-testid="zone-add">
          {t.zones.add}
        </Button>
      </div>
      <ErrorBanner error={error} onRetry={reload} />
      {zones ? (
        <Table
          testId="zones"
          columns={columns}
          rows={zones}
          rowKey={(zone) => zone.name}
          rowProps={(zone) => ({ 'data-testid': 'zone-row', 'data-zone': zone.name })}
          empty={
            <EmptyState title={t.zones.emptyTitle} testId="zones-empty">
              <p>{t.zones.emptyNext}</p>
            </EmptyState>
          }
        />
      ) : null}
      <ZoneDialog zone={editing} onClose={() => setEditing(null)} onDone={reload} />
      <ReasonDialog
        open={removing !== null}
        title={removing ? t.zones.removeTitle(removing.name) : ''}
        intro={<p>{t.zones.removeIntro}</p>}
        confirmLabel={t.zones.remove}
        requires={['admin']}
        withReason={false}
        testIdPrefix="zone-delete"
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          await api.send('DELETE', `/zones/${encodeURIComponent(removing!.name)}`);
          reload();
        }}
      />
    </>
  );
}

function ZoneDialog({ zone, onClose, onDone }: { zone: NetworkZone | 'new' | null; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const [name, setName] = useState('');
  const [mode, setMode] = useState('audit');
  const [cidrs, setCidrs] = useState('');
  const [suffixes, setSuffixes] = useState('');
  const [position, setPosition] = useState('');
  const submit = useSubmit(['name', 'mode', 'cidrs', 'dnsSuffixes', 'position']);
  useEffect(() => {
    if (zone === null) return;
    submit.reset();
    if (zone === 'new') {
      setName('');
      setMode('audit');
      setCidrs('');
      setSuffixes('');
      setPosition('');
    } else {
      setName(zone.name);
      setMode(zone.mode);
      setCidrs(zone.cidrs.join('\n'));
      setSuffixes(zone.dnsSuffixes.join('\n'));
      setPosition(String(zone.position));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [zone]);
  const save = async () => {
    const body: Record<string, unknown> = { mode, cidrs: splitList(cidrs), dnsSuffixes: splitList(suffixes) };
    if (position.trim() !== '') {
      const value = Number(position.trim());
      if (!Number.isInteger(value) || value < 0) {
        submit.setFieldErrors({ position: t.zones.positionHint });
        return;
      }
      body.position = value;
    }
    const ok = await submit.run(async () => {
      if (zone === 'new') await api.send('POST', '/zones', { name: name.trim(), ...body });
      else await api.send('PATCH', `/zones/${encodeURIComponent((zone as NetworkZone).name)}`, body);
    });
    if (ok) {
      onClose();
      onDone();
    }
  };
  const e = submit.fieldErrors;
  return (
    <Dialog
      open={zone !== null}
      title={zone === 'new' ? t.zones.addTitle : zone ? t.zones.editTitle(zone.name) : ''}
      onClose={onClose}
      testId="zone-form"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['admin']} busy={submit.busy} onClick={() => void save()} data-testid="zone-form-submit">
            {t.zones.save}
          </Button>
        </>
      }
    >
      <div className="dialog-wide">
        <FormProblems messages={submit.formMessages} error={submit.error} />
        <div className="form-grid">
          <Field label={t.zones.name} hint={t.zones.nameHint} error={e.name}>
            <input type="text" value={name} disabled={zone !== 'new'} onChange={(event) => setName(event.target.value)} data-testid="zone-form-name" />
          </Field>
          <Field label={t.zones.mode} error={e.mode}>
            <select value={mode} onChange={(event) => setMode(event.target.value)} data-testid="zone-form-mode">
              {ZONE_MODES.map((value) => (
                <option key={value} value={value}>
                  {t.zones.modes[value]}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t.zones.cidrs} hint={t.zones.cidrsHint} error={e.cidrs}>
            <textarea rows={4} value={cidrs} onChange={(event) => setCidrs(event.target.value)} data-testid="zone-form-cidrs" />
          </Field>
          <Field label={t.zones.suffixes} hint={t.zones.suffixesHint} error={e.dnsSuffixes}>
            <textarea rows={4} value={suffixes} onChange={(event) => setSuffixes(event.target.value)} data-testid="zone-form-suffixes" />
          </Field>
          <Field label={t.zones.position} hint={t.zones.positionHint} error={e.position}>
            <input type="number" min={0} value={position} onChange={(event) => setPosition(event.target.value)} data-testid="zone-form-position" />
          </Field>
        </div>
      </div>
    </Dialog>
  );
}
