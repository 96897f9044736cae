import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import { useMessages } from '../../i18n';
import type { Role } from '../../lib/roles';
import { useSession } from '../../session';
import { Button, Dialog, Field } from '../../ui';
import { ExpiryInput, FormProblems, useSubmit } from '../shared/components';
import { isoToLocalInput, localInputToIso } from '../shared/forms';
import { messages as sharedMessages } from '../shared/messages';
import { messages } from './messages';
import {
  destinationBody,
  emptyDestinationForm,
  entryPatch,
  formOfEntry,
  PROTOCOLS,
  SERVICES,
  type DestinationForm,
  type NetworkZone,
  type WhitelistEntry,
} from './whitelist-model';

const FIELDS = ['hostPattern', 'cidr', 'ports', 'protocol', 'service', 'zone', 'justification', 'expiresAt'];

export type DestinationDialogMode = { kind: 'add' } | { kind: 'edit'; entry: WhitelistEntry } | { kind: 'request' };

/**
 * The one form for a destination: an administrator adding or editing an entry, or anyone with
 * admin, it or security filing a request. The signed-in user is the requester/approver/changer.
 */
export function DestinationDialog({ mode, zones, onClose, onDone }: { mode: DestinationDialogMode | null; zones: NetworkZone[]; onClose: () => void; onDone: (what: 'entry' | 'request') => void }) {
  const t = useMessages(messages);
  const s = useMessages(sharedMessages);
  const session = useSession();
  const [form, setForm] = useState<DestinationForm>(emptyDestinationForm());
  const [nothingChanged, setNothingChanged] = useState(false);
  const submit = useSubmit(FIELDS);

  useEffect(() => {
    if (mode === null) return;
    setForm(mode.kind === 'edit' ? formOfEntry(mode.entry, isoToLocalInput) : emptyDestinationForm());
    setNothingChanged(false);
    submit.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mode]);

  const set = <K extends keyof DestinationForm>(key: K, value: DestinationForm[K]) => setForm((current) => ({ ...current, [key]: value }));
  const requires: readonly Role[] = mode?.kind === 'request' ? ['admin', 'it', 'security'] : ['admin'];

  const send = async () => {
    if (mode === null) return;
    setNothingChanged(false);
    const checked = destinationBody(form, localInputToIso(form.expiresAt), new Date());
    if (!checked.ok) {
      const errors: Record<string, string> = {};
      for (const problem of checked.problems) {
        errors[problem.field] =
          problem.problem === 'badPort' ? t.form.badPort(problem.detail ?? '') : problem.problem === 'expiryInvalid' ? s.expiryInvalid : problem.problem === 'expiryPast' ? s.expiryPast : s.required;
      }
      submit.setFieldErrors(errors);
      return;
    }
    const me = session.user.username;
    if (mode.kind === 'edit') {
      const patch = entryPatch(mode.entry, checked.body, me);
      if (Object.keys(patch).length === 0) {
        setNothingChanged(true);
        return;
      }
      if (await submit.run(async () => void (await api.send('PATCH', `/whitelist/${mode.entry.id}`, patch)))) onDone('entry');
    } else if (mode.kind === 'add') {
      if (await submit.run(async () => void (await api.send('POST', '/whitelist', { ...checked.body, requestedBy: me, approvedBy: me })))) onDone('entry');
    } else {
      if (await submit.run(async () => void (await api.send('POST', '/whitelist/requests', { ...checked.body, requestedBy: me })))) onDone('request');
    }
  };

  const title = mode?.kind === 'edit' ? t.form.editTitle : mode?.kind === 'request' ? t.form.requestTitle : t.form.addTitle;
  const submitLabel = mode?.kind === 'edit' ? t.form.submitEdit : mode?.kind === 'request' ? t.form.submitRequest : t.form.submitAdd;
  const e = submit.fieldErrors;
  return (
    <Dialog
      open={mode !== null}
      title={title}
      onClose={onClose}
      testId="whitelist-form"
      actions={
        <>
          <Button onClick={onClose}>{s.cancel}</Button>
          <Button variant="primary" requires={requires} busy={submit.busy} onClick={() => void send()} data-testid="whitelist-form-submit">
            {submitLabel}
          </Button>
        </>
      }
    >
      <form
        className="dialog-wide"
        onSubmit={(event) => {
          event.preventDefault();
          void send();
        }}
      >
        <p className="muted">{mode?.kind === 'request' ? t.form.requestIntro : mode?.kind === 'add' ? t.form.addIntro : null}</p>
        <FormProblems messages={submit.formMessages} error={submit.error} />
        {nothingChanged ? <p className="notice">{t.form.nothingChanged}</p> : null}
        <div className="radio-row" role="radiogroup" aria-label={t.form.target}>
          <span>{t.form.target}</span>
          <label>
            <input type="radio" name="target" checked={form.targetKind === 'host'} onChange={() => set('targetKind', 'host')} data-testid="whitelist-form-kind-host" />
            {t.form.host}
          </label>
          <label>
            <input type="radio" name="target" checked={form.targetKind === 'cidr'} onChange={() => set('targetKind', 'cidr')} data-testid="whitelist-form-kind-cidr" />
            {t.form.cidr}
          </label>
        </div>
        <div className="form-grid">
          {form.targetKind === 'host' ? (
            <Field label={t.form.hostPattern} hint={t.form.hostHint} error={e.hostPattern}>
              <input type="text" value={form.hostPattern} onChange={(event) => set('hostPattern', event.target.value)} data-testid="whitelist-form-host" autoFocus placeholder="git.example.com" />
            </Field>
          ) : (
            <Field label={t.form.cidrLabel} hint={t.form.cidrHint} error={e.cidr}>
              <input type="text" value={form.cidr} onChange={(event) => set('cidr', event.target.value)} data-testid="whitelist-form-cidr" placeholder="10.30.0.0/16" />
            </Field>
          )}
          <Field label={t.form.ports} hint={t.form.portsHint} error={e.ports}>
            <input type="text" value={form.ports} onChange={(event) => set('ports', event.target.value)} data-testid="whitelist-form-ports" placeholder="443" />
          </Field>
          <Field label={t.form.protocol} error={e.protocol}>
            <select value={form.protocol} onChange={(event) => set('protocol', event.target.value)} data-testid="whitelist-form-protocol">
              {PROTOCOLS.map((protocol) => (
                <option key={protocol} value={protocol}>
                  {protocol}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t.form.service} error={e.service}>
            <select value={form.service} onChange={(event) => set('service', event.target.value)} data-testid="whitelist-form-service">
              {SERVICES.map((service) => (
                <option key={service} value={service}>
                  {service}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t.form.zone} hint={t.form.zoneHint} error={e.zone}>
            <select value={form.zone} onChange={(event) => set('zone', event.target.value)} data-testid="whitelist-form-zone">
              <option value="">{s.everyZone}</option>
              {zones.map((zone) => (
                <option key={zone.name} value={zone.name}>
                  {zone.name}
                </option>
              ))}
              {form.zone !== '' && !zones.some((zone) => zone.name === form.zone) ? <option value={form.zone}>{form.zone}</option> : null}
            </select>
          </Field>
          <Field label={t.form.expiresAt} hint={mode?.kind === 'request' ? t.form.requestExpiresHint : t.form.expiresHint} error={e.expiresAt}>
            <ExpiryInput value={form.expiresAt} onChange={(value) => set('expiresAt', value)} testId="whitelist-form-expires" />
          </Field>
          <div className="form-wide">
            <Field label={t.form.justification} hint={t.form.justificationHint} error={e.justification}>
              <textarea rows={3} value={form.justification} onChange={(event) => set('justification', event.target.value)} data-testid="whitelist-form-justification" />
            </Field>
          </div>
        </div>
        <button type="submit" hidden />
      </form>
    </Dialog>
  );
}
