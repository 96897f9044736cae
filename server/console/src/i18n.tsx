import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { preferredLanguage, type Bundle, type Dict, type Lang } from './lib/bundle';

export type { Bundle, Dict, Lang } from './lib/bundle';

const STORAGE_KEY = 'mamori.lang';

interface LanguageState {
  lang: Lang;
  setLang: (lang: Lang) => void;
}

const LanguageContext = createContext<LanguageState | null>(null);

function initialLanguage(): Lang {
  let stored: string | null = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  const browser = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return preferredLanguage(browser, stored);
}

export function LanguageProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLanguage);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = useCallback((next: Lang) => {
    setLangState(next);
    try {
      window.localStorage.setItem(STORAGE_KEY, next);
    } catch {
      // private mode: the switch holds for this tab only
    }
  }, []);
  const value = useMemo(() => ({ lang, setLang }), [lang, setLang]);
  return <LanguageContext.Provider value={value}>{children}</LanguageContext.Provider>;
}

export function useLanguage(): LanguageState {
  const state = useContext(LanguageContext);
  if (!state) throw new Error('useLanguage needs <LanguageProvider> above it');
  return state;
}

/** The current language's half of a page's `messages` bundle. */
export function useMessages<D extends Dict>(bundle: Bundle<D>): D {
  return bundle[useLanguage().lang];
}
