import { useLanguage, useMessages, type Lang } from '../i18n';
import { messages } from '../messages';

/** English / 日本語; the choice is kept in localStorage. */
export function LanguageSwitch() {
  const { lang, setLang } = useLanguage();
  const t = useMessages(messages);
  return (
    <label className="lang-switch">
      <span className="visually-hidden">{t.language}</span>
      <select data-testid="lang-switch" value={lang} onChange={(event) => setLang(event.target.value as Lang)} aria-label={t.language}>
        <option value="en">English</option>
        <option value="ja">日本語</option>
      </select>
    </label>
  );
}
