/**
 * /usb — the register of issued USB sticks (holder, department) and the time-boxed exceptions for
 * other devices (CONTROLS.md C7).
 *
 * Test hooks (data-testid):
 *   usb-tab-register | usb-tab-exceptions           the tabs (also ?tab=register|exceptions)
 *   usb-register-add (admin) → usb-register-form, usb-register-form-vendor | -product | -serial | -label |
 *     -holder | -department | -hash | -submit
 *   usb-register-search, usb-register-row (data-entry-id), usb-register-edit, usb-register-retire
 *     → usb-register-retire-dialog, usb-register-retire-confirm
 *   usb-exception-request (admin, it, security) → usb-exception-form, usb-exception-form-vendor | -product |
 *     -serial | -agent | -user | -mode | -start | -end | -justification | -submit
 *   usb-exception-filter, usb-exception-row (data-exception-id, data-status), usb-exception-state
 *   usb-exception-approve → usb-exception-approve-dialog, usb-exception-approve-end, usb-exception-approve-confirm
 *   usb-exception-reject  → usb-exception-reject-dialog, usb-exception-reject-reason, usb-exception-reject-confirm
 *   usb-exception-revoke  → usb-exception-revoke-dialog, usb-exception-revoke-reason, usb-exception-revoke-confirm
 */
import { useState } from 'react';
import { useMessages } from '../../i18n';
import { Button, Page } from '../../ui';
import { Tabs, useTab } from '../shared/components';
import { ExceptionsTab } from './ExceptionsTab';
import { messages } from './messages';
import { RegisterTab } from './RegisterTab';

const TABS = ['register', 'exceptions'] as const;
type Tab = (typeof TABS)[number];

export function UsbPage() {
  const t = useMessages(messages);
  const [tab, setTab] = useTab<Tab>(TABS, 'register');
  const [adding, setAdding] = useState(false);
  const [requesting, setRequesting] = useState(false);
  const add = () => {
    setTab('register');
    setAdding(true);
  };
  const request = () => {
    setTab('exceptions');
    setRequesting(true);
  };
  return (
    <Page
      title={t.title}
      subtitle={t.subtitle}
      testId="usb-page"
      actions={
        <>
          <Button requires={['admin', 'it', 'security']} onClick={request} data-testid="usb-exception-request">
            {t.request}
          </Button>
          <Button variant="primary" requires={['admin']} onClick={add} data-testid="usb-register-add">
            {t.add}
          </Button>
        </>
      }
    >
      <Tabs
        testIdPrefix="usb-tab"
        current={tab}
        onSelect={setTab}
        tabs={[
          { key: 'register', label: t.tabs.register },
          { key: 'exceptions', label: t.tabs.exceptions },
        ]}
      />
      {tab === 'register' ? <RegisterTab adding={adding} onAdd={add} onAddingDone={() => setAdding(false)} /> : null}
      {tab === 'exceptions' ? <ExceptionsTab requesting={requesting} onRequest={request} onRequestDone={() => setRequesting(false)} /> : null}
    </Page>
  );
}
