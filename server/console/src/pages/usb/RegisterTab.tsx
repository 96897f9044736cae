import { useEffect, useState } from 'react';
import { api, useApi } from '../../api/client';
import { useLanguage, useMessages } from '../../i18n';
import { Button, Dialog, EmptyState, ErrorBanner, Field, formatTime, Table, type Column } from '../../ui';
import { FormProblems, ReasonDialog, useSubmit } from '../shared/components';
import { matchesQuery } from '../shared/forms';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import { deviceId, registerBody, registerPatch, type RegisterEntry, type RegisterForm } from './usb-model';

const FIELDS = ['vendorId', 'productId', 'serial', 'descriptorHash', 'label', 'holder', 'department'];

/** The register of issued sticks: search, and add / edit / retire for administrators. */
export function RegisterTab({ adding, onAddingDone, onAdd }: { adding: boolean; onAddingDone: () => void; onAdd: () => void }) {
  const t = useMessages(messages);
  const { lang } = useLanguage();
  const list = useApi<{ items: RegisterEntry[] }>('/usb-register');
  const [q, setQ] = useState('');
  const [editing, setEditing] = useState<RegisterEntry | null>(null);
  const [retiring, setRetiring] = useState<RegisterEntry | null>(null);
  const rows = (list.data?.items ?? []).filter((entry) => matchesQuery(q, entry.label, entry.holder, entry.department, entry.serial, deviceId(entry)));
  const columns: Column<RegisterEntry>[] = [
    { key: 'label', header: t.col.label, render: (entry) => entry.label },
    { key: 'holder', header: t.col.holder, render: (entry) => entry.holder },
    { key: 'department', header: t.col.department, render: (entry) => entry.department ?? '—' },
    { key: 'device', header: t.col.device, className: 'nowrap', render: (entry) => <code>{deviceId(entry)}</code> },
    { key: 'serial', header: t.col.serial, render: (entry) => <code className="wrap-anywhere">{entry.serial}</code> },
    { key: 'pinned', header: t.col.pinned, render: (entry) => (entry.descriptorHash ? <span title={entry.descriptorHash}>{t.pinned}</span> : <span className="muted">{t.notPinned}</span>) },
    { key: 'updated', header: t.col.updated, className: 'nowrap', render: (entry) => formatTime(entry.updatedAt, lang) },
    {
      key: 'actions',
      header: '',
      className: 'cell-actions',
      render: (entry) => (
        <>
          <Button requires={['admin']} onClick={() => setEditing(entry)} data-testid="usb-register-edit">
            {t.edit}
          </Button>
          <Button variant="danger" requires={['admin']} onClick={() => setRetiring(entry)} data-testid="usb-register-retire">
            {t.retire}
          </Button>
        </>
      ),
    },
  ];
  return (
    <>
      <div className="filters">
        <Field label={t.search}>
          <input type="search" value={q} placeholder={t.searchPlaceholder} onChange={(event) => setQ(event.target.value)} data-testid="usb-register-search" />
        </Field>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data ? (
        <Table
          testId="usb-register"
          columns={columns}
          rows={rows}
          rowKey={(entry) => entry.id}
          rowProps={(entry) => ({ 'data-testid': 'usb-register-row', 'data-entry-id': entry.id })}
          empty={
            q.trim() !== '' ? (
              <EmptyState title={t.emptyRegisterFiltered} testId="usb-register-empty" />
            ) : (
              <EmptyState
                title={t.emptyRegister}
                testId="usb-register-empty"
                action={
                  <Button variant="primary" requires={['admin']} onClick={onAdd}>
                    {t.add}
                  </Button>
                }
              >
                <p>{t.emptyRegisterNext}</p>
              </EmptyState>
            )
          }
        />
      ) : null}
      <RegisterDialog
        entry={adding ? 'new' : editing}
        onClose={() => {
          setEditing(null);
          onAddingDone();
        }}
        onDone={list.reload}
      />
      <ReasonDialog
        open={retiring !== null}
        title={retiring ? t.retireTitle(retiring.label) : ''}
        intro={<p>{t.retireIntro}</p>}
        confirmLabel={t.retire}
        requires={['admin']}
        withReason={false}
        testIdPrefix="usb-register-retire"
        onClose={() => setRetiring(null)}
        onConfirm={async () => {
          await api.send('DELETE', `/usb-register/${retiring!.id}`);
          list.reload();
        }}
      />
    </>
  );
}

const EMPTY: RegisterForm = { vendorId: '', productId: '', serial: '', descriptorHash: '', label: '', holder: '', department: '' };

function RegisterDialog({ entry, onClose, onDone }: { entry: RegisterEntry | 'new' | null; onClose: () => void; onDone: () => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const [form, setForm] = useState<RegisterForm>(EMPTY);
  const [nothingChanged, setNothingChanged] = useState(false);
  const submit = useSubmit(FIELDS);
  useEffect(() => {
    if (entry === null) return;
    submit.reset();
    setNothingChanged(false);
    setForm(
      entry === 'new'
        ? EMPTY
        : { vendorId: entry.vendorId, productId: entry.productId, serial: entry.serial, descriptorHash: entry.descriptorHash ?? '', label: entry.label, holder: entry.holder, department: entry.department ?? '' },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [entry]);
  const set = (key: keyof RegisterForm, value: string) => setForm((current) => ({ ...current, [key]: value }));
  const save = async () => {
    setNothingChanged(false);
    if (entry === null) return;
    if (entry === 'new') {
      const checked = registerBody(form);
      if (!checked.ok) {
        submit.setFieldErrors(Object.fromEntries(checked.problems.map((problem) => [problem.field, t.problems[problem.problem]])));
        return;
      }
      if (await submit.run(async () => void (await api.send('POST', '/usb-register', checked.body)))) {
        onClose();
        onDone();
      }
      return;
    }
    const problems = (['label', 'holder', 'department'] as const).filter((field) => form[field].trim() === '');
    if (problems.length > 0) {
      submit.setFieldErrors(Object.fromEntries(problems.map((field) => [field, t.problems.required])));
      return;
    }
    const patch = registerPatch(entry, form);
    if (patch === null) {
      setNothingChanged(true);
      return;
    }
    if (await submit.run(async () => void (await api.send('PATCH', `/usb-register/${entry.id}`, patch)))) {
      onClose();
      onDone();
    }
  };
  const e = submit.fieldErrors;
  const fixed = entry !== 'new';
  return (
    <Dialog
      open={entry !== null}
      title={entry === 'new' ? t.form.addTitle : entry ? t.form.editTitle(entry.label) : ''}
      onClose={onClose}
      testId="usb-register-form"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={['admin']} busy={submit.busy} onClick={() => void save()} data-testid="usb-register-form-submit">
            {entry === 'new' ? t.form.submitAdd : t.form.submitEdit}
          </Button>
        </>
      }
    >
      <div className="dialog-wide">
        {fixed ? <p className="muted">{t.form.editIntro}</p> : null}
        <FormProblems messages={submit.formMessages} error={submit.error} />
        {nothingChanged ? <p className="notice">{t.form.nothingChanged}</p> : null}
        <div className="form-grid">
          <Field label={t.form.vendorId} hint={fixed ? undefined : t.form.vendorHint} error={e.vendorId}>
            <input type="text" value={form.vendorId} disabled={fixed} onChange={(event) => set('vendorId', event.target.value)} data-testid="usb-register-form-vendor" placeholder="0781" />
          </Field>
          <Field label={t.form.productId} hint={fixed ? undefined : t.form.productHint} error={e.productId}>
            <input type="text" value={form.productId} disabled={fixed} onChange={(event) => set('productId', event.target.value)} data-testid="usb-register-form-product" placeholder="5567" />
          </Field>
          <Field label={t.form.serial} hint={fixed ? undefined : t.form.serialHint} error={e.serial}>
            <input type="text" value={form.serial} disabled={fixed} onChange={(event) => set('serial', event.target.value)} data-testid="usb-register-form-serial" />
          </Field>
          <Field label={t.form.label} error={e.label}>
            <input type="text" value={form.label} onChange={(event) => set('label', event.target.value)} data-testid="usb-register-form-label" />
          </Field>
          <Field label={t.form.holder} error={e.holder}>
            <input type="text" value={form.holder} onChange={(event) => set('holder', event.target.value)} data-testid="usb-register-form-holder" />
          </Field>
          <Field label={t.form.department} error={e.department}>
            <input type="text" value={form.department} onChange={(event) => set('department', event.target.value)} data-testid="usb-register-form-department" />
          </Field>
          <div className="form-wide">
            <Field label={t.form.descriptorHash} hint={fixed ? undefined : t.form.descriptorHint} error={e.descriptorHash}>
              <input type="text" value={form.descriptorHash} disabled={fixed} onChange={(event) => set('descriptorHash', event.target.value)} data-testid="usb-register-form-hash" />
            </Field>
          </div>
        </div>
      </div>
    </Dialog>
  );
}
