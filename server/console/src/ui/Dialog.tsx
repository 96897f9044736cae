import { useEffect, useRef, type ReactNode } from 'react';
import { useMessages } from '../i18n';
import { messages } from '../messages';

/** A modal dialog (the native <dialog>): Escape and the close button call onClose. */
export function Dialog({ open, title, onClose, children, actions, testId }: { open: boolean; title: ReactNode; onClose: () => void; children?: ReactNode; actions?: ReactNode; testId?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  const t = useMessages(messages);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      data-testid={testId}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      {open ? (
        <>
          <header className="dialog-header">
            <h2>{title}</h2>
            <button type="button" className="button button-quiet" aria-label={t.close} onClick={onClose}>
              ×
            </button>
          </header>
          <div className="dialog-body">{children}</div>
          {actions ? <footer className="dialog-actions">{actions}</footer> : null}
        </>
      ) : null}
    </dialog>
  );
}
